/**
 * Swap under load: an `mrm serve` process scores a steady stream of calls
 * (one item each; the image sent once, then by sha256, so the model is not
 * the bottleneck) while the admin API alternately activates version 2 and
 * rolls back to version 1. Version 2 is the served bundle with other head
 * weights (a head-only version sharing the rest by sha256).
 *
 * Checks: failed calls; every response names a version that was serving at
 * some moment of its call (version v serves from somewhere inside the admin
 * call that switched to it until somewhere inside the call that switched
 * away); p99 latency of calls that overlap a swap window (an admin call and
 * the 500 ms after it, while the old version drains) against the other calls.
 * Used by scripts/bench-swap.ts (30 s, 5 + 5 swaps) and by a short test.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../../src/model/digest.js';
import { MANIFEST_FILE } from '../../src/model/manifest.js';
import { buildHeadOnnx } from '../../src/model/onnx/heads.js';
import { Registry } from '../../src/model/registry.js';
import { createAdminClient } from '../../src/serve/admin-proto.js';
import { createRewardClient, type ScoreRequestMsg, type ScoreResponseMsg, unary } from '../../src/serve/proto.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface SwapBenchOptions {
  /** Bundle to seed version 1 from. */
  model: string;
  seconds: number;
  /** Activations; as many rollbacks follow them, alternating. */
  activations: number;
  rate: number;
  /** One PNG to send with every call. */
  image: Uint8Array;
  /** Per-call deadline (default 10 s): a call slower than this counts as failed. */
  deadlineMs?: number;
  /** Extra `mrm serve` flags. */
  serverFlags?: string[];
}

export interface CallRecord { t0: number; t1: number; version: number; code: number }
export interface AdminRecord { op: 'activate' | 'rollback'; t0: number; t1: number; to: number; ms: number; code: number; details: string }

export interface SwapBenchResult {
  seconds: number;
  rate: { target: number; achieved: number };
  calls: number;
  failed: number;
  failures: Record<string, number>;
  /** Responses naming a version that was not serving during the call. */
  wrongVersion: number;
  byVersion: Record<string, number>;
  swaps: { ok: number; failed: number; adminMs: { p50: number; max: number } };
  latencyMs: { steady: Stats; duringSwaps: Stats };
  p99Ratio: number;
  admin: AdminRecord[];
  serverSwapState: unknown;
}

interface Stats { n: number; p50: number; p99: number; max: number }

/** Writes a head-only version 2 of the seeded model into the registry: new head weights, everything else shared by sha256. */
export async function addHeadVersion(state: string, model: string): Promise<{ name: string; version: number }> {
  const manifest = JSON.parse(await readFile(join(model, MANIFEST_FILE), 'utf8'));
  const registry = new Registry(state, manifest.name);
  await registry.seedIfEmpty(model);
  const d = manifest.io.head.inputs[0].shape[1] as number;
  const k = manifest.io.head.outputs[0].shape[1] as number;
  const head = buildHeadOnnx({ kind: 'linear', d, k, w: Float32Array.from({ length: d * k }, (_, i) => Math.sin(i * 0.37) * 0.2), b: new Float32Array(k) });
  const dir = await mkdtemp(join(tmpdir(), 'mrm-v2-'));
  try {
    await writeFile(join(dir, 'head.onnx'), head);
    const files = Object.fromEntries(Object.entries(manifest.files as Record<string, { sha256: string }>).map(([key, f]) => [key, key === 'head' ? { path: 'head.onnx', sha256: sha256Hex(head) } : { sha256: f.sha256 }]));
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify({ ...manifest, version: 2, parent: manifest.version, files, notes: 'bench-swap: other head weights' }));
    const version = await registry.register(dir, { version: 2 });
    return { name: manifest.name, version };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const stats = (xs: number[]): Stats => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: xs.length ? Math.max(...xs) : NaN });

