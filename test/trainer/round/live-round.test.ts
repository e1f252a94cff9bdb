/**
 * The improvement loop on live servers: two `mrm serve` processes on one
 * state directory log the Compare traffic they are unsure of; TriggerRound on
 * one of them starts a round (its own process) that labels the logged pairs
 * with the simulated judge, curates, passes the gate and activates; both
 * servers swap to the new version, and no client call fails meanwhile.
 */
import * as grpc from '@grpc/grpc-js';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminClient, type AdminClient } from '../../../src/serve/admin-proto.js';
import { fromMsg } from '../../../src/serve/admin-rounds.js';
import { createRewardClient, unary, type CompareRequestMsg, type CompareResponseMsg, type RewardClient } from '../../../src/serve/proto.js';
import { startSimulatedJudge, type SimulatedJudge } from '../../../trainer/judges/simulated/server.js';
import { seedStartModel, trafficPairs, writeT2ITriples, writeTruthSet } from '../../../trainer/round/shapes-world.js';
import { spawnServer } from '../../serve/helpers.js';

let dir: string;
let stateDir: string;
let judge: SimulatedJudge;
const servers: { proc: ChildProcess; client: RewardClient; admin: AdminClient }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-live-round-'));
  stateDir = join(dir, 'state');
  await seedStartModel(stateDir, { n: 600, seed: 12, scratch: dir });
  await writeTruthSet(join(dir, 'gate'), 98, 500);
  await writeT2ITriples(join(dir, 't2i'), 6, 100);
  judge = await startSimulatedJudge({ accuracy: 0.9 });
  for (let i = 0; i < 2; i++) {
    const { proc, port, logs } = await spawnServer(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0',
      '--state-dir', stateDir, '--stats-interval-ms', '0', '--log-enabled', 'true', '--log-band', '0.5', '--log-rate-per-sec', '100000', '--log-burst', '100000'], { cwd: process.cwd() });
    const adminPort = logs.find((l) => l.event === 'server.serving')!.adminPort as number;
    servers.push({ proc, client: createRewardClient(`127.0.0.1:${port}`), admin: createAdminClient(`127.0.0.1:${adminPort}`) });
  }
}, 600_000);

afterAll(async () => {
  for (const s of servers) {
    s.client.close();
    s.admin.close();
    s.proc.kill('SIGTERM');
    await new Promise((r) => s.proc.once('exit', r));
  }
  await judge?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a round through the admin API on live servers', () => {
  it('logs, labels, curates, gates and activates; both servers swap; no call fails', async () => {
    const traffic = await trafficPairs(31, 480);
    const compare = (s: RewardClient, batch: typeof traffic) => unary<CompareRequestMsg, CompareResponseMsg>(s.compare.bind(s), {
      pairs: batch.map(({ sample, images }) => ({ images: images.map((data) => ({ data })), prompt: sample.prompt, responseA: sample.responses[0], responseB: sample.responses[1] })),
    }, { deadline: Date.now() + 60_000 });
    // Traffic that gets logged, split over both servers.
    for (let i = 0; i < 400; i += 20) await compare(servers[(i / 20) % 2]!.client, traffic.slice(i, i + 20));

    // Clients keep calling both servers throughout the round and the swap.
    let stop = false;
    let failures = 0;
    let calls = 0;
    const versionsSeen = [new Set<number>(), new Set<number>()];
    const loops = servers.map(async (s, k) => {
      let i = 0;
      while (!stop) {
        const batch = traffic.slice(400 + (i % 80), 401 + (i % 80));
        i++;
        try {
          const res = await compare(s.client, batch);
          versionsSeen[k]!.add(Number(res.model!.version));
          calls++;
        } catch {
          failures++;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    });

    const settings = JSON.stringify({ base: { dir: join(dir, 'base'), format: 'llamafactory' }, gate: { dir: join(dir, 'gate'), format: 'llamafactory' }, t2i: join(dir, 't2i', 'triples.jsonl'), judge: { baseURL: judge.baseURL, model: 'live-judge' }, minLogged: 20 });
    const { roundId } = await servers[0]!.admin.call('triggerRound', { settingsJson: settings });
    // One round at a time per model: a second trigger, through the other replica, is refused naming the first.
    const second = await servers[1]!.admin.call('triggerRound', { settingsJson: settings }).then(() => null, (e: grpc.ServiceError) => e);
    expect(second?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(second?.details).toContain(roundId);

    const events: string[] = [];
    let decision = '';
    let version = 0;
    await servers[1]!.admin.watchRound(roundId, (m) => {
      const e = fromMsg(m);
      events.push(e.type === 'step.done' || e.type === 'step.start' ? `${e.type}:${e.step}` : e.type);
      if (e.type === 'round.done') ({ decision, version } = { decision: e.outcome.decision, version: e.outcome.version ?? 0 });
      if (e.type === 'round.failed') throw new Error(e.error);
    });
    expect(events).toContain('step.done:curate');
    expect(decision).toBe('activated');
    expect(version).toBeGreaterThan(2);

    // Both replicas follow the pointer by themselves.
    const deadline = Date.now() + 60_000;
    while (!versionsSeen.every((v) => v.has(version))) {
      if (Date.now() > deadline) throw new Error(`servers did not swap to ${version}: saw ${versionsSeen.map((v) => [...v].join(','))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    stop = true;
    await Promise.all(loops);
    expect(failures).toBe(0);
    expect(calls).toBeGreaterThan(20);
    const got = await servers[0]!.admin.call('getRound', { roundId });
    expect(JSON.parse(got.roundJson).outcome.decision).toBe('activated');
    expect((await servers[0]!.admin.call('listRounds', {})).rounds.map((r) => r.roundId)).toContain(roundId);
  }, 900_000);
});
