/**
 * `mrm judge serve` as its own process, the real client against it, and the
 * API key: required by the server when set, carried by the client, and
 * never printed by either side, nor in a labeler's stats or errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { judgeConfigFromEnv, openAIJudgeOptions, redactJudgeConfig } from '../../trainer/judges/config.js';
import { JudgeLabeler } from '../../trainer/judges/labeler.js';
import { OpenAIJudge } from '../../trainer/judges/openai-judge.js';
import { shapesPairs } from '../trainer/judges/helpers.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const KEY = 'sk-test-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4';
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  child = undefined;
});

async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<{ baseURL: string; output: () => string }> {
  const c = spawn('node', ['bin/mrm.js', 'judge', 'serve', '--port', '0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child = c;
  let out = '';
  c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!/"baseURL":"([^"]+)"/.test(out)) {
    if (Date.now() > deadline || c.exitCode !== null) throw new Error(`judge did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { baseURL: /"baseURL":"([^"]+)"/.exec(out)![1]!, output: () => out };
}

describe('mrm judge serve', () => {
  it('serves the rubric over HTTP to the real client; the key is required and never printed', async () => {
    const { pairs } = await shapesPairs(14, 30);
    const judge = await serve(['--accuracy', '1', '--position-bias', '0', '--verbosity-bias', '0'], { MRM_JUDGE_API_KEY: KEY });
    const logged: string[] = [];
    const orig = { log: console.log, error: console.error, warn: console.warn, info: console.info, debug: console.debug };
    for (const k of Object.keys(orig) as (keyof typeof orig)[]) console[k] = (...a: unknown[]) => void logged.push(a.map(String).join(' '));
    try {
      // The right key: judgments. A wrong key: refused (401), counted, not retried.
      const good = new JudgeLabeler({ provider: new OpenAIJudge({ baseURL: judge.baseURL, apiKey: KEY, model: 'shapesworld-judge' }) });
      const js = await good.label(pairs, { orders: 'both' });
      expect(js.every((j) => j.complete && j.votes.a + j.votes.b === 2)).toBe(true);
      const badKey = `${KEY}-wrong`;
      const bad = new JudgeLabeler({ provider: new OpenAIJudge({ baseURL: judge.baseURL, apiKey: badKey, model: 'shapesworld-judge' }) });
      const failed = await bad.label(pairs.slice(0, 3), { orders: 'one' });
      expect(failed.every((j) => !j.complete && j.calls === 1)).toBe(true);
      expect(bad.stats()).toMatchObject({ clientErrors: 3, failed: 3, calls: 3 });
      const everything = [judge.output(), ...logged, JSON.stringify(good.stats()), JSON.stringify(bad.stats())].join('\n');
      expect(everything).not.toContain(KEY);
      expect(judge.output()).toContain('"auth":"bearer [redacted]"');
    } finally {
      Object.assign(console, orig);
    }
  });

  it('judge config: key from env or a file, redacted when printed, limits validated with the env name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mrm-judge-key-'));
    try {
      await writeFile(join(dir, 'key'), `${KEY}\n`);
      const c = await judgeConfigFromEnv({ MRM_JUDGE_API_KEY_FILE: join(dir, 'key'), MRM_JUDGE_MAX_CALLS: '100' });
      expect(c.apiKey).toBe(KEY);
      expect(openAIJudgeOptions(c)).toMatchObject({ apiKey: KEY, maxCalls: 100 });
      expect(JSON.stringify(redactJudgeConfig(c))).not.toContain(KEY);
      const env = await judgeConfigFromEnv({ MRM_JUDGE_API_KEY: 'from-env', MRM_JUDGE_API_KEY_FILE: join(dir, 'key') });
      expect(env.apiKey).toBe('from-env');
      await expect(judgeConfigFromEnv({ MRM_JUDGE_CONCURRENCY: '0' })).rejects.toThrow(/concurrency \(MRM_JUDGE_CONCURRENCY\): an integer >= 1/);
      await expect(judgeConfigFromEnv({ MRM_JUDGE_API_KEY_FILE: join(dir, 'missing') })).rejects.toThrow(/cannot read .*missing: ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad flag with exit code 2', async () => {
    const c = spawn('node', ['bin/mrm.js', 'judge', 'serve', '--accuracy', '1.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = await once(c, 'exit');
    expect(code).toBe(2);
    expect(err).toContain("--accuracy: expected a number >= 0 <= 1, got '1.5'");
  });
});
