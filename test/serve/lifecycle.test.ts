/**
 * Load shedding and the server's life: full queues, expired deadlines, health,
 * reflection, graceful shutdown, and two versions side by side.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { emptyBatcherStats } from '../../src/serve/batcher.js';
import { loadVersion, openRegistry } from '../../src/serve/loader.js';
import { silentLogger } from '../../src/serve/log.js';
import { HEALTH_PROTO, LOADER_OPTIONS, REWARD_SERVICE, type ScoreResponseMsg } from '../../src/serve/proto.js';
import { writeTinyBundle } from '../fixtures/tiny-bundle.js';
import { failure, png, startTestServer, testConfig, until, type TestServer } from './helpers.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/**
 * Pins the active version like a request still decoding its images: the
 * encoder batcher then expects company and waits its full maxQueueDelayMs,
 * which keeps queued entries in the queue long enough to observe.
 */
const holdQueue = (server: TestServer) => server.server.versions.acquire();

describe('load shedding', () => {
  it('refuses a request that does not fit the queue with RESOURCE_EXHAUSTED, and serves the queued one', async () => {
    t = await startTestServer({ maxItemsPerRequest: 4, encoder: { maxQueueSize: 4, maxQueueDelayMs: 300, maxBatchSize: 64 } });
    const hold = holdQueue(t);
    const first = t.score({ items: ['red', 'blue', 'yes'].map((r) => ({ prompt: 'p', response: r })) });
    await until(() => t!.server.versions.active!.encoder.queued === 3);
    const err = await failure(t.score({ items: ['no', 'circle'].map((r) => ({ prompt: 'p', response: r })) }));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain('queue is full');
    expect((await first).items).toHaveLength(3);
    hold.release();
    expect(t.server.stats().batches.encoder.refused).toBe(1);
  });

  it('drops a request whose deadline passed while queued, without running the model', async () => {
    t = await startTestServer({ encoder: { maxQueueDelayMs: 400 } });
    const hold = holdQueue(t);
    const err = await failure(t.score({ items: [{ prompt: 'p', response: 'red' }] }, { deadline: Date.now() + 100 }));
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until(() => t!.server.stats().batches.encoder.dropped === 1);
    hold.release();
    const s = t.server.stats();
    expect(s.batches.encoder.dropped).toBe(1);
    expect(s.batches.encoder.entries).toBe(0);
    expect(s.scorer.scored).toBe(0);
    // And the server goes on.
    expect((await t.score({ items: [{ prompt: 'p', response: 'blue' }] })).items).toHaveLength(1);
  });

  it('refuses work for a deadline that has already passed on arrival', async () => {
    t = await startTestServer();
    const err = await failure(t.score({ items: [{ prompt: 'p', response: 'red' }] }, { deadline: Date.now() - 1 }));
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(t.server.stats().batches.encoder.entries).toBe(0);
  });
});

function healthClient(address: string) {
  const pkg = protoLoader.loadSync(HEALTH_PROTO, LOADER_OPTIONS);
  const Health = grpc.loadPackageDefinition(pkg).grpc as unknown as { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  return new Health.health.v1.Health(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    check(req: { service: string }, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
  };
}

const checkHealth = (c: ReturnType<typeof healthClient>, service: string) =>
  new Promise<string>((resolve, reject) => c.check({ service }, (e, r) => (e ? reject(e) : resolve(r!.status))));

describe('health and reflection', () => {
  it('is NOT_SERVING until the model is loaded and warmed up, then SERVING', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    t = await startTestServer({}, {
      wait: false,
      load: async (stats) => {
        await gate;
        const config = testConfig(t!.dir);
        return loadVersion(await openRegistry(config, silentLogger), 1, config, stats, silentLogger);
      },
    });
    const h = healthClient(t.address);
    expect(await checkHealth(h, '')).toBe('NOT_SERVING');
    expect(await checkHealth(h, REWARD_SERVICE)).toBe('NOT_SERVING');
    const early = await failure(t.score({ items: [{ prompt: 'p', response: 'red' }] }));
    expect(early.code).toBe(grpc.status.UNAVAILABLE);
    release();
    await t.server.ready;
    expect(await checkHealth(h, '')).toBe('SERVING');
    expect(await checkHealth(h, REWARD_SERVICE)).toBe('SERVING');
    h.close();
  });

  it('lists every service through server reflection and describes the reward API', async () => {
    t = await startTestServer();
    const reflectionProto = fileURLToPath(new URL('../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url));
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, LOADER_OPTIONS)) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    type Reply = { listServicesResponse?: { service: { name: string }[] }; fileDescriptorResponse?: { fileDescriptorProto: Buffer[] } };
    const client = new pkg.grpc.reflection.v1.ServerReflection(t.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      serverReflectionInfo(): grpc.ClientDuplexStream<object, Reply>;
    };
    const call = client.serverReflectionInfo();
    const replies: Reply[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: Reply) => replies.push(r));
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ listServices: '' });
    call.write({ fileContainingSymbol: REWARD_SERVICE });
    call.end();
    await done;
    client.close();
    expect(replies[0]!.listServicesResponse!.service.map((s) => s.name).sort()).toEqual(
      ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection', REWARD_SERVICE]);
    const files = replies[1]!.fileDescriptorResponse!.fileDescriptorProto.map((b) => b.toString('latin1'));
    // A file descriptor of package mrm.v1 that declares the service's methods (grpcurl describe needs this).
    expect(files.some((f) => f.includes('mrm.v1') && f.includes('ScoreStream') && f.includes('Compare'))).toBe(true);
  });
});

