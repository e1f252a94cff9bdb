/**
 * Starting and resuming a round: the one entry point behind `mrm round run`,
 * which the admin service starts as a child process (the server never runs
 * trainer code itself). One round at a time per model (src/rounds/lock.ts).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { newRoundId, RoundFolder, type RoundState } from '../../src/rounds/folder.js';
import { acquireLock } from '../../src/rounds/lock.js';
import type { Logger } from '../../src/serve/log.js';
import { judgeConfigFromEnv, openAIJudgeOptions } from '../judges/config.js';
import { JudgeLabeler } from '../judges/labeler.js';
import { OpenAIJudge } from '../judges/openai-judge.js';
import type { PairLabeler } from '../judges/types.js';
import { parseRoundConfig, type RoundConfig } from './config.js';
import { emptySteps, runRound, type EventListener } from './runner.js';
import type { EngineOptions } from './full-fit.js';
import { roundSteps, stepNames } from './steps.js';

export interface RoundRun {
  log: Logger;
  /** Builds the judge for the round's settings (resumed rounds use their stored settings). */
  labeler: (cfg: RoundConfig) => Promise<PairLabeler>;
  listen?: EventListener;
  /** How a 'full' round starts the PyTorch engine (default: /usr/bin/python3). */
  engine?: EngineOptions;
}

/** Creates a round folder for `cfg` (id given by the caller, e.g. the admin service) and runs it. */
export async function startRound(cfg: RoundConfig, run: RoundRun, id = newRoundId()): Promise<RoundState> {
  const folder = new RoundFolder(cfg.stateDir, id);
  const release = await acquireLock(cfg.stateDir, cfg.model, id);
  try {
    const now = new Date().toISOString();
    await folder.create({
      id, model: cfg.model, createdAt: now, updatedAt: now, status: 'running', pid: process.pid,
      config: { ...cfg } as unknown as Record<string, unknown>, steps: emptySteps(stepNames(cfg)), outcome: null, endedBy: null, error: null,
    });
    run.log.info('round.started', { round: id, model: cfg.model, host: hostname() });
    return await runRound(folder, roundSteps(cfg, await run.labeler(cfg), run.engine), run.log, run.listen);
  } finally {
    await release();
  }
}

/** Runs a round's unfinished steps with the settings it started with. */
export async function resumeRound(stateDir: string, id: string, run: RoundRun): Promise<RoundState> {
  const folder = new RoundFolder(stateDir, id);
  const state = await folder.load();
  if (state.status === 'finished') return state;
  const cfg = parseRoundConfig(state.config, `${folder.dir}/round.json config`);
  const release = await acquireLock(cfg.stateDir, cfg.model, id);
  try {
    run.log.info('round.resumed', { round: id, from: state.steps.find((s) => s.status !== 'done')?.name ?? null });
    return await runRound(folder, roundSteps(cfg, await run.labeler(cfg), run.engine), run.log, run.listen);
  } finally {
    await release();
  }
}

/** The judge a round's settings name: an OpenAI-compatible endpoint (key from the environment), judgments cached in the state directory. */
export async function judgeLabeler(cfg: RoundConfig): Promise<PairLabeler> {
  const jc = await judgeConfigFromEnv(process.env, cfg.judge as Parameters<typeof judgeConfigFromEnv>[1]);
  return new JudgeLabeler({ provider: new OpenAIJudge(openAIJudgeOptions(jc)), cacheDir: join(cfg.stateDir, 'cache', 'judgments'), seed: cfg.seed });
}
