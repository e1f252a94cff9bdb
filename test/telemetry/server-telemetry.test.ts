/**
 * Telemetry of a real server: the span tree of one Score call as a collector
 * receives it over OTLP/HTTP, the caller's trace continued from metadata, and
 * metrics read from the Prometheus endpoint as calls and swaps happen.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from '../../src/model/registry.js';
import { roundsDir, ROUND_FILE, type RoundState, type StepRecord } from '../../src/rounds/folder.js';
import type { ScoreResponseMsg } from '../../src/serve/proto.js';
import { addGoodVersion } from '../serve/registry-fixtures.js';
import { png, startTestServer, until, type TestServer } from '../serve/helpers.js';
import { freePort, OtlpReceiver } from './otlp-receiver.js';

let t: TestServer | undefined;
let otlp: OtlpReceiver | undefined;
afterEach(async () => {
  await t?.close();
  await otlp?.stop();
  t = undefined;
  otlp = undefined;
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

function scoreWith(s: TestServer, req: object, md: grpc.Metadata): Promise<ScoreResponseMsg> {
  return new Promise((resolve, reject) => s.client.score(req, md, {}, (err: grpc.ServiceError | null, res?: ScoreResponseMsg) => (err ? reject(err) : resolve(res!))));
}

async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The value of the first Prometheus sample of `name` whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

describe('server telemetry', () => {
  it('exports one Score call as an rpc span with stage children, continuing the caller\'s trace, and a batch span linking it', async () => {
    otlp = new OtlpReceiver();
    await otlp.start();
    t = await startTestServer({ telemetry: { otlpEndpoint: `http://127.0.0.1:${otlp.port}`, otlpProtocol: 'http', otlpIntervalMs: 200 } });
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${TRACE_ID}-${CALLER_SPAN}-01`);
    const res = await scoreWith(t, { items: [{ prompt: 'red circle', response: 'a red circle', images: [{ data: await png(200, 10, 10) }] }] }, md);
    expect(res.items).toHaveLength(1);
    await t.close(); // flushes the exporter
    t = undefined;

    const spans = otlp.spans;
    const call = spans.find((s) => s.name === 'mrm.v1.RewardService/Score')!;
    expect(call).toBeDefined();
    expect(call.traceId).toBe(TRACE_ID);
    expect(call.parentSpanId).toBe(CALLER_SPAN);
    const children = spans.filter((s) => s.parentSpanId === call.spanId).map((s) => s.name).sort();
    expect(children).toEqual(['cache', 'encoder batch', 'queue wait', 'queue wait', 'validate', 'vision batch']);
    for (const stage of ['vision', 'encoder']) {
      const batch = spans.find((s) => s.name === `${stage} batch` && s.parentSpanId !== call.spanId && (s.links ?? []).length > 0);
      expect(batch, `${stage} batch span`).toBeDefined();
      expect(batch!.links!.map((l) => l.spanId)).toContain(call.spanId);
      expect(batch!.links!.map((l) => l.traceId)).toContain(TRACE_ID);
    }
  }, 30_000);

  it('makes no spans for a call the sampler dropped, still counts it, and still traces a caller\'s sampled trace', async () => {
    otlp = new OtlpReceiver();
    await otlp.start();
    const prom = await freePort();
    t = await startTestServer({ telemetry: { otlpEndpoint: `http://127.0.0.1:${otlp.port}`, otlpProtocol: 'http', otlpIntervalMs: 200, traceSampleRatio: 0, prometheusPort: prom, prometheusHost: '127.0.0.1' } });
    for (let i = 0; i < 3; i++) await t.score({ items: [{ prompt: 'red circle', response: `a red circle ${i}`, images: [{ data: await png(10 + i, 10, 10) }] }] });
    expect(sample(await scrape(prom), 'mrm_rpc_calls_total', { method: 'Score', status: 'OK' })).toBe(3);
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${TRACE_ID}-${CALLER_SPAN}-01`);
    await scoreWith(t, { items: [{ prompt: 'red circle', response: 'traced', images: [{ data: await png(99, 10, 10) }] }] }, md);
    await t.close();
    t = undefined;
    // Only the caller's trace arrives: its call, its stages and the batch spans that served it.
    const calls = otlp.spans.filter((s) => s.name === 'mrm.v1.RewardService/Score');
    expect(calls.map((s) => s.traceId)).toEqual([TRACE_ID]);
    const batches = otlp.spans.filter((s) => s.name.endsWith(' batch') && s.parentSpanId !== calls[0]!.spanId);
    expect(batches.length).toBeGreaterThanOrEqual(2);
    for (const b of batches) expect(b.links!.map((l) => l.traceId)).toContain(TRACE_ID);
    expect(otlp.spans.filter((s) => s.traceId !== TRACE_ID && !batches.includes(s))).toEqual([]);
  }, 30_000);

  it('moves metrics on the Prometheus endpoint as calls and swaps happen', async () => {
    const prom = await freePort();
    t = await startTestServer({ telemetry: { prometheusPort: prom, prometheusHost: '127.0.0.1' } });
    expect(t.server.telemetry.enabled).toBe(true);
    const req = { items: [{ prompt: 'red circle', response: 'yes', images: [{ data: await png(1, 2, 3) }] }] };
    await t.score(req);
    await t.score(req);
    await expect(t.score({ items: [] })).rejects.toThrow();
    let text = await scrape(prom);
    if (process.env.DUMP_PROM) console.log(text);
    expect(sample(text, 'mrm_rpc_calls_total', { method: 'Score', status: 'OK' })).toBe(2);
    expect(sample(text, 'mrm_rpc_calls_total', { method: 'Score', status: 'INVALID_ARGUMENT' })).toBe(1);
    expect(sample(text, 'mrm_rpc_duration_count', { method: 'Score' })).toBe(3);
    expect(sample(text, 'mrm_cache_lookups_total', { cache: 'reward', result: 'hit' })).toBe(1);
    expect(sample(text, 'mrm_cache_lookups_total', { cache: 'reward', result: 'miss' })).toBe(1);
    expect(sample(text, 'mrm_batch_size_count', { stage: 'encoder' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'mrm_batch_size_count', { stage: 'vision' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'mrm_batch_queue_depth', { stage: 'encoder' })).toBe(0);
    expect(sample(text, 'mrm_model_active_version', { model: 'tiny' })).toBe(1);
    expect(sample(text, 'mrm_model_swaps_total', {})).toBeNull();

    await addGoodVersion(t.config.stateDir, t.dir, 2);
    await new Registry(t.config.stateDir, 'tiny').activate(2, 'telemetry test');
    await until(() => t!.server.versions.active?.version === 2, 20_000);
    text = await scrape(prom);
    expect(sample(text, 'mrm_model_swaps_total', { model: 'tiny', version: '2' })).toBe(1);
    expect(sample(text, 'mrm_model_active_version', { model: 'tiny' })).toBe(2);
  }, 60_000);

  it('counts round steps and judge calls from the rounds folder, once each, not those finished before it started', async () => {
    const prom = await freePort();
    const dir = await (await import('../serve/helpers.js')).tinyDir();
    const stateDir = join(dir, 'state');
    const step = (name: string, status: StepRecord['status'], seconds: number | null, counts: Record<string, number> = {}): StepRecord =>
      ({ name, status, startedAt: null, finishedAt: null, seconds, counts, error: null });
    const writeRound = async (id: string, steps: StepRecord[]) => {
      const state: RoundState = {
        id, model: 'tiny', createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), status: 'running', pid: process.pid,
        config: {}, steps, outcome: null, endedBy: null, error: null,
      };
      await mkdir(join(roundsDir(stateDir), id), { recursive: true });
      await writeFile(join(roundsDir(stateDir), id, ROUND_FILE), JSON.stringify(state));
    };
    await writeRound('old', [step('collect', 'done', 1), step('label', 'done', 9, { calls: 100, failed: 5 })]);
    t = await startTestServer({ stateDir, telemetry: { prometheusPort: prom, prometheusHost: '127.0.0.1' } });
    await writeRound('r1', [step('collect', 'done', 2), step('label', 'running', null)]);
    await t.server.rounds!.poll();
    let text = await scrape(prom);
    expect(sample(text, 'mrm_round_steps_total', { step: 'collect', status: 'done' })).toBe(1);
    expect(sample(text, 'mrm_judge_calls_total', {})).toBeNull();
    await writeRound('r1', [step('collect', 'done', 2), step('label', 'done', 30, { calls: 12, failed: 2 }), step('construct', 'failed', 1)]);
    await t.server.rounds!.poll();
    await t.server.rounds!.poll();
    text = await scrape(prom);
    expect(sample(text, 'mrm_round_steps_total', { step: 'collect', status: 'done' })).toBe(1);
    expect(sample(text, 'mrm_round_steps_total', { step: 'label', status: 'done' })).toBe(1);
    expect(sample(text, 'mrm_round_steps_total', { step: 'construct', status: 'failed' })).toBe(1);
    expect(sample(text, 'mrm_round_step_duration_count', { step: 'label' })).toBe(1);
    expect(sample(text, 'mrm_judge_calls_total', {})).toBe(12);
    expect(sample(text, 'mrm_judge_errors_total', { kind: 'failed' })).toBe(2);
    await (await import('node:fs/promises')).rm(dir, { recursive: true, force: true });
  }, 60_000);
});
