/**
 * npm run test:crash -- [--rounds 20] [--seed S]
 *
 * Crash safety of the pair log, end to end: a real `mrm serve` process under
 * Compare load (every pair qualifies: --log-band 0.5, rate limit raised) is
 * killed with SIGKILL at a random moment, then restarted on the same state
 * directory; after each restart a reader (one consumer, cursor committed
 * across rounds) must return every record the killed server had reported
 * synced (its last `pairlog.synced` log line before the kill), none twice,
 * none corrupt, every image a returned record names readable, and the
 * restarted server must have cut the torn tail. Calls cycle through 512
 * distinct images, so each process is storing new ones when it is killed.
 *
 * SIGKILL cannot tear a write(2) (the kernel finishes the syscall), so a
 * torn tail, what a power cut leaves, is made by hand: after each kill a
 * random prefix of a valid frame is appended to the killed writer's last
 * segment, and recovery must cut exactly the bytes after the last whole frame.
 *
 * Prints one row per round and the totals; exits 1 if any round failed. The
 * vitest test test/pairlog/crash.test.ts runs a few rounds of the same code.
 */

import type { ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeRecord, frame } from '../src/pairlog/codec.js';
import { PairLogReader } from '../src/pairlog/reader.js';
import { listSegments, scanSegment, segmentsDir } from '../src/pairlog/segments.js';
import { createRewardClient, unary, type CompareRequestMsg, type CompareResponseMsg } from '../src/serve/proto.js';
import { writeTinyBundle } from '../test/fixtures/tiny-bundle.js';
import { png, spawnServer } from '../test/serve/helpers.js';
import { Rng } from '../trainer/shapes/rng.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface RoundResult {
  round: number;
  killAfterMs: number;
  /** Compare calls answered before the kill. */
  calls: number;
  /** Records the killed server reported synced (lastSeq of its last pairlog.synced line). */
  synced: number;
  /** Records synced per second between the first group commit seen and the kill. */
  pairsPerSec: number;
  /** Records of the killed writer the reader returned (synced ones, plus what reached the page cache after). */
  returned: number;
  missing: number;
  duplicates: number;
  corrupt: number;
  /** Images named by returned records that the reader could not read. */
  imagesMissing: number;
  /** Torn bytes at the killed segment's end (the kill's own, plus the injected prefix). */
  tornBytes: number;
  /** Bytes the restarted server logged as cut from that segment. */
  cut: number;
  ok: boolean;
}

type Server = Awaited<ReturnType<typeof spawnServer>>;

/** Seeded draws in [0, 1), so a failing seed can be re-run. */
function rng(seed: number): () => number {
  const r = Rng.fromSeed(seed);
  return () => r.next();
}

const WORDS = ['red', 'blue', 'circle', 'square', 'yes', 'no', '.'];

function start(dir: string): Promise<Server> {
  return spawnServer(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', join(dir, 'state'), '--seed-bundle', join(dir, 'bundle'),
    '--stats-interval-ms', '0', '--log-level', 'debug', '--log-band', '0.5', '--log-rate-per-sec', '1000000', '--log-burst', '1000000', '--log-sync-interval-ms', '50'], { cwd: ROOT });
}