describe('shutdown', () => {
  it('finishes an in-flight request, then refuses new ones and releases the model', async () => {
    t = await startTestServer({ encoder: { maxQueueDelayMs: 300 } });
    const v = t.server.versions.active!;
    const hold = holdQueue(t);
    const inFlight = t.score({ items: [{ images: [{ data: await png(9, 9, 9) }], prompt: 'p', response: 'red' }] });
    await until(() => v.encoder.queued === 1);
    const stopped = t.server.shutdown('test');
    const res = await inFlight;
    expect(res.items).toHaveLength(1);
    hold.release();
    await stopped;
    expect(v.pinned).toBe(0);
    const after = await failure(t.score({ items: [{ prompt: 'p', response: 'red' }] }, { deadline: Date.now() + 1000 }));
    expect(after.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('shutdown of a stream', () => {
  it('answers the requests it has, refuses new ones with UNAVAILABLE, then ends the stream with OK', async () => {
    t = await startTestServer({ encoder: { maxQueueDelayMs: 300 } });
    const hold = holdQueue(t);
    const call = t.client.scoreStream(new grpc.Metadata(), {});
    const got: ScoreResponseMsg[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (r: ScoreResponseMsg) => got.push(r));
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write({ requestId: 'before', items: [{ prompt: 'p', response: 'red' }] });
    await until(() => t!.server.versions.active!.encoder.queued === 1);
    const stopped = t.server.shutdown('test');
    call.write({ requestId: 'after', items: [{ prompt: 'p', response: 'blue' }] });
    await ended; // the server ended the stream; the client never half-closed
    hold.release(); // shutdown waits for every pinned request, this one too
    await stopped;
    const byId = Object.fromEntries(got.map((r) => [r.requestId, r]));
    expect(byId.before?.items).toHaveLength(1);
    // 'before' is still queued (300 ms batch delay) when 'after' arrives, so the stream is still open for it.
    expect(byId.after?.error?.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('versions', () => {
  it('scores a request entirely on the version it pinned while a new version is activated', async () => {
    t = await startTestServer({ encoder: { maxQueueDelayMs: 200 } });
    // Version 2: same stages, a different head.
    const registry = await openRegistry(t.config, silentLogger);
    await writeTinyBundle(join(t.dir, 'bundle2'), { version: 2, calibration: { mean: 1, std: 2, referenceSet: 'x', n: 1 } });
    await registry.register(join(t.dir, 'bundle2'), { version: 2 });
    const v2 = await loadVersion(registry, 2, t.config, { vision: emptyBatcherStats(), encoder: emptyBatcherStats() }, silentLogger);
    const v1 = t.server.versions.active!;

    const items = [{ images: [{ data: await png(50, 60, 70) }], prompt: 'p', response: 'red circle' }, { prompt: 'q', response: 'blue' }];
    const hold = holdQueue(t);
    const pinnedToV1 = t.score({ items, groups: [{ prompt: 'g', responses: ['yes', 'no'] }] });
    await until(() => v1.encoder.queued === 4);
    // Version 1's request is still waiting for its encoder batch when version 2 takes over.
    const v1Released = t.server.versions.activate(v2);
    const onV2 = await t.score({ items });
    const onV1 = await pinnedToV1;
    hold.release();
    expect(onV1.model).toEqual({ name: 'tiny', version: 1 });
    expect(onV2.model).toEqual({ name: 'tiny', version: 2 });
    // Every result of the pinned request is on version 1's scale (mean 0, std 1).
    for (const r of [...onV1.items, ...onV1.groups[0]!.responses]) expect(r.normalizedReward).toBeCloseTo(r.reward, 5);
    // Same head weights, different calibration: same raw reward, version 2's normalization.
    expect(onV2.items[0]!.reward).toBeCloseTo(onV1.items[0]!.reward, 5);
    expect(onV2.items[0]!.normalizedReward).toBeCloseTo((onV1.items[0]!.reward - 1) / 2, 5);
    // The reward cache is per version: version 2 computed its own.
    expect(onV2.items[0]!.cached).toBe(false);
    await v1Released;
    expect(v1.pinned).toBe(0);
  });
});
