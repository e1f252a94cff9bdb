/**
 * The admin API over real gRPC on loopback: auth, listing, activate and
 * rollback with the reward service following, every kind of broken bundle
 * refused without changing anything, LogStats, and the token kept out of logs.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/model/registry.js';
import { DEFAULTS } from '../../src/serve/config.js';
import { createAdminClient, type AdminClient } from '../../src/serve/admin-proto.js';
import { ConfigError } from '../../src/serve/config.js';
import { createLogger } from '../../src/serve/log.js';
import { startServer } from '../../src/serve/server.js';
import { addBrokenVersion, addGoodVersion, BROKEN } from './registry-fixtures.js';
import { failure, startTestServer, testConfig, tinyDir, type TestServer } from './helpers.js';

const TOKEN = 'admin-test-token-0123456789';
let t: TestServer;
let admin: AdminClient;
let registry: Registry;
const item = { items: [{ prompt: 'red circle', response: 'yes' }] };

beforeAll(async () => {
  t = await startTestServer({ admin: { token: TOKEN }, swap: { pollIntervalMs: 100, retryInitialMs: 50, retryMaxMs: 400 } });
  registry = new Registry(t.config.stateDir, 'tiny');
  await addGoodVersion(t.config.stateDir, t.dir, 2);
  admin = createAdminClient(`127.0.0.1:${t.server.adminPort}`, { token: TOKEN });
});

afterAll(async () => {
  admin.close();
  await t.close();
});

describe('auth', () => {
  it('answers UNAUTHENTICATED without a token and PERMISSION_DENIED with a wrong one, and changes nothing', async () => {
    const before = await readFile(registry.activeFile, 'utf8');
    for (const [token, code] of [[undefined, grpc.status.UNAUTHENTICATED], ['wrong-token', grpc.status.PERMISSION_DENIED], [TOKEN.slice(0, -1), grpc.status.PERMISSION_DENIED]] as const) {
      const c = createAdminClient(`127.0.0.1:${t.server.adminPort}`, token === undefined ? {} : { token });
      try {
        expect((await failure(c.call('listModels', {}))).code).toBe(code);
        expect((await failure(c.call('activate', { version: 2 }))).code).toBe(code);
      } finally {
        c.close();
      }
    }
    expect(await readFile(registry.activeFile, 'utf8')).toBe(before);
  });

  it('refuses to start with a non-loopback admin host and no token', async () => {
    const dir = await tinyDir();
    try {
      const err = await startServer(testConfig(dir, { admin: { ...testConfig(dir).admin, host: '0.0.0.0' } }), createLogger({ sink: () => undefined })).then(() => null, (e: Error) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err!.message).toMatch(/admin\.host .*non-loopback address 0\.0\.0\.0 without a token/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('versions', () => {
  it('refuses Rollback while the seeded version has no previous one', async () => {
    const err = await failure(admin.call('rollback', {}));
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/active version 1 has no previous version/);
  });

  it('lists the versions, the pointer and what this server serves', async () => {
    const res = await admin.call('listModels', {});
    expect(res.model).toBe('tiny');
    expect(res.versions.map((v) => [v.version, v.active, v.serving])).toEqual([[1, true, true], [2, false, false]]);
    expect(res.active).toMatchObject({ version: 1, previous: 0 });
    expect(res.servingVersion).toBe(1);
    expect(res.swap).toMatchObject({ aspiredVersion: 1, lastError: null });
    const one = await admin.call('getModel', { version: 2 });
    expect(JSON.parse(one.manifestJson)).toMatchObject({ name: 'tiny', version: 2 });
  });

  it('activates a version: answers once this server serves it, and Score names it', async () => {
    const r1 = (await t.score(item)).items[0]!.reward;
    const res = await admin.call('activate', { version: 2, reason: 'test' });
    expect(res).toMatchObject({ model: 'tiny', servingVersion: 2, previousVersion: 1, changed: true });
    const after = await t.score(item);
    expect(after.model).toEqual({ name: 'tiny', version: 2 });
    expect(after.items[0]!.reward).not.toBeCloseTo(r1, 4);
    expect(await registry.active()).toMatchObject({ version: 2, previous: 1, reason: 'test' });
    expect((await admin.call('getModel', {})).summary).toMatchObject({ version: 2, active: true, serving: true });
    // Again: nothing to do.
    expect(await admin.call('activate', { version: 2 })).toMatchObject({ servingVersion: 2, changed: false });
  });

  it('rolls back to the previous version, and rolling back again returns', async () => {
    expect(await admin.call('rollback', { reason: 'bad metrics' })).toMatchObject({ servingVersion: 1, previousVersion: 2, changed: true });
    expect((await t.score(item)).model!.version).toBe(1);
    expect(await admin.call('rollback', {})).toMatchObject({ servingVersion: 2, previousVersion: 1 });
    expect(await admin.call('rollback', {})).toMatchObject({ servingVersion: 1, previousVersion: 2 });
  });

  it('answers NOT_FOUND for an unknown version and INVALID_ARGUMENT for a malformed one', async () => {
    const nf = await failure(admin.call('activate', { version: 99 }));
    expect(nf.code).toBe(grpc.status.NOT_FOUND);
    expect(nf.details).toMatch(/no version 99/);
    expect((await failure(admin.call('getModel', { version: 99 }))).code).toBe(grpc.status.NOT_FOUND);
    const bad = await failure(admin.call('activate', { version: -3 }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/version: expected an integer >= 1, got -3/);
  });
});

describe('wire-level input', () => {
  it('answers bytes that are not an ActivateRequest with INVALID_ARGUMENT naming the type, after auth; nothing changes', async () => {
    const before = await readFile(registry.activeFile, 'utf8');
    // Field 1 (version) as a length-delimited field running past the end.
    const garbage = Buffer.from([0x0a, 0x7f, 0x01]);
    const send = (md: grpc.Metadata) => new Promise<grpc.ServiceError>((resolve, reject) => {
      const c = new grpc.Client(`127.0.0.1:${t.server.adminPort}`, grpc.credentials.createInsecure());
      c.makeUnaryRequest('/mrm.v1.AdminService/Activate', (b: Buffer) => b, (b: Buffer) => b, garbage, md, (e) => {
        c.close();
        if (e) resolve(e);
        else reject(new Error('expected a failure'));
      });
    });
    const withToken = new grpc.Metadata();
    withToken.set('authorization', `Bearer ${TOKEN}`);
    const bad = await send(withToken);
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/^request: not a valid mrm\.v1\.ActivateRequest message \(protobuf: .+\)$/);
    expect((await send(new grpc.Metadata())).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await readFile(registry.activeFile, 'utf8')).toBe(before);
  });
});

describe('broken bundles through Activate', () => {
  BROKEN.forEach(({ what, reason, make }, i) => {
    it(`refuses ${what} with FAILED_PRECONDITION naming the reason; the old version keeps serving`, async () => {
      const n = 10 + i;
      await addBrokenVersion(t.config.stateDir, n, make);
      const pointer = await readFile(registry.activeFile, 'utf8');
      const serving = t.server.versions.active!.version;
      const err = await failure(admin.call('activate', { version: n }));
      expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(err.details).toMatch(new RegExp(`version ${n} cannot be served, the active version is unchanged`));
      expect(err.details).toMatch(reason);
      expect(await readFile(registry.activeFile, 'utf8')).toBe(pointer);
      expect((await t.score(item)).model!.version).toBe(serving);
      expect(t.server.stats().swap).toMatchObject({ serving, aspired: serving, lastError: null });
    });
  });
});

describe('LogStats and details', () => {
  it('says logging is off when log.enabled is false', async () => {
    const s = await startTestServer({ log: { ...DEFAULTS.log, enabled: false } });
    const c = createAdminClient(`127.0.0.1:${s.server.adminPort}`);
    try {
      expect(await c.call('logStats', {})).toEqual({ enabled: false, statsJson: '' });
    } finally {
      c.close();
      await s.close();
    }
  });

  it("answers with the server's own pair log when logging is on", async () => {
    const res = await admin.call('logStats', {});
    expect(res.enabled).toBe(true);
    expect(JSON.parse(res.statsJson)).toHaveProperty('writer');
  });

  it('returns the injected pair-log stats as JSON', async () => {
    const stats = { records: 12, synced: 10, errors: { write: 0 } };
    const s = await startTestServer({}, { logStats: () => stats });
    const c = createAdminClient(`127.0.0.1:${s.server.adminPort}`);
    try {
      const res = await c.call('logStats', {});
      expect(res.enabled).toBe(true);
      expect(JSON.parse(res.statsJson)).toEqual(stats);
    } finally {
      c.close();
      await s.close();
    }
  });

  it('serves the health details (swap state) as JSON', async () => {
    const res = JSON.parse((await admin.call('getServerDetails', {})).detailsJson);
    expect(res.swap).toMatchObject({ serving: t.server.versions.active!.version, lastError: null });
    expect(res.source.checks).toBeGreaterThan(0);
  });
});

describe('the token stays secret', () => {
  it('never appears in a log line, with right or wrong tokens, across activation and rollback', async () => {
    const lines: string[] = [];
    const dir = await tinyDir();
    const config = testConfig(dir, { admin: { ...testConfig(dir).admin, token: TOKEN } });
    const server = await startServer(config, createLogger({ level: 'debug', sink: (l) => lines.push(l) }));
    await server.ready;
    await addGoodVersion(config.stateDir, dir, 2);
    const good = createAdminClient(`127.0.0.1:${server.adminPort}`, { token: TOKEN });
    const wrong = createAdminClient(`127.0.0.1:${server.adminPort}`, { token: `${TOKEN}x` });
    try {
      await good.call('activate', { version: 2 });
      await good.call('rollback', {});
      await failure(wrong.call('listModels', {}));
      await failure(good.call('activate', { version: 42 }));
    } finally {
      good.close();
      wrong.close();
      await server.shutdown('test');
      await rm(dir, { recursive: true, force: true });
    }
    expect(lines.some((l) => l.includes('"admin.call"') && l.includes('PERMISSION_DENIED'))).toBe(true);
    expect(lines.some((l) => l.includes('"swap.done"'))).toBe(true);
    expect(lines.filter((l) => l.includes(TOKEN))).toEqual([]);
  });
});
