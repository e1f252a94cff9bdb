import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/serve/log.js';
import { startBatchSpan, startRpcSpan } from '../../src/telemetry/spans.js';
import { NOOP_TELEMETRY, startTelemetry, type Telemetry } from '../../src/telemetry/telemetry.js';
import { freePort, OtlpReceiver } from './otlp-receiver.js';

describe('telemetry exporters', () => {
  const otlp = new OtlpReceiver();
  let t: Telemetry;
  let promPort: number;

  beforeAll(async () => {
    await otlp.start();
    promPort = await freePort();
    t = await startTelemetry({
      prometheusPort: promPort, prometheusHost: '127.0.0.1', otlpEndpoint: `http://127.0.0.1:${otlp.port}`,
      otlpProtocol: 'http', otlpIntervalMs: 200, traceSampleRatio: 1, serviceName: 'mrm-test',
    }, silentLogger);
  });
  afterAll(async () => {
    await t.shutdown();
    await otlp.stop();
  });

  it('is a no-op when nothing is configured', async () => {
    const off = await startTelemetry({
      prometheusPort: 0, prometheusHost: '127.0.0.1', otlpEndpoint: '', otlpProtocol: 'http', otlpIntervalMs: 1000, traceSampleRatio: 1, serviceName: 'x',
    }, silentLogger);
    expect(off).toBe(NOOP_TELEMETRY);
    expect(startRpcSpan(off, 'mrm.v1.RewardService', 'Score', new grpc.Metadata())).toBeNull();
  });

  it('draws the ratio for a new trace before building a span; a caller\'s trace context decides by its own flag', () => {
    // One Telemetry with the SDK behind it (the API allows one registration a process): only the draw differs.
    const draws = [true, false];
    const at: Telemetry = { ...t, sampleRoot: () => draws.shift()! };
    expect(startRpcSpan(at, 'mrm.v1.RewardService', 'Score', new grpc.Metadata())?.span.isRecording()).toBe(true);
    expect(startRpcSpan(at, 'mrm.v1.RewardService', 'Score', new grpc.Metadata())).toBeNull();
    const never: Telemetry = { ...t, sampleRoot: () => false };
    const md = (flags: string) => {
      const m = new grpc.Metadata();
      m.set('traceparent', `00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-${flags}`);
      return m;
    };
    expect(startRpcSpan(never, 'mrm.v1.RewardService', 'Score', md('01'))).not.toBeNull();
    expect(startRpcSpan(never, 'mrm.v1.RewardService', 'Score', md('00'))).toBeNull();
  });

  it('serves metrics on the Prometheus endpoint as they move', async () => {
    t.metrics.call('Score', 'OK', 3.2);
    t.metrics.call('Score', 'OK', 1.1);
    t.metrics.observe({
      queueDepth: () => [{ stage: 'encoder', depth: 4 }],
      activeVersion: () => ({ model: 'm', version: 3 }),
      cacheLookups: () => [{ cache: 'reward', hits: 5, misses: 1 }],
      pairLog: () => null,
    });
    const text = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
    expect(text).toMatch(/mrm_rpc_calls_total\{[^}]*method="Score"[^}]*status="OK"[^}]*\} 2/);
    expect(text).toMatch(/mrm_cache_lookups_total\{[^}]*cache="reward"[^}]*result="hit"[^}]*\} 5/);
    expect(text).toMatch(/mrm_batch_queue_depth\{[^}]*stage="encoder"[^}]*\} 4/);
    expect(text).toMatch(/mrm_model_active_version\{[^}]*model="m"[^}]*\} 3/);
    t.metrics.call('Score', 'OK', 2);
    const again = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
    expect(again).toMatch(/mrm_rpc_calls_total\{[^}]*method="Score"[^}]*status="OK"[^}]*\} 3/);
  });

  it('continues the caller\'s trace and links batch spans to the calls they served', async () => {
    const md = new grpc.Metadata();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    md.set('traceparent', `00-${traceId}-b7ad6b7169203331-01`);
    const rpc = startRpcSpan(t, 'mrm.v1.RewardService', 'Score', md)!;
    await rpc.child('validate', () => undefined);
    const endBatch = startBatchSpan(t, 'encoder', 3, [rpc.spanContext])!;
    endBatch();
    rpc.end('OK');
    await t.shutdown();
    const byName = new Map(otlp.spans.map((s) => [s.name, s]));
    const call = byName.get('mrm.v1.RewardService/Score')!;
    expect(call.traceId).toBe(traceId);
    expect(call.parentSpanId).toBe('b7ad6b7169203331');
    expect(byName.get('validate')!.parentSpanId).toBe(call.spanId);
    expect(byName.get('encoder batch')!.links?.map((l) => l.spanId)).toEqual([call.spanId]);
    expect(otlp.metricNames.has('mrm.rpc.calls')).toBe(true);
  });
});
