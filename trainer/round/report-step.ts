/**
 * The round's last step: report.html from what the earlier steps wrote
 * (trainer/report renders it). Runs whatever the gate decided, so a rejected
 * candidate has a page that says why.
 */
import { writeFile } from 'node:fs/promises';
import type { RoundFolder } from '../../src/rounds/folder.js';
import type { PairJudgment, PairLabeler } from '../judges/types.js';
import { reliabilityBins, type ReportData } from '../report/data.js';
import { renderReport } from '../report/render.js';
import { sideRewards } from '../dt2it/scoring.js';
import type { RoundConfig } from './config.js';
import { baseOf } from './context.js';
import { gateSides } from './gate-step.js';
import type { Step } from './runner.js';
import type { GateOutput } from './steps.js';

export const REPORT_FILE = 'report.html';

export function reportStep(cfg: RoundConfig, labeler: PairLabeler): Step {
  return {
    name: 'report',
    async run(ctx) {
      const data = await reportData(cfg, ctx.folder, labeler.model);
      await writeFile(ctx.folder.path(REPORT_FILE), await renderReport(data));
      return { counts: { plots: 6 } };
    },
  };
}

async function optional<T>(p: Promise<T>): Promise<T | null> {
  return p.catch(() => null);
}

export async function reportData(cfg: RoundConfig, folder: RoundFolder, judgeModel: string): Promise<ReportData> {
  const state = await folder.load();
  const base = await baseOf(folder);
  const g = await optional(folder.readJson<GateOutput>('gate.json'));
  const reg = await optional(folder.readJson<{ version: number }>('register.json'));
  const cand = await optional(folder.readJson<{ funnel: Record<string, number> }>('candidate.json'));
  const judgments = (await optional(folder.readJson<PairJudgment[]>('judgments.json'))) ?? [];
  const strengths = (await optional(folder.readJson<number[]>('strength.json'))) ?? [];
  const step = (name: string) => state.steps.find((s) => s.name === name);

  const reliability: ReportData['reliability'] = [];
  if (g) {
    // Each side on its own features: a full fine-tune's are the ones the gate computed with its bundle.
    const sides = await gateSides(cfg, folder, { compute: false });
    for (const [model, { weights: w, gate: pairs }] of [['active', sides.active], ['candidate', sides.candidate]] as const) {
      const { ra, rb } = sideRewards(w, pairs);
      reliability.push(...reliabilityBins(model, pairs.map((p, i) => (p.truth === 'a' ? { better: ra[i]!, worse: rb[i]! } : { better: rb[i]!, worse: ra[i]! }))));
    }
  }
  const complete = judgments.filter((j) => j.complete && j.votes.a + j.votes.b + j.votes.tie >= 2);
  const consistent = complete.filter((j) => j.votes.a === 0 || j.votes.b === 0).length;
  const label = step('label')?.counts ?? {};
  const f = cand?.funnel ?? {};
  return {
    round: {
      id: state.id, model: state.model, createdAt: state.createdAt, status: state.status, outcome: state.outcome,
      steps: state.steps.map((s) => ({ name: s.name, status: s.status, seconds: s.seconds, counts: s.counts })),
    },
    activeVersion: base.version,
    candidateVersion: reg?.version ?? null,
    slices: (g?.slices ?? []).map((s) => ({ ...s, guarded: cfg.guardedSlices.includes(s.slice) })),
    funnel: ['in', 'flipped', 'kept', 'rejudged', 'dropped', 'out'].map((stage) => ({ stage, pairs: f[stage] ?? 0 })),
    strengths,
    reliability,
    judge: {
      model: judgeModel,
      calls: label.calls ?? 0,
      cached: label.cached ?? 0,
      positionConsistency: complete.length ? consistent / complete.length : null,
      truthAgreement: null,
      errors: { failed: label.failed ?? 0 },
    },
    shadow: g ? { pairs: g.shadow.pairs, agreement: g.shadow.agreement, meanDrift: g.shadow.drift.mean, points: g.shadow.points } : null,
    gate: g ? { passed: g.decision.accept, reasons: g.decision.accept ? g.decision.checks.map((c) => c.reason) : g.decision.reasons } : null,
  };
}
