/**
 * Hot swap without the admin API: a server follows the registry's pointer
 * when someone else moves it (watch, and polling alone), keeps serving and
 * retries with backoff when the new version fails to load, and a load made
 * stale by a newer pointer is discarded.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ActivePointer } from '../../src/model/registry.js';
import { Registry } from '../../src/model/registry.js';
import { emptyBatcherStats } from '../../src/serve/batcher.js';
import { loadVersion, openRegistry } from '../../src/serve/loader.js';
import { silentLogger } from '../../src/serve/log.js';
import { Swapper } from '../../src/serve/swapper.js';
import { VersionSource } from '../../src/serve/version-source.js';
import { type ServedVersion, VersionManager } from '../../src/serve/versions.js';
import { addBrokenVersion, addGoodVersion, BROKEN } from './registry-fixtures.js';
import { startTestServer, testConfig, tinyDir, until, type TestServer } from './helpers.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});
const item = { items: [{ prompt: 'red circle', response: 'yes' }] };

describe('following the pointer', () => {
  it('swaps when another process moves ACTIVE (fs.watch; the poll is a minute away)', async () => {
    t = await startTestServer({ swap: { pollIntervalMs: 60_000 } });
    await addGoodVersion(t.config.stateDir, t.dir, 2);
    await new Registry(t.config.stateDir, 'tiny').activate(2, 'another replica');
    await until(() => t!.server.versions.active?.version === 2, 20_000);
    expect((await t.score(item)).model!.version).toBe(2);
    const s = t.server.stats().swap!;
    expect(s).toMatchObject({ serving: 2, aspired: 2, swaps: 1, lastError: null, lastSwap: { from: 1, to: 2 } });
    expect((t.server.details().source as { watchEvents: number }).watchEvents).toBeGreaterThan(0);
  });

  it('follows by polling alone when the file system sends no events', async () => {
    const dir = await tinyDir();
    try {
      const registry = await openRegistry(testConfig(dir), silentLogger);
      await addGoodVersion(registry.root, dir, 2);
      const seen: ActivePointer[] = [];
      const source = new VersionSource(registry, 50, silentLogger, (p) => seen.push(p), { watch: false });
      await source.start();
      expect(seen.map((p) => p.version)).toEqual([1]);
      await registry.activate(2, 'x');
      await until(() => seen.length === 2, 5000);
      await registry.rollback('y');
      await until(() => seen.length === 3, 5000);
      source.stop();
      expect(seen.map((p) => p.version)).toEqual([1, 2, 1]);
      expect(source.stats).toMatchObject({ watching: false, watchEvents: 0, changes: 3 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a failed load', () => {
  it('keeps the old version serving, retries with backoff, shows the error, and swaps once the bundle is fixed', async () => {
    t = await startTestServer({ swap: { pollIntervalMs: 100, retryInitialMs: 200, retryMaxMs: 800 } });
    const sha = BROKEN.find((b) => b.what === 'a sha256 mismatch')!;
    const dir = await addBrokenVersion(t.config.stateDir, 3, sha.make);
    // The pointer is moved behind the admin API's back (a trainer, an operator with a shell).
    await new Registry(t.config.stateDir, 'tiny').activate(3, 'bad copy');
    await until(() => (t!.server.stats().swap!.lastError?.attempts ?? 0) >= 3, 30_000);
    const s = t.server.stats().swap!;
    expect(s).toMatchObject({ serving: 1, aspired: 3, lastError: { version: 3, kind: 'sha256-mismatch' } });
    expect(s.lastError!.message).toMatch(/sha256 is [0-9a-f]{64}, manifest says/);
    expect((t.server.details().swap as typeof s).lastError!.version).toBe(3);
    expect((await t.score(item)).model!.version).toBe(1);
    // Fix the file (strip the appended byte): the next retry loads it.
    const head = await readFile(join(dir, 'head.onnx'));
    await writeFile(join(dir, 'head.onnx'), head.subarray(0, head.length - 1));
    await until(() => t!.server.versions.active?.version === 3, 30_000);
    expect(t.server.stats().swap).toMatchObject({ serving: 3, lastError: null });
    expect((await t.score(item)).model!.version).toBe(3);
  });

  it('retries at growing intervals up to swap.retryMaxMs', async () => {
    const dir = await tinyDir();
    const config = testConfig(dir);
    const registry = await openRegistry(config, silentLogger);
    const versions = new VersionManager();
    const attempts: number[] = [];
    const failedAt: number[] = [];
    const swapper = new Swapper({
      versions,
      load: async (n) => {
        attempts.push(performance.now());
        try {
          return await loadVersion(registry, n, config, { vision: emptyBatcherStats(), encoder: emptyBatcherStats() }, silentLogger);
        } finally {
          failedAt.push(performance.now());
        }
      },
      retryInitialMs: 100,
      retryMaxMs: 400,
      log: silentLogger,
    });
    try {
      swapper.aspire(7); // no such version: every attempt fails
      await until(() => attempts.length >= 5, 30_000);
      // From a failure to the next attempt: the backoff, 100, 200, 400, 400 (capped).
      const gaps = attempts.slice(1).map((a, i) => a - failedAt[i]!);
      [100, 200, 400, 400].forEach((b, i) => {
        expect(gaps[i]).toBeGreaterThanOrEqual(b - 5);
        expect(gaps[i]).toBeLessThan(b + 300);
      });
      expect(swapper.state().lastError).toMatchObject({ version: 7, attempts: expect.any(Number) });
      expect(swapper.state().lastError!.attempts).toBeGreaterThanOrEqual(4);
    } finally {
      await swapper.stop();
      await versions.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a pointer that moves during a load', () => {
  it('finishes the load, discards it as stale and loads the newest version', async () => {
    const dir = await tinyDir();
    const config = testConfig(dir);
    const registry = await openRegistry(config, silentLogger);
    await addGoodVersion(registry.root, dir, 2);
    await addGoodVersion(registry.root, dir, 3);
    const stats = { vision: emptyBatcherStats(), encoder: emptyBatcherStats() };
    const activated: number[] = [];
    const versions = new (class extends VersionManager {
      override activate(v: ServedVersion) {
        activated.push(v.version);
        return super.activate(v);
      }
    })();
    await versions.activate(await loadVersion(registry, 1, config, stats, silentLogger));
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    const swapper = new Swapper({
      versions,
      load: async (n) => {
        const v = await loadVersion(registry, n, config, stats, silentLogger);
        if (n === 2) await gate;
        return v;
      },
      retryInitialMs: 100,
      retryMaxMs: 100,
      log: silentLogger,
    });
    try {
      swapper.aspire(2);
      await until(() => swapper.state().loading?.version === 2, 10_000);
      swapper.aspire(3);
      open();
      await until(() => versions.active?.version === 3, 30_000);
      expect(activated).toEqual([1, 3]);
      expect(swapper.state()).toMatchObject({ serving: 3, aspired: 3, staleLoads: 1, swaps: 1 });
    } finally {
      await swapper.stop();
      await versions.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