export async function swapUnderLoad(o: SwapBenchOptions): Promise<SwapBenchResult> {
  const state = await mkdtemp(join(tmpdir(), 'mrm-swap-bench-'));
  const token = `bench-${Math.random().toString(36).slice(2)}`;
  await addHeadVersion(state, o.model);
  const proc = spawn(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', state,
    '--seed-bundle', o.model, '--stats-interval-ms', '0', ...(o.serverFlags ?? [])], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MRM_ADMIN_TOKEN: token } });
  const lines = createInterface({ input: proc.stderr! });
  try {
    const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`mrm serve exited with ${code} before serving`)));
      lines.on('line', (line) => {
        try {
          const rec = JSON.parse(line) as { event: string; port: number; adminPort: number };
          if (rec.event === 'server.serving') resolve(rec);
        } catch { /* not a log line */ }
      });
    });
    const reward = createRewardClient(`127.0.0.1:${ports.port}`);
    const admin = createAdminClient(`127.0.0.1:${ports.adminPort}`, { token });
    try {
      return await drive(o, reward, admin);
    } finally {
      reward.close();
      admin.close();
    }
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    await rm(state, { recursive: true, force: true });
  }
}

async function drive(o: SwapBenchOptions, reward: ReturnType<typeof createRewardClient>, admin: ReturnType<typeof createAdminClient>): Promise<SwapBenchResult> {
  const sha = sha256Hex(o.image);
  const req = (i: number, withData: boolean): ScoreRequestMsg => ({
    items: [{ images: [withData ? { data: o.image } : { sha256: sha }], prompt: 'How many shapes are in the image?', response: `There are ${i % 997} shapes (${i}).` }],
  });
  const score = (r: ScoreRequestMsg) => unary<ScoreRequestMsg, ScoreResponseMsg>(reward.score.bind(reward), r, { deadline: Date.now() + (o.deadlineMs ?? 10_000) });
  // The image once; then warm both connection and caches for a second.
  await score(req(-1, true));
  for (let i = 0; i < 50; i++) await score(req(-2 - i, false));

  const calls: CallRecord[] = [];
  const adminOps: AdminRecord[] = [];
  const start = performance.now();
  // Ends at --seconds, or a second after the last swap if swaps ran late (a slow machine), so every swap is under load.
  let end = start + o.seconds * 1000;
  let issued = 0;
  let swapsDone = false;
  const pending = new Set<Promise<void>>();
  const issue = () => {
    const i = issued++;
    const t0 = performance.now();
    const p = score(req(i, false)).then(
      (res) => { calls.push({ t0, t1: performance.now(), version: res.model?.version ?? 0, code: 0 }); },
      (err: grpc.ServiceError) => { calls.push({ t0, t1: performance.now(), version: 0, code: err.code ?? -1 }); },
    ).finally(() => pending.delete(p));
    pending.add(p);
  };
  const load = new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      if (now >= end && swapsDone) {
        clearInterval(tick);
        resolve();
        return;
      }
      const due = Math.floor(((now - start) / 1000) * o.rate);
      while (issued < due) issue();
    }, 2);
  });
  // Swaps spread over the middle 80% of the run, so steady calls come before, between and after.
  const ops = 2 * o.activations;
  const swapper = (async () => {
    for (let j = 0; j < ops; j++) {
      const at = start + o.seconds * 1000 * (0.1 + (0.8 * (j + 0.5)) / ops);
      await new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));
      const op = j % 2 === 0 ? 'activate' : 'rollback';
      const t0 = performance.now();
      try {
        const res = op === 'activate' ? await admin.call('activate', { version: 2, reason: 'bench-swap' }) : await admin.call('rollback', { reason: 'bench-swap' });
        const t1 = performance.now();
        adminOps.push({ op, t0, t1, to: res.servingVersion, ms: res.ms, code: 0, details: '' });
        // Hold each version until it has answered calls sent after the switch (bounded), so a starved
        // machine cannot turn the run into swaps that no call ever saw.
        const holdUntil = performance.now() + 30_000;
        while (calls.filter((c) => c.t0 > t1 && c.version === res.servingVersion).length < 20 && performance.now() < holdUntil) {
          await new Promise((r) => setTimeout(r, 20));
        }
      } catch (err) {
        const e = err as grpc.ServiceError;
        adminOps.push({ op, t0, t1: performance.now(), to: 0, ms: 0, code: e.code, details: e.details });
      }
    }
  })();
  await swapper.then(() => {
    end = Math.max(end, performance.now() + 1000);
    swapsDone = true;
  });
  await load;
  const seconds = (performance.now() - start) / 1000;
  await Promise.all([...pending]);
  const serverSwapState = JSON.parse((await admin.call('getServerDetails', {})).detailsJson).swap;
  return analyse({ ...o, seconds: Math.round(seconds * 10) / 10 }, calls, adminOps, start, serverSwapState);
}

