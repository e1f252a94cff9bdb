/**
 * tsx scripts/pairlog-tmpfs.ts   (as root: it mounts a tmpfs)
 *
 * The pair log on a really full disk: <state>/pairlog is a 1 MiB tmpfs; a
 * server (in this process, real gRPC) answers Compare calls whose pairs all
 * qualify until the log fills the tmpfs and well past it. Prints the calls'
 * statuses, the writer's counters and health, and what a reader gets back.
 * Exits 1 if a call failed or the full disk went unnoticed.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PairLogReader } from '../src/pairlog/reader.js';
import { DEFAULTS } from '../src/serve/config.js';
import { silentLogger } from '../src/serve/log.js';
import { createRewardClient, unary, type CompareRequestMsg, type CompareResponseMsg } from '../src/serve/proto.js';
import { startServer } from '../src/serve/server.js';
import { png, testConfig, tinyDir } from '../test/serve/helpers.js';

const dir = await tinyDir();
const config = testConfig(dir, { log: { ...DEFAULTS.log, band: 0.5, ratePerSec: 1e6, burst: 1e6, syncIntervalMs: 10 } });
const mnt = join(config.stateDir, 'pairlog');
await mkdir(mnt, { recursive: true });
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
let failed = 0;
try {
  const server = await startServer(config, silentLogger);
  await server.ready;
  const client = createRewardClient(`127.0.0.1:${server.port}`);
  const img = await png(9, 99, 199);
  const filler = 'red blue circle square '.repeat(200); // ~4.6 KB per text: ~10 KB a record
  for (let i = 0; i < 300; i++) {
    try {
      await unary<CompareRequestMsg, CompareResponseMsg>(client.compare.bind(client), { pairs: [{ images: [{ data: img }], prompt: `${i} ${filler}`, responseA: 'red', responseB: `blue ${i}` }] });
    } catch (err) {
      failed++;
      console.error(`call ${i} failed: ${(err as Error).message}`);
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  const s = server.stats();
  client.close();
  await server.shutdown('done');
  const w = s.pairlog!.writer;
  console.log(`calls: 300 sent, ${300 - failed} OK, ${failed} failed; rpc statuses ${JSON.stringify(s.rpc.statuses)}`);
  console.log(`writer: appended ${w.appended}, written ${w.written}, synced ${w.syncedRecords}, dropped ${JSON.stringify(w.dropped)}, errors ${w.errors}, last error ${JSON.stringify(w.lastError)}`);
  console.log(`health.pairlog: ${JSON.stringify(s.health.pairlog)}`);
  console.log(execFileSync('df', ['-k', mnt], { encoding: 'utf8' }).trim());
  const reader = await PairLogReader.open(config.stateDir, 'tmpfs-check').catch(() => null);
  let n = 0;
  if (reader) for await (const _ of reader.records()) n++;
  console.log(`reader: ${n} records back, stats ${JSON.stringify(reader?.stats)}`);
  if (failed > 0 || w.lastError?.code !== 'ENOSPC' || s.health.pairlog.status !== 'degraded') process.exitCode = 1;
} finally {
  execFileSync('umount', [mnt]);
  await rm(dir, { recursive: true, force: true });
}
