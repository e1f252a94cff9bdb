/** Records, raw segments and a log sink for the pair log tests. */
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord, frame, SEGMENT_HEADER } from '../../src/pairlog/codec.js';
import type { PairRecord } from '../../src/pairlog/record.js';
import { segmentFile, segmentsDir } from '../../src/pairlog/segments.js';
import { createLogger, type Logger } from '../../src/serve/log.js';

export const SHA = (c: string) => c.repeat(64).slice(0, 64);

export function record(i: number, o: Partial<PairRecord> = {}): PairRecord {
  return {
    id: `id-${i}`, time: new Date(1_700_000_000_000 + i).toISOString(), source: i % 2 ? 'group' : 'compare', model: 'm', version: 3,
    encoderSha256: SHA('e'), images: [SHA('a')], system: 'sys', prompt: `prompt ${i} ✓`, reference: '',
    a: { response: `a${i}`, reward: 0.25 + i, heads: [0.1, 0.4], spread: 0.15, features: Float32Array.from([i, 1.5, -2]) },
    b: { response: `b${i}`, reward: 0.5, heads: [0.6, 0.4], spread: 0.1, features: Float32Array.from([3, Math.PI, 1e-7]) },
    margin: i - 0.25,
    ...o,
  };
}

export async function tempState(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mrm-pairlog-'));
  await mkdir(segmentsDir(dir), { recursive: true });
  return dir;
}

/** A segment as a crashed writer leaves it: header, frames of records seq 1..n, then `tail` bytes. */
export async function rawSegment(stateDir: string, w: { host: string; pid: number; startTime: number; seq?: number }, n: number, tail: Uint8Array = new Uint8Array(0)): Promise<{ file: string; path: string; goodEnd: number; bytes: Uint8Array }> {
  const frames = Array.from({ length: n }, (_, i) => frame(encodeRecord(i + 1, record(i + 1))));
  const parts = [SEGMENT_HEADER, ...frames];
  const goodEnd = parts.reduce((s, p) => s + p.length, 0);
  const bytes = Buffer.concat([...parts, tail]);
  const file = segmentFile(w.host, w.pid, w.startTime, w.seq ?? 1);
  const path = join(segmentsDir(stateDir), file);
  await writeFile(path, bytes);
  return { file, path, goodEnd, bytes };
}

/** A logger that keeps its lines. */
export function memoryLogger(level: 'debug' | 'info' = 'debug'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: createLogger({ level, sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

/** A pid no process has (pid_max is at most 2^22 on Linux). */
export const DEAD_PID = 4_194_303 + 1000;
