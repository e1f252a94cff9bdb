/**
 * One of the flood's client processes (scripts/flood.ts starts several, so
 * that the calls reach the server instead of expiring in one process's send
 * queue). It renders its own 128 px ShapesWorld images, says `ready`, then
 * runs the phases its parent writes on stdin, one JSON line each way:
 *
 *   {"phase":"probe","concurrency":C,"ms":T}  closed loop, images of its own
 *   {"phase":"flood"}                         every call at once
 *   {"phase":"exit"}
 *
 * Its calls spread over several connections ('grpc.use_local_subchannel_pool'
 * keeps grpc-js from sharing one), each below the server's streams-per-
 * connection limit, so none waits client-side for a stream.
 *
 *   tsx scripts/flood-client.ts <address> <seed> <floodCalls> <probeImages> <deadlineMs> <deadlineEvery> <callsPerConnection>
 */
import * as grpc from '@grpc/grpc-js';
import { createInterface } from 'node:readline';
import { createRewardClient, type RewardClient, unary } from '../src/serve/proto.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';
import { renderPng } from '../trainer/shapes/raster.js';

const [address, seedArg, floodArg, probeArg, deadlineArg, everyArg, perConnArg] = process.argv.slice(2);
const seed = Number(seedArg);
const floodCalls = Number(floodArg);
const probeImages = Number(probeArg);
const deadlineMs = Number(deadlineArg);
/** Every k-th call carries the deadline (2: half of them); 0: none. */
const deadlineEvery = Number(everyArg);
const perConnection = Number(perConnArg);

const samples = sampleSplit(seed, floodCalls + probeImages);
const images: Buffer[] = [];
for (const s of samples) images.push(await renderPng(s.images[0]!));

const connections = Math.max(1, Math.ceil(floodCalls / perConnection));
const clients: RewardClient[] = Array.from({ length: connections }, (_, i) =>
  createRewardClient(address!, { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_concurrent_streams': perConnection, 'mrm.flood_connection': i } as grpc.ChannelOptions));

/** One Score call with image `i`; its status name and latency. */
const detailsSeen: Record<string, string[]> = {};

async function call(i: number, client: RewardClient, deadline: number | null): Promise<{ code: string; ms: number; pushback: boolean; budgetNamed: boolean; t0: number }> {
  const s = samples[i]!;
  const t0 = performance.now();
  try {
    await unary(client.score.bind(client), { items: [{ images: [{ data: images[i]! }], prompt: s.prompt, response: s.responses[0] }] },
      deadline === null ? {} : { deadline: Date.now() + deadline });
    return { code: 'OK', ms: performance.now() - t0, pushback: false, budgetNamed: false, t0 };
  } catch (err) {
    const e = err as grpc.ServiceError;
    const code = grpc.status[e.code] ?? `CODE_${e.code}`;
    // The first few messages of each unexpected status, to explain it.
    if (code !== 'RESOURCE_EXHAUSTED') {
      const seen = (detailsSeen[code] ??= []);
      if (seen.length < 3 && !seen.includes(e.details)) seen.push(e.details);
    }
    return {
      t0,
      code,
      ms: performance.now() - t0,
      pushback: e.metadata?.get('grpc-retry-pushback-ms').length > 0,
      budgetNamed: /admission\.|deadline/.test(e.details ?? ''),
    };
  }
}

async function probe(concurrency: number, ms: number) {
  const end = performance.now() + ms;
  const okMs: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    while (performance.now() < end) {
      // Probe images come after the flood's, so the flood meets no cached embedding.
      const r = await call(floodCalls + (next++ % probeImages), clients[w % clients.length]!, null);
      statuses[r.code] = (statuses[r.code] ?? 0) + 1;
      if (r.code === 'OK') okMs.push(r.ms);
      // As a well-behaved trainer does: back off instead of spinning on refusals.
      else if (r.code === 'RESOURCE_EXHAUSTED') await new Promise((res) => setTimeout(res, 50));
    }
  }));
  return { okMs, statuses };
}

async function flood() {
  const cpu0 = process.cpuUsage();
  // Per-call times for the timeline: epoch ms of the flood's start, then each call's start offset and latency.
  const startEpochMs = Date.now();
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: floodCalls }, (_, i) => {
    const withDeadline = deadlineEvery > 0 && i % deadlineEvery === 0;
    return call(i, clients[i % connections]!, withDeadline ? deadlineMs : null).then((r) => ({ ...r, withDeadline }));
  }));
  const statuses: Record<string, number> = {};
  const okMs: number[] = [];
  let late = 0;
  let refusedWithoutHint = 0;
  for (const r of results) {
    statuses[r.code] = (statuses[r.code] ?? 0) + 1;
    if (r.code === 'OK') okMs.push(r.ms);
    if (r.withDeadline && r.ms > deadlineMs) late++;
    if (r.code === 'RESOURCE_EXHAUSTED' && !(r.pushback && r.budgetNamed)) refusedWithoutHint++;
  }
  const cpu = process.cpuUsage(cpu0);
  const calls = results.map((r) => [Math.round((r.t0 - start) * 10) / 10, Math.round(r.ms * 10) / 10, r.code]);
  return { statuses, okMs, late, deadlineCalls: results.filter((r) => r.withDeadline).length, refusedWithoutHint, cpuMs: Math.round((cpu.user + cpu.system) / 1000), startEpochMs, calls, details: detailsSeen };
}

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
say({ ready: true, images: images.length, meanBytes: Math.round(images.reduce((a, b) => a + b.length, 0) / images.length) });
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { phase: string; concurrency?: number; ms?: number };
  if (cmd.phase === 'probe') say(await probe(cmd.concurrency!, cmd.ms!));
  else if (cmd.phase === 'flood') say(await flood());
  else break;
}
for (const c of clients) c.close();
process.exit(0);