/** Compare calls at `concurrency` until stopped; each call 16 distinct pairs (so dedupe does not hit). */
function load(port: number, images: Buffer[], random: () => number, concurrency = 8): { stop: () => Promise<void>; calls: { ok: number; failed: number; lastError: string } } {
  const client = createRewardClient(`127.0.0.1:${port}`);
  let running = true;
  let n = 0;
  const calls = { ok: 0, failed: 0, lastError: '' };
  const text = () => Array.from({ length: 2 + Math.floor(random() * 4) }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
  const worker = async () => {
    while (running) {
      // A new image every 8 calls: new ones keep coming without making the vision model the bottleneck.
      const img = images[(n >> 7) % images.length]!;
      const pairs = Array.from({ length: 16 }, () => ({ images: [{ data: img }], prompt: `q ${n++}`, responseA: text(), responseB: text() }));
      try {
        await unary<CompareRequestMsg, CompareResponseMsg>(client.compare.bind(client), { pairs }, { deadline: Date.now() + 5000 });
        calls.ok++;
      } catch (err) {
        calls.failed++;
        calls.lastError = (err as Error).message;
        if (running) await new Promise((r) => setTimeout(r, 20)); // the server is gone (killed): stop() follows
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return { calls, stop: async () => { running = false; await Promise.all(workers); client.close(); } };
}

const killed = (p: ChildProcess) => new Promise<void>((r) => { if (p.exitCode !== null || p.signalCode !== null) r(); else p.once('exit', () => r()); });

export async function crashRounds(rounds: number, opts: { seed?: number; onRound?: (r: RoundResult) => void } = {}): Promise<RoundResult[]> {
  const random = rng(opts.seed ?? Date.now());
  const dir = await mkdtemp(join(tmpdir(), 'mrm-crash-'));
  await writeTinyBundle(join(dir, 'bundle'));
  const stateDir = join(dir, 'state');
  const images = await Promise.all(Array.from({ length: 512 }, (_, i) => png(i & 255, 100 + (i >> 8), 7)));
  const seen = new Set<string>();
  const results: RoundResult[] = [];
  let server = await start(dir);
  try {
    for (let round = 1; round <= rounds; round++) {
      const logsFrom = server.logs.length;
      const killAfterMs = Math.round(500 + random() * 2500);
      const l = load(server.port, images, random);
      // The random moment counts from the first group commit: on a loaded
      // machine the first calls and the first fsyncs (images, directories) can
      // take seconds, and a kill before any sync tests nothing.
      const firstSync = performance.now() + 60_000;
      while (!server.logs.slice(logsFrom).some((x) => x.event === 'pairlog.synced') && performance.now() < firstSync) await new Promise((r) => setTimeout(r, 10));
      const t0 = performance.now();
      const seq0 = (server.logs.slice(logsFrom).findLast((x) => x.event === 'pairlog.synced')?.lastSeq as number | undefined) ?? 0;
      await new Promise((r) => setTimeout(r, killAfterMs));
      // What the server has said is durable, as of the kill.
      const syncedLines = server.logs.slice(logsFrom).filter((x) => x.event === 'pairlog.synced');
      const last = syncedLines.at(-1);
      server.proc.kill('SIGKILL');
      await killed(server.proc);
      const elapsed = (performance.now() - t0) / 1000;
      const calls = l.calls.ok;
      await l.stop();
      if (!last) console.error(`round ${round}: no pairlog.synced line before the kill; ${calls} calls ok, last error: ${l.calls.lastError}; log events: ${[...new Set(server.logs.map((x) => x.event))].join(', ')}`);
      const writer = (last?.writer as string | undefined) ?? '';
      const synced = (last?.lastSeq as number | undefined) ?? 0;

      // The killed writer's last segment: its own torn bytes, plus a torn frame as a power cut leaves one.
      const segs = (await listSegments(stateDir)).filter((s) => s.writer === writer);
      const lastSeg = segs.at(-1);
      let tornBytes = 0;
      if (lastSeg) {
        const path = join(segmentsDir(stateDir), lastSeg.file);
        tornBytes = (await scanSegment(path)).tailBytes;
        const f = frame(encodeRecord(999_999, { id: 'torn', time: new Date().toISOString(), source: 'compare', model: 'm', version: 1, encoderSha256: '', images: [], system: '', prompt: '', reference: '',
          a: { response: 'a', reward: 0, heads: [0], spread: 0, features: new Float32Array(4) }, b: { response: 'b', reward: 0, heads: [0], spread: 0, features: new Float32Array(4) }, margin: 0 }));
        const k = 1 + Math.floor(random() * (f.length - 1));
        await appendFile(path, f.subarray(0, k));
        tornBytes += k;
      }

      server = await start(dir);
      const cutLine = server.logs.find((x) => x.event === 'pairlog.tail_cut' && x.file === lastSeg?.file);
      const cut = (cutLine?.bytesCut as number | undefined) ?? 0;

      const reader = await PairLogReader.open(stateDir, 'crash');
      let duplicates = 0;
      let returned = 0;
      let imagesMissing = 0;
      for await (const p of reader.records()) {
        const key = `${p.writer}#${p.seq}`;
        if (seen.has(key)) duplicates++;
        seen.add(key);
        if (p.writer === writer) returned++;
        for (const sha of p.record.images) await reader.image(sha).catch(() => imagesMissing++);
      }
      await reader.commit();
      let missing = 0;
      for (let s = 1; s <= synced; s++) if (!seen.has(`${writer}#${s}`)) missing++;
      const corrupt = reader.stats.corruptBytes + reader.stats.badRecords;
      const pairsPerSec = (synced - seq0) / elapsed;
      const ok = synced > 0 && missing === 0 && duplicates === 0 && corrupt === 0 && imagesMissing === 0 && cut === tornBytes && tornBytes > 0;
      const r = { round, killAfterMs, calls, synced, pairsPerSec, returned, missing, duplicates, corrupt, imagesMissing, tornBytes, cut, ok };
      results.push(r);
      opts.onRound?.(r);
    }
  } finally {
    server.proc.kill('SIGKILL');
    await killed(server.proc);
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

export function table(results: RoundResult[]): string {
  const cols = ['round', 'killAfterMs', 'calls', 'synced', 'pairsPerSec', 'returned', 'missing', 'duplicates', 'corrupt', 'imagesMissing', 'tornBytes', 'cut', 'ok'] as const;
  const fmt = (r: RoundResult, c: (typeof cols)[number]) => (c === 'pairsPerSec' ? r[c].toFixed(0) : String(r[c]));
  const rows = [cols.join('\t'), ...results.map((r) => cols.map((c) => fmt(r, c)).join('\t'))];
  const sum = (k: 'synced' | 'returned' | 'missing' | 'duplicates' | 'corrupt' | 'imagesMissing') => results.reduce((n, r) => n + r[k], 0);
  rows.push(`total: ${results.length} rounds, ${results.filter((r) => r.ok).length} ok; synced ${sum('synced')}, returned ${sum('returned')}, missing ${sum('missing')}, duplicates ${sum('duplicates')}, corrupt ${sum('corrupt')}, images missing ${sum('imagesMissing')}; ` +
    `min pairs/s ${Math.min(...results.map((r) => r.pairsPerSec)).toFixed(0)}`);
  return rows.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, seed: { type: 'string' } } });
  const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 1_000_000;
  console.log(`seed ${seed}`);
  const results = await crashRounds(Number(values.rounds ?? 20), { seed, onRound: (r) => console.error(`round ${r.round}: ${r.ok ? 'ok' : 'FAILED'} (synced ${r.synced}, missing ${r.missing}, cut ${r.cut}/${r.tornBytes})`) });
  console.log(table(results));
  process.exit(results.every((r) => r.ok) ? 0 : 1);

}
