/** The cache hit from the Python client (cache-hit.py, beside this file). */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeItems, SEEDS } from './items.js';

/** The Python client's interpreter (apt's python3-grpcio lives there, not in the python3 on PATH). */
export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./cache-hit.py', import.meta.url));

export interface PyHit { bytes: { p50: number; p99: number }; sha: { p50: number; p99: number }; floor: { p50: number; p99: number } }

/**
 * The cache hit as a Python trainer sees it (grpcio's C core; grpc-js's
 * client alone costs about half a millisecond more per call here).
 * Null when /usr/bin/python3 has no grpc.
 */
export async function pythonCacheHit(addr: string, seed: number): Promise<PyHit | null> {
  if (spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools']).status !== 0) return null;
  const [it] = await makeItems(seed + SEEDS.pythonCacheHit, 0, 1, 1);
  const dir = await mkdtemp(join(tmpdir(), 'mrm-bench-py-'));
  try {
    await writeFile(join(dir, 'image.png'), it!.images[0]!);
    const r = spawnSync(PYTHON, [SCRIPT, '--addr', addr, '--image', join(dir, 'image.png'),
      '--system', it!.system, '--prompt', it!.prompt, '--response', it!.responses[0]!], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`cache-hit.py failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as PyHit;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
