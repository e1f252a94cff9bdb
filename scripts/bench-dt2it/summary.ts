/** Mean and std over seeds per row and slice, the printed table, and the issue's targets. */
import { SLICES, type Row } from './rows.js';

export interface SummaryRow {
  name: string;
  mean: Record<string, number>;
  std: Record<string, number>;
  trainPairs: number;
  labelAccuracy: number;
  styleLength: number;
  funnel?: Row['funnel'];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n - 1); 0 for one seed. */
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));

export function summarize(perSeed: Row[][]): SummaryRow[] {
  return perSeed[0]!.map((r, i) => {
    const all = perSeed.map((rows) => rows[i]!);
    const m: Record<string, number> = {};
    const s: Record<string, number> = {};
    for (const sl of SLICES) {
      m[sl] = mean(all.map((x) => x.accuracy[sl]!));
      s[sl] = std(all.map((x) => x.accuracy[sl]!));
    }
    const funnels = all.map((x) => x.funnel).filter((f) => f !== undefined);
    const funnel = funnels.length ? Object.fromEntries(Object.keys(funnels[0]!).map((k) => [k, Math.round(mean(funnels.map((f) => f[k as keyof typeof f])))])) as Row['funnel'] : undefined;
    return {
      name: r.name, mean: m, std: s,
      trainPairs: Math.round(mean(all.map((x) => x.trainPairs))),
      labelAccuracy: mean(all.map((x) => x.labelAccuracy)),
      styleLength: mean(all.map((x) => x.style.length)),
      ...(funnel ? { funnel } : {}),
    };
  });
}

export function formatTable(rows: SummaryRow[], seeds: number, header = true): string {
  const pct = (m: number, s: number) => `${(100 * m).toFixed(1)} ±${(100 * s).toFixed(1)}`.padStart(13);
  const lines: string[] = [];
  if (header) lines.push(`accuracy %, mean ±std over ${seeds} seed(s)`);
  lines.push(`${'row'.padEnd(34)}${SLICES.map((s) => s.padStart(13)).join('')}${'pairs'.padStart(7)}${'labels ok'.padStart(10)}${'len.corr'.padStart(9)}`);
  for (const r of rows) {
    lines.push(`${r.name.padEnd(34)}${SLICES.map((s) => pct(r.mean[s]!, r.std[s]!)).join('')}${String(r.trainPairs).padStart(7)}${(100 * r.labelAccuracy).toFixed(1).padStart(10)}${r.styleLength.toFixed(2).padStart(9)}`);
  }
  const f = rows.filter((r) => r.funnel);
  if (f.length) {
    lines.push('curation funnel (mean pairs): in / flipped / kept by step 2 / re-judged / dropped / out');
    for (const r of f) lines.push(`  ${r.name.padEnd(32)}${[r.funnel!.in, r.funnel!.flipped, r.funnel!.kept, r.funnel!.rejudged, r.funnel!.dropped, r.funnel!.out].join(' / ')}`);
  }
  return lines.join('\n');
}

export interface TargetCheck {
  name: string;
  passed: boolean;
  detail: string;
}

/** The targets of issue 9, on the means: the gap closed by the last curation row, the grounded gain, monotone rows. */
export function checkTargets(rows: SummaryRow[]): { checks: TargetCheck[]; lines: string[] } {
  const start = rows[0]!;
  const oracle = rows[rows.length - 1]!;
  const last = rows[rows.length - 2]!;
  const balanced = rows.find((r) => r.name.startsWith('+ style/length'))!;
  const checks: TargetCheck[] = [];
  for (const s of SLICES) {
    const gap = oracle.mean[s]! - start.mean[s]!;
    const closed = gap !== 0 ? (last.mean[s]! - start.mean[s]!) / gap : 1;
    if (gap >= 0.02) {
      checks.push({ name: `gap closed: ${s}`, passed: closed >= 0.9, detail: `${(100 * closed).toFixed(0)}% of a ${(100 * gap).toFixed(1)}-point gap (target >= 90%)` });
    } else {
      const dist = oracle.mean[s]! - last.mean[s]!;
      checks.push({ name: `near oracle: ${s}`, passed: dist <= 0.005, detail: `${(100 * dist).toFixed(2)} points below the oracle (gap ${(100 * gap).toFixed(1)} < 2; target <= 0.5)` });
    }
  }
  for (const [s, floor] of [['overall', 0.7], ['style-adversarial', 0.8]] as const) {
    checks.push({ name: `floor: ${s}`, passed: last.mean[s]! >= floor, detail: `${(100 * last.mean[s]!).toFixed(1)}% after the last round (floor ${100 * floor}%)` });
  }
  const g = last.mean.grounded! - balanced.mean.grounded!;
  checks.push({ name: 'curation adds grounded accuracy', passed: g > 0, detail: `${(100 * g).toFixed(1)} points over '${balanced.name}'` });
  for (let i = 1; i < rows.length - 1; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    const bad = SLICES.filter((s) => b.mean[s]! < a.mean[s]! - Math.max(a.std[s]!, b.std[s]!));
    checks.push({ name: `'${b.name}' >= previous within one std`, passed: bad.length === 0, detail: bad.length ? `lower on ${bad.map((s) => `${s} (${(100 * (b.mean[s]! - a.mean[s]!)).toFixed(1)})`).join(', ')}` : 'ok' });
  }
  return { checks, lines: checks.map((c) => `${c.passed ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`) };
}