export function analyse(o: SwapBenchOptions, calls: CallRecord[], ops: AdminRecord[], start: number, serverSwapState: unknown): SwapBenchResult {
  // Serving intervals, widened to the admin calls' bounds: v1 until the first switch's end, and so on.
  const okOps = ops.filter((a) => a.code === 0);
  const intervals: { version: number; from: number; to: number }[] = [];
  let cur = { version: 1, from: -Infinity };
  for (const a of okOps) {
    intervals.push({ ...cur, to: a.t1 });
    cur = { version: a.to, from: a.t0 };
  }
  intervals.push({ ...cur, to: Infinity });
  const servedDuring = (c: CallRecord) => intervals.some((iv) => iv.version === c.version && iv.from <= c.t1 && iv.to >= c.t0);
  const ok = calls.filter((c) => c.code === 0);
  const failures: Record<string, number> = {};
  for (const c of calls) if (c.code !== 0) failures[grpc.status[c.code] ?? String(c.code)] = (failures[grpc.status[c.code] ?? String(c.code)] ?? 0) + 1;
  const byVersion: Record<string, number> = {};
  for (const c of ok) byVersion[`v${c.version}`] = (byVersion[`v${c.version}`] ?? 0) + 1;
  const windows = ops.map((a) => [a.t0, a.t1 + 500] as const);
  const inSwap = (c: CallRecord) => windows.some(([a, b]) => c.t0 <= b && c.t1 >= a);
  const lat = (cs: CallRecord[]) => cs.map((c) => c.t1 - c.t0);
  const steady = stats(lat(ok.filter((c) => !inSwap(c))));
  const during = stats(lat(ok.filter(inSwap)));
  const adminMs = okOps.map((a) => a.t1 - a.t0);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    seconds: o.seconds,
    rate: { target: o.rate, achieved: r2(calls.length / o.seconds) },
    calls: calls.length,
    failed: calls.length - ok.length,
    failures,
    wrongVersion: ok.filter((c) => !servedDuring(c)).length,
    byVersion,
    swaps: { ok: okOps.length, failed: ops.length - okOps.length, adminMs: { p50: r2(pct(adminMs, 50)), max: r2(Math.max(0, ...adminMs)) } },
    latencyMs: { steady: round(steady), duringSwaps: round(during) },
    p99Ratio: r2(during.p99 / steady.p99),
    admin: ops.map((a) => ({ ...a, t0: r2(a.t0 - start), t1: r2(a.t1 - start) })),
    serverSwapState,
  };
}

function round(s: Stats): Stats {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { n: s.n, p50: r(s.p50), p99: r(s.p99), max: r(s.max) };
}

export function table(r: SwapBenchResult): string {
  const rows = [
    ['calls', `${r.calls} in ${r.seconds} s (${r.rate.achieved}/s, target ${r.rate.target}/s)`],
    ['failed calls', `${r.failed} ${JSON.stringify(r.failures)}`],
    ['wrong version', `${r.wrongVersion} (responses by version: ${JSON.stringify(r.byVersion)})`],
    ['swaps', `${r.swaps.ok} ok, ${r.swaps.failed} failed; admin call p50 ${r.swaps.adminMs.p50} ms, max ${r.swaps.adminMs.max} ms`],
    ['steady latency', `n=${r.latencyMs.steady.n} p50 ${r.latencyMs.steady.p50} ms, p99 ${r.latencyMs.steady.p99} ms, max ${r.latencyMs.steady.max} ms`],
    ['during swaps', `n=${r.latencyMs.duringSwaps.n} p50 ${r.latencyMs.duringSwaps.p50} ms, p99 ${r.latencyMs.duringSwaps.p99} ms, max ${r.latencyMs.duringSwaps.max} ms`],
    ['p99 ratio', `${r.p99Ratio} (limit 2)`],
  ];
  return rows.map(([k, v]) => `${k!.padEnd(16)} ${v}`).join('\n');
}
