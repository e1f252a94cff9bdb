/**
 * The round report as one self-contained HTML page: plots are SVG rendered
 * here with vega-lite (no script, font or stylesheet is fetched when the page
 * is viewed; a Content-Security-Policy forbids it), tables are plain HTML.
 */
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';
import type { ReportData } from './data.js';

/** The plots every report has, by id; a check (scripts/check-report.ts) looks for each in the rendered page. */
export const PLOTS = ['slices', 'funnel', 'strength', 'reliability', 'judge', 'shadow'] as const;
export type PlotId = (typeof PLOTS)[number];

const WIDTH = 420;
const HEIGHT = 220;

async function svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const base = { width: WIDTH, height: HEIGHT, background: 'white', config: { font: 'sans-serif' } } as const;

function slicesSpec(d: ReportData): TopLevelSpec {
  const values = d.slices.flatMap((s) => [
    { slice: s.slice, model: 'active', accuracy: finite(s.active) },
    { slice: s.slice, model: 'candidate', accuracy: finite(s.candidate) },
  ]);
  return {
    ...base,
    title: 'Gate set accuracy by slice',
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'slice', type: 'nominal', sort: null, title: null },
      xOffset: { field: 'model' },
      y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' } },
      color: { field: 'model', type: 'nominal', scale: { range: ['#9aa5b1', '#2f6fde'] } },
    },
  };
}

function funnelSpec(d: ReportData): TopLevelSpec {
  return {
    ...base,
    title: 'Curation funnel (pairs)',
    data: { values: d.funnel },
    mark: { type: 'bar', color: '#2f6fde' },
    encoding: {
      y: { field: 'stage', type: 'nominal', sort: null, title: null },
      x: { field: 'pairs', type: 'quantitative' },
    },
  };
}

function strengthSpec(d: ReportData): TopLevelSpec {
  return {
    ...base,
    title: 'Preference strength of constructed pairs (judge score gap)',
    data: { values: d.strengths.map((s) => ({ strength: s })) },
    mark: { type: 'bar', color: '#2f6fde' },
    encoding: {
      x: { field: 'strength', type: 'quantitative', bin: { maxbins: 20 }, title: 'strength' },
      y: { aggregate: 'count', type: 'quantitative', title: 'pairs' },
    },
  };
}

function reliabilitySpec(d: ReportData): TopLevelSpec {
  return {
    ...base,
    title: 'Reliability diagram (gate set)',
    layer: [
      { data: { values: [{ x: 0.5, y: 0.5 }, { x: 1, y: 1 }] }, mark: { type: 'line', color: '#bbb', strokeDash: [4, 4] }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } },
      {
        data: { values: d.reliability },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'confidence', type: 'quantitative', scale: { domain: [0.5, 1] }, title: 'stated confidence' },
          y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, title: 'observed accuracy' },
          color: { field: 'model', type: 'nominal', scale: { range: ['#9aa5b1', '#2f6fde'] } },
        },
      },
    ],
  };
}

function judgeSpec(d: ReportData): TopLevelSpec {
  const j = d.judge;
  const values = j
    ? [
        { measure: 'position consistency', value: j.positionConsistency ?? 0 },
        { measure: 'agreement with truth', value: j.truthAgreement ?? 0 },
      ]
    : [];
  return {
    ...base,
    height: 100,
    title: j ? `Judge ${j.model}: ${j.calls} calls, ${j.cached} cached` : 'No judge calls this round',
    data: { values },
    mark: { type: 'bar', color: '#2f6fde' },
    encoding: {
      y: { field: 'measure', type: 'nominal', title: null },
      x: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' } },
    },
  };
}

function shadowSpec(d: ReportData): TopLevelSpec {
  const s = d.shadow;
  return {
    ...base,
    height: WIDTH * 0.6,
    title: s ? `Shadow: ${s.pairs} logged pairs, ${(100 * s.agreement).toFixed(1)}% same order` : 'Shadow: no logged traffic',
    data: { values: s?.points ?? [] },
    mark: { type: 'point', filled: true, opacity: 0.5, size: 14, color: '#2f6fde' },
    encoding: {
      x: { field: 'active', type: 'quantitative', title: 'active (normalized reward)' },
      y: { field: 'candidate', type: 'quantitative', title: 'candidate (normalized reward)' },
    },
  };
}

const SPECS: Record<PlotId, (d: ReportData) => TopLevelSpec> = {
  slices: slicesSpec,
  funnel: funnelSpec,
  strength: strengthSpec,
  reliability: reliabilitySpec,
  judge: judgeSpec,
  shadow: shadowSpec,
};

export async function renderReport(d: ReportData): Promise<string> {
  const plots = await Promise.all(PLOTS.map(async (id) => `<figure id="plot-${id}" class="plot">${await svg(SPECS[id](d))}</figure>`));
  const o = d.round.outcome;
  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '–');
  const sliceRows = d.slices
    .map((s) => `<tr><td>${esc(s.slice)}${s.guarded ? ' (guarded)' : ''}</td><td>${s.pairs}</td><td>${pct(s.active)}</td><td>${pct(s.candidate)}</td><td>${delta(s.candidate - s.active)}</td></tr>`)
    .join('');
  const stepRows = d.round.steps
    .map((s) => `<tr><td>${esc(s.name)}</td><td>${esc(s.status)}</td><td>${s.seconds ?? '–'}</td><td>${esc(Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', '))}</td></tr>`)
    .join('');
  const gate = d.gate
    ? `<p class="decision ${d.gate.passed ? 'pass' : 'fail'}">Gate ${d.gate.passed ? 'passed' : 'rejected the candidate'}</p><ul>${d.gate.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`
    : '<p>The round ended before the gate.</p>';
  const judgeErrors = d.judge ? Object.entries(d.judge.errors).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none' : '–';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Round ${esc(d.round.id)} · ${esc(d.round.model)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2430}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #e3e6ea;text-align:left}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}.plot{margin:0}
.decision{font-weight:600}.pass{color:#17803d}.fail{color:#b42318}
</style></head><body>
<h1>Round ${esc(d.round.id)} of ${esc(d.round.model)}</h1>
<p>Started ${esc(d.round.createdAt)} · status ${esc(d.round.status)} · active version ${d.activeVersion ?? '–'} · candidate version ${d.candidateVersion ?? '–'} · outcome: <b>${esc(o?.decision ?? 'none')}</b></p>
<h2>Gate decision</h2>${gate}
<h2>Slices: active vs candidate</h2>
<table><tr><th>slice</th><th>pairs</th><th>active</th><th>candidate</th><th>change</th></tr>${sliceRows}</table>
<h2>Plots</h2><div class="grid">${plots.join('\n')}</div>
<h2>Judge</h2><p>Errors by kind: ${esc(judgeErrors)}</p>
<h2>Steps</h2>
<table><tr><th>step</th><th>status</th><th>seconds</th><th>counts</th></tr>${stepRows}</table>
</body></html>
`;
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function delta(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const pts = 100 * x;
  return `${pts >= 0 ? '+' : ''}${pts.toFixed(1)} pts`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
