/**
 * What a round report shows, as plain data: the round step that builds it
 * (from the round folder's step outputs) and the renderer (render.ts) meet
 * here, so either can change without the other.
 */
import type { RoundOutcome } from '../../src/rounds/folder.js';

export interface SliceRow {
  slice: string;
  pairs: number;
  /** Accuracy in [0, 1] on the gate set; NaN when the slice is empty. */
  active: number;
  candidate: number;
  /** Guarded slices must not regress beyond the gate's tolerance. */
  guarded: boolean;
}

export interface ReliabilityBin {
  model: 'active' | 'candidate';
  /** Mean stated confidence sigmoid(|margin|) of the bin's pairs. */
  confidence: number;
  /** Share of the bin's pairs the model ordered right. */
  accuracy: number;
  pairs: number;
}

export interface ReportData {
  round: {
    id: string;
    model: string;
    createdAt: string;
    status: string;
    outcome: RoundOutcome | null;
    steps: { name: string; status: string; seconds: number | null; counts: Record<string, number> }[];
  };
  activeVersion: number | null;
  candidateVersion: number | null;
  slices: SliceRow[];
  /** The curation funnel in order: pairs in, flipped, kept, re-judged, dropped, ... */
  funnel: { stage: string; pairs: number }[];
  /** Preference strength (judge score gap) of each constructed pair. */
  strengths: number[];
  reliability: ReliabilityBin[];
  judge: {
    model: string;
    calls: number;
    cached: number;
    /** Share of both-order judgments whose two calls picked the same response. */
    positionConsistency: number | null;
    /** Share of judged pairs whose vote agrees with the truth, where a truth is known (ShapesWorld). */
    truthAgreement: number | null;
    errors: Record<string, number>;
  } | null;
  shadow: {
    pairs: number;
    /** Share of logged pairs both versions order the same way. */
    agreement: number;
    /** Normalized rewards of a sample of logged responses under both versions. */
    points: { active: number; candidate: number }[];
    meanDrift: number;
  } | null;
  gate: { passed: boolean; reasons: string[] } | null;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-Math.abs(z)));

/** Reliability bins (10, over confidence 0.5..1) from (better, worse) rewards. */
export function reliabilityBins(model: ReliabilityBin['model'], pairs: { better: number; worse: number }[], bins = 10): ReliabilityBin[] {
  const acc = Array.from({ length: bins }, () => ({ n: 0, conf: 0, right: 0 }));
  for (const p of pairs) {
    const m = p.better - p.worse;
    const c = sigmoid(m);
    const b = acc[Math.min(bins - 1, Math.floor(((c - 0.5) / 0.5) * bins))]!;
    b.n++;
    b.conf += c;
    b.right += m > 0 ? 1 : 0;
  }
  return acc.filter((b) => b.n > 0).map((b) => ({ model, confidence: b.conf / b.n, accuracy: b.right / b.n, pairs: b.n }));
}
