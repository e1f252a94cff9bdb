/**
 * The issue-12 flood: N concurrent Score calls, each with its own 128 px
 * ShapesWorld image, against a running server (`npm start`); optionally half
 * with a 5 s deadline. Reports the server's peak RSS (/proc/<pid>/status
 * VmHWM, so start a fresh server per run), status counts, whether every call
 * answered within its deadline, p99 of the calls admitted, and a good call
 * right after. The server's after-deadline model runs and decoded-then-dropped
 * counts are in its `server.stats` log line (admission.ranAfterDeadline,
 * admission.droppedAfterDecode).
 *
 *   npm run flood -- --address 127.0.0.1:50051 --pid <server pid> [--n 10000] [--half-deadline]
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRewardClient, unary } from '../src/serve/proto.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';
import { renderPng } from '../trainer/shapes/raster.js';

const { values } = parseArgs({ options: {
  address: { type: 'string', default: '127.0.0.1:50051' },
  pid: { type: 'string' },
  n: { type: 'string', default: '10000' },
  'half-deadline': { type: 'boolean', default: false },
  'deadline-ms': { type: 'string', default: '5000' },
} });
const n = Number(values.n);
const deadlineMs = Number(values['deadline-ms']);
const hwm = () => {
  if (!values.pid) return NaN;
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${values.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

const samples = sampleSplit(12, n);
const images: Buffer[] = [];
for (const s of samples) images.push(await renderPng(s.images[0]!));
process.stderr.write(`rendered ${n} images (${Math.round(images.reduce((a, b) => a + b.length, 0) / n)} bytes each on average)\n`);

const client = createRewardClient(values.address!, { 'grpc.max_concurrent_streams': 1e6 } as grpc.ChannelOptions);
const counts: Record<string, number> = {};
const okMs: number[] = [];
let late = 0;
const t0 = performance.now();
await Promise.all(samples.map(async (s, i) => {
  const withDeadline = values['half-deadline'] && i % 2 === 0;
  const start = performance.now();
  let code = 'OK';
  try {
    await unary(client.score.bind(client), { items: [{ images: [{ data: images[i]! }], prompt: s.prompt, response: s.responses[0] }] },
      withDeadline ? { deadline: Date.now() + deadlineMs } : {});
  } catch (err) {
    code = grpc.status[(err as grpc.ServiceError).code] ?? 'UNKNOWN';
  }
  const ms = performance.now() - start;
  counts[code] = (counts[code] ?? 0) + 1;
  if (code === 'OK') okMs.push(ms);
  if (withDeadline && ms > deadlineMs + 50) late++;
}));
const wall = performance.now() - t0;
okMs.sort((a, b) => a - b);
const p = (q: number) => (okMs.length ? Math.round(okMs[Math.min(okMs.length - 1, Math.floor(q * okMs.length))]!) : NaN);
let after = 'failed';
try {
  await unary(client.score.bind(client), { items: [{ images: [{ data: images[0]! }], prompt: 'p', response: 'a good call after the flood' }] }, { deadline: Date.now() + 10_000 });
  after = 'OK';
} catch (err) {
  after = (err as grpc.ServiceError).details;
}
const report = { calls: n, halfDeadline: values['half-deadline'], wallMs: Math.round(wall), statuses: counts, admittedP50Ms: p(0.5), admittedP99Ms: p(0.99), answeredAfterDeadline: late, serverPeakRssMiB: Math.round(hwm()), goodCallAfter: after };
console.log(JSON.stringify(report, null, 2));
client.close();
