/**
 * A whole round on real parts: the shipped frozen stages with a start head
 * fitted on noisy labels, a server (real gRPC) logging the Compare traffic
 * it is unsure of, the simulated judge over HTTP through the OpenAI client,
 * DT2IT curation, the gate, the registry. A good judge gives a candidate the
 * gate activates; a bad judge (accuracy 0.4) gives one it rejects.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../../src/model/registry.js';
import { RoundFolder } from '../../../src/rounds/folder.js';
import { DEFAULTS, type ServeConfig } from '../../../src/serve/config.js';
import { silentLogger } from '../../../src/serve/log.js';
import { startServer, type RunningServer } from '../../../src/serve/server.js';
import { startSimulatedJudge, type SimulatedJudge } from '../../../trainer/judges/simulated/server.js';
import { loadDataset } from '../../../trainer/data/datasets.js';
import { parseRoundConfig } from '../../../trainer/round/config.js';
import { loadPairs } from '../../../trainer/round/pairs-file.js';
import { judgeLabeler, startRound } from '../../../trainer/round/main.js';
import { seedStartModel, writeT2ITriples, writeTruthSet } from '../../../trainer/round/shapes-world.js';
import { sendTraffic } from './traffic.js';

let dir: string;
let stateDir: string;
let server: RunningServer;
let good: SimulatedJudge;
let bad: SimulatedJudge;
let slow: SimulatedJudge;
let firstRound = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-round-e2e-'));
  stateDir = join(dir, 'state');
  await seedStartModel(stateDir, { n: 600, seed: 11, scratch: dir });
  await writeTruthSet(join(dir, 'gate'), 99, 500);
  await writeT2ITriples(join(dir, 't2i'), 5, 120);
  const config: ServeConfig = {
    ...DEFAULTS, host: '127.0.0.1', port: 0, stateDir, seedBundle: 'models/shapes-mrm', statsIntervalMs: 0,
    // Any free admin port: the default (50052) collides with another test file's server running at the same time.
    admin: { ...DEFAULTS.admin, port: 0 },
    // Every Compare pair is logged: the start model is unsure of everything it was taught wrong.
    log: { ...DEFAULTS.log, enabled: true, band: 0.5, ratePerSec: 1e6, burst: 1e6, syncIntervalMs: 5 },
  };
  server = await startServer(config, silentLogger);
  await server.ready;
  good = await startSimulatedJudge({ accuracy: 0.9 });
  bad = await startSimulatedJudge({ accuracy: 0.4 });
  slow = await startSimulatedJudge({ accuracy: 0.9, latencyMs: 40 });
}, 600_000);

afterAll(async () => {
  await server?.shutdown('test done');
  await good?.close();
  await bad?.close();
  await slow?.close();
  await rm(dir, { recursive: true, force: true });
});

// Each judge answers under its own model name: judgments are cached by judge model, and one judge must not inherit another's.
const config = (judge: SimulatedJudge, model: string) => parseRoundConfig({
  stateDir, model: 'shapes-mrm', base: { dir: join(dir, 'base'), format: 'llamafactory' }, gate: { dir: join(dir, 'gate'), format: 'llamafactory' }, t2i: join(dir, 't2i', 'triples.jsonl'),
  judge: { baseURL: judge.baseURL, model }, minLogged: 20,
}, 'test');

describe('a round end to end', () => {
  it('labels logged pairs, curates, passes the gate and activates the candidate', async () => {
    await sendTraffic(server, 21, 400);
    const registry = new Registry(stateDir, 'shapes-mrm');
    expect((await registry.active())!.version).toBe(2);
    const state = await startRound(config(good, 'judge-good'), { log: silentLogger, labeler: judgeLabeler });
    const counts = Object.fromEntries(state.steps.map((s) => [s.name, s.counts]));
    expect(state.status).toBe('finished');
    expect(counts.collect!.logged).toBeGreaterThanOrEqual(300);
    expect(counts.label!.calls).toBeGreaterThan(0);
    expect(state.outcome?.decision, JSON.stringify(state.outcome)).toBe('activated');
    firstRound = state.id;
    expect((await registry.active())!.version).toBe(state.outcome!.version);
    const m = (await registry.list()).find((v) => v.version === state.outcome!.version)!.manifest!;
    expect(m.parent).toBe(2);
    expect(m.lineage.roundId).toBe(state.id);
    expect(m.metrics['gate.passed']).toBe(1);
    const html = await readFile(new RoundFolder(stateDir, state.id).path('report.html'), 'utf8');
    expect(html).toContain('Gate passed');
  }, 600_000);

  it('with a bad judge, registers a candidate the gate rejects and keeps the active version', async () => {
    await sendTraffic(server, 22, 400);
    const registry = new Registry(stateDir, 'shapes-mrm');
    const before = (await registry.active())!.version;
    const state = await startRound(config(bad, 'judge-bad'), { log: silentLogger, labeler: judgeLabeler });
    expect(state.outcome?.decision, JSON.stringify(state.outcome)).toBe('rejected');
    expect(state.outcome!.reasons.length).toBeGreaterThan(0);
    expect((await registry.active())!.version).toBe(before);
    const m = (await registry.list()).find((v) => v.version === state.outcome!.version)!.manifest!;
    expect(m.metrics['gate.passed']).toBe(0);
    expect(m.notes).toMatch(/^REJECTED by the gate/);
  }, 600_000);

  it('killed with kill -9 during curation, resumes and finishes without judging again what it had judged', async () => {
    await sendTraffic(server, 23, 300);
    const cfgFile = join(dir, 'round-kill.json');
    await writeFile(cfgFile, JSON.stringify({
      stateDir, model: 'shapes-mrm', gate: { dir: join(dir, 'gate'), format: 'llamafactory' }, minLogged: 20,
      judge: { baseURL: slow.baseURL, model: 'judge-slow' },
    }));
    const id = 'rkill';
    const mrm = (args: string[]) => spawn(process.execPath, ['bin/mrm.js', 'round', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const child = mrm(['run', '--config', cfgFile, '--id', id]);
    const folder = new RoundFolder(stateDir, id);
    // Kill once curation has started re-judging: judge requests beyond the label step's.
    let labelCalls = -1;
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error('the round never reached curation');
      const state = await folder.load().catch(() => null);
      const cur = state?.steps.find((s) => s.name === 'curate');
      if (labelCalls < 0 && cur?.status === 'running') labelCalls = slow.counts().requests;
      if (labelCalls >= 0 && slow.counts().requests > labelCalls + 8) break;
      if (state?.status === 'finished') throw new Error('the round finished before it could be killed; make the judge slower');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // What the killed round had: the judgments on disk, and the calls it had asked for.
    const cacheFile = join(stateDir, 'cache', 'judgments', 'judgments.jsonl');
    const onDisk = new Set((await readFile(cacheFile, 'utf8')).split('\n').flatMap((l) => {
      try { return [JSON.parse(l).key as string]; } catch { return []; } // a torn last line
    }));
    const atKill = slow.requestLog().length;
    const askedBefore = new Set(slow.requestLog().map((e) => e.key));
    const killed = await folder.load();
    expect(killed.steps.find((s) => s.name === 'curate')!.status).toBe('running');

    const resumed = mrm(['resume', id, '--state-dir', stateDir]);
    const code = await new Promise<number | null>((r) => resumed.once('exit', r));
    expect(code).toBe(0);
    const state = await folder.load();
    expect(state.status).toBe('finished');
    // The judge logs every request under the cache's key for it: no judgment
    // that was in the cache file at the kill is asked for again.
    const after = slow.requestLog().slice(atKill);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((e) => e.key !== undefined)).toBe(true);
    expect(after.filter((e) => onDisk.has(e.key!)).map((e) => e.key)).toEqual([]);
    // Asked again may only be what had not reached the file: calls in flight at
    // the kill (the client's concurrency, 8) or answered and not yet appended.
    const reasked = new Set(after.filter((e) => askedBefore.has(e.key)).map((e) => e.key));
    console.log(`kill -9 in curate: ${onDisk.size} judgments on disk at the kill, ${atKill} requests before it, ${after.length} after the resume, ${reasked.size} in-flight calls asked again`);
    expect(reasked.size).toBeLessThanOrEqual(16);
  }, 600_000);

  it('exports a round for LLaMA-Factory (it loads back with the same pairs and labels) and imports a bundle built elsewhere', async () => {
    const run = (args: string[]) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, ['bin/mrm.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout!.on('data', (b: Buffer) => { out += b; });
      c.stderr!.on('data', (b: Buffer) => { out += b; });
      c.once('exit', (code) => resolve({ code, out }));
    });
    const out = join(dir, 'export');
    const ex = await run(['round', 'export', firstRound, '--llamafactory', out, '--state-dir', stateDir]);
    expect(ex.code, ex.out).toBe(0);
    const curated = (await loadPairs(new RoundFolder(stateDir, firstRound), 'curated')).filter((p) => p.label);
    const back = await loadDataset(out, 'llamafactory');
    expect(back).toHaveLength(curated.length);
    const byId = new Map(back.map((p) => [p.id, p]));
    for (const p of curated) {
      const r = byId.get(p.item.id)!;
      expect([r.chosen, r.rejected]).toEqual(p.label === 'a' ? [p.item.a, p.item.b] : [p.item.b, p.item.a]);
    }
    expect(await readFile(join(out, 'train_rm.yaml'), 'utf8')).toMatch(/stage: rm[\s\S]*dataset: train/);
    const conv = await run(['data', 'convert', '--in', out, '--out', join(dir, 'export-dt2it')]);
    expect(conv.code, conv.out).toBe(0);
    expect(conv.out).toContain(`${curated.length} pairs`);

    const registry = new Registry(stateDir, 'shapes-mrm');
    const before = (await registry.list()).length;
    const imp = await run(['models', 'import', join(dir, 'start-model'), '--state-dir', stateDir]);
    expect(imp.code, imp.out).toBe(0);
    const versions = await registry.list();
    expect(versions).toHaveLength(before + 1);
    expect(versions.at(-1)!.manifest!.files.head.sha256).toBe(versions.find((v) => v.version === 2)!.manifest!.files.head.sha256);
    // A broken bundle is refused, nothing registered.
    const bad = await run(['models', 'import', join(dir, 'gate'), '--state-dir', stateDir]);
    expect(bad.code).not.toBe(0);
    expect((await registry.list())).toHaveLength(before + 1);
  }, 600_000);
});
