/**
 * What a new user sees from the registry on start: which version it serves
 * and why; a seed bundle that was not used says so; a model name that does
 * not match the seed bundle leaves no registry behind.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildHeadOnnx } from '../../src/model/onnx/heads.js';
import { DEFAULTS, type ServeConfig } from '../../src/serve/config.js';
import { openRegistry } from '../../src/serve/loader.js';
import { createLogger } from '../../src/serve/log.js';
import { TINY, TINY_D, writeTinyBundle } from '../fixtures/tiny-bundle.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mrm-seed-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

function capture(): { log: ReturnType<typeof createLogger>; events: Record<string, unknown>[] } {
  const events: Record<string, unknown>[] = [];
  return { log: createLogger({ level: 'debug', sink: (line) => events.push(JSON.parse(line) as Record<string, unknown>) }), events };
}

const config = (o: Partial<ServeConfig>): ServeConfig => ({ ...DEFAULTS, stateDir: join(dir, 'state'), ...o });

describe('openRegistry', () => {
  it('says which version it serves and where it came from', async () => {
    await writeTinyBundle(join(dir, 'a'));
    const { log, events } = capture();
    await openRegistry(config({ seedBundle: join(dir, 'a') }), log);
    expect(events.map((e) => e.event)).toEqual(['registry.seeded', 'registry.active']);
    expect(events[1]).toMatchObject({ model: 'tiny', version: 1, reason: `seeded from ${join(dir, 'a')}` });
  });

  it('warns that a different seed bundle was not used once the registry has versions', async () => {
    await writeTinyBundle(join(dir, 'a'));
    const other = buildHeadOnnx({ kind: 'linear', d: TINY_D, k: TINY.k, w: new Float32Array(TINY_D * TINY.k).fill(0.1), b: new Float32Array(TINY.k) });
    await writeTinyBundle(join(dir, 'b'), { head: other });
    await openRegistry(config({ seedBundle: join(dir, 'a') }), capture().log);

    const same = capture();
    await openRegistry(config({ seedBundle: join(dir, 'a') }), same.log);
    expect(same.events.map((e) => e.event)).toEqual(['registry.active']);

    const { log, events } = capture();
    await openRegistry(config({ seedBundle: join(dir, 'b') }), log);
    const warn = events.find((e) => e.event === 'registry.seed_not_used');
    expect(warn).toMatchObject({ level: 'warn', model: 'tiny', seedBundle: join(dir, 'b'), activeVersion: 1 });
    expect(warn!.message).toMatch(/was not used: registry .* already has versions.*another --state-dir/);
  });

  it('refuses a model name the seed bundle does not have, and writes nothing', async () => {
    await writeTinyBundle(join(dir, 'a'));
    await expect(openRegistry(config({ seedBundle: join(dir, 'a'), model: 'foo' }), capture().log))
      .rejects.toThrow(/model 'foo' has no versions .* the seed bundle .* is model 'tiny', not 'foo'; serve 'tiny' \(leave model unset\)/);
    const left = await readdir(join(dir, 'state')).catch(() => []);
    expect(left).toEqual([]);
  });
});
