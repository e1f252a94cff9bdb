/**
 * The last two decisions of a round: register the candidate as a version
 * (always, so a rejected candidate can be inspected and, by hand, activated),
 * then activate it if the gate passed. The ACTIVE pointer is what every
 * server replica follows; Activate on the admin service moves the same
 * pointer, so a round and an operator are equivalent callers.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { dims, MANIFEST_FILE, readManifest, type Manifest } from '../../src/model/manifest.js';
import { writeBundle } from '../../src/model/write.js';
import type { RoundConfig } from './config.js';
import { baseManifest, baseOf, registryOf } from './context.js';
import { CANDIDATE_BUNDLE } from './full-fit.js';
import { parseHeadOnnx } from '../dt2it/head-weights.js';
import { loadPairs } from './pairs-file.js';
import type { Step, StepResult } from './runner.js';
import type { GateOutput } from './steps.js';

export function registerStep(cfg: RoundConfig): Step {
  return {
    name: 'register',
    async run(ctx): Promise<StepResult> {
      const registry = registryOf(cfg);
      // A round killed after registering must not register a second copy.
      const existing = (await registry.list()).find((v) => v.manifest?.lineage.roundId === ctx.folder.id);
      const g = await ctx.folder.readJson<GateOutput>('gate.json');
      if (existing) {
        await ctx.folder.writeJson('register.json', { version: existing.version });
        return { counts: { version: existing.version, passed: g.decision.accept ? 1 : 0, reused: 1 } };
      }
      const base = await baseOf(ctx.folder);
      const m = await baseManifest(base);
      const curated = await loadPairs(ctx.folder, 'curated');
      const digest = createHash('sha256');
      for (const p of curated) digest.update(JSON.stringify([p.item.id, p.label ?? '', p.weight ?? 1]));
      const metrics: Record<string, number> = { 'gate.passed': g.decision.accept ? 1 : 0 };
      for (const s of g.slices) if (Number.isFinite(s.candidate)) metrics[`gate.${s.slice}`] = s.candidate;
      const lineage = { roundId: ctx.folder.id, datasetDigest: digest.digest('hex') };
      const notes = g.decision.accept
        ? `DT2IT round ${ctx.folder.id} (fit ${cfg.fit}) from version ${base.version}: gate passed`
        : `REJECTED by the gate of round ${ctx.folder.id} (fit ${cfg.fit}): ${g.decision.reasons.join('; ')}`;
      const tmp = await mkdtemp(join(tmpdir(), 'mrm-candidate-'));
      try {
        if (cfg.fit === 'full') await wholeBundle(ctx.folder.path(CANDIDATE_BUNDLE), tmp, { version: base.version + 1, parent: base.version, metrics, lineage, notes });
        else await headOnlyBundle(ctx.folder.path('candidate-head.onnx'), tmp, m, { version: base.version + 1, parent: base.version, metrics, lineage, notes, calibration: g.calibration, roundId: ctx.folder.id });
        const version = await registry.register(tmp);
        await ctx.folder.writeJson('register.json', { version });
        ctx.log.info('round.registered', { version, passed: g.decision.accept, fit: cfg.fit });
        return { counts: { version, passed: g.decision.accept ? 1 : 0 } };
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    },
  };
}

interface VersionFields {
  version: number;
  parent: number;
  metrics: Record<string, number>;
  lineage: { roundId: string; datasetDigest: string };
  notes: string;
}

/** Head-only: the frozen stages are the parent's, found by sha256 along the parent chain. */
async function headOnlyBundle(headFile: string, out: string, m: Manifest, o: VersionFields & { calibration: GateOutput['calibration']; roundId: string }): Promise<void> {
  const { dv, d } = dims(m);
  const head = new Uint8Array(await readFile(headFile));
  const { k } = parseHeadOnnx(head);
  await writeBundle(out, {
    name: m.name, version: o.version, parent: o.parent,
    vision: { sha256: m.files.vision.sha256 },
    encoder: { sha256: m.files.encoder.sha256 },
    tokenizer: { sha256: m.files.tokenizer.sha256 },
    head,
    sizes: { dv, d, k },
    image: m.preprocess.image,
    text: m.preprocess.text,
    calibration: { ...o.calibration, referenceSet: `round ${o.roundId} curated training responses` },
    metrics: o.metrics,
    lineage: o.lineage,
    notes: o.notes,
  });
}

/**
 * A full fine-tune: every file its own (torch.pt included, for the next
 * round), the manifest the engine wrote with the round's place in the
 * lineage; its calibration is the engine's, over the curated training set.
 */
async function wholeBundle(dir: string, out: string, o: VersionFields): Promise<void> {
  const m = await readManifest(join(dir, MANIFEST_FILE));
  for (const ref of Object.values(m.files)) if (ref.path) await copyFile(join(dir, ref.path), join(out, ref.path));
  const raw = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
  const manifest = {
    ...raw, version: o.version, parent: o.parent, createdAt: new Date().toISOString(),
    metrics: { ...m.metrics, ...o.metrics }, lineage: { ...m.lineage, ...o.lineage }, notes: `${o.notes}. ${m.notes ?? ''}`.trim(),
  };
  await writeFile(join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

export function activateStep(cfg: RoundConfig): Step {
  return {
    name: 'activate',
    async run(ctx): Promise<StepResult> {
      const { version } = await ctx.folder.readJson<{ version: number }>('register.json');
      const g = await ctx.folder.readJson<GateOutput>('gate.json');
      if (!g.decision.accept) {
        return { counts: { activated: 0 }, outcome: { decision: 'rejected', version, reasons: g.decision.reasons } };
      }
      const passed = g.decision.checks.map((c) => c.reason);
      if (!cfg.activate) {
        return { counts: { activated: 0 }, outcome: { decision: 'rejected', version, reasons: ['gate passed; activation is off for this round (activate: false)', ...passed] } };
      }
      await registryOf(cfg).activate(version, `round ${ctx.folder.id}: gate passed`);
      ctx.log.info('round.activated', { version });
      return { counts: { activated: 1, version }, outcome: { decision: 'activated', version, reasons: passed } };
    },
  };
}
