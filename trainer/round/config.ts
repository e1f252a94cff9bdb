/**
 * A round's settings, validated once where they enter (the admin service's
 * TriggerRound or `mrm round run --config`), and stored in the round's
 * folder so that a resumed round runs with the settings it started with.
 */
import { resolve } from 'node:path';
import { JsonReader } from '../../src/model/validate.js';
import { DATASET_FORMATS, type DatasetFormat } from '../shapes/formats.js';

export interface DataRef {
  dir: string;
  format: DatasetFormat;
}

/** What a round trains: a new head on the version's stored features, or the whole learned model. */
export const FIT_KINDS = ['head', 'full'] as const;
export type FitKind = (typeof FIT_KINDS)[number];

/** The PyTorch fine-tune of a 'full' round (trainer/torch, `mrm_torch.train --init-model`). */
export interface FullFitConfig {
  /** Passes over the curated set. */
  epochs: number;
  /** Step cap (0: none); with epochs, whichever ends first. */
  maxSteps: number;
  lr: number;
  batch: number;
  /** Keep the vision tower as it is (`--freeze-vision`): the encoder and heads train. */
  freezeVision: boolean;
}

export interface RoundConfig {
  stateDir: string;
  /** Registry model name. */
  model: string;
  /** The preference set the first round starts from; later rounds start from the last finished round's curated set. */
  base: DataRef | null;
  /** A labeled set whose labels the operator trusts (truth known): the gate's main evidence. */
  gate: DataRef | null;
  /** T2I triples: a JSONL file of {id, caption, better, worse} with image paths relative to it. */
  t2i: string | null;
  /** Judge settings (trainer/judges/config.ts keys); the API key comes from the environment, never from here. */
  judge: Record<string, unknown>;
  /** Share of judge-decided logged pairs held out of training for the gate. */
  heldOutShare: number;
  /** Logged pairs a round takes at most (oldest first); the rest wait for the next round. */
  maxLogged: number;
  /** Fewer logged pairs than this: the round ends without fitting (nothing new to learn). */
  minLogged: number;
  /** Overall gate accuracy the candidate must gain over the active version, in points. */
  gateMarginPts: number;
  /** Largest loss allowed on a guarded slice, in points. */
  gateTolerancePts: number;
  guardedSlices: string[];
  /** Logged pairs scored by both versions for the shadow comparison. */
  shadowPairs: number;
  /** Activate a candidate that passed the gate (false: register it only). */
  activate: boolean;
  /** 'head': fit a head on stored features (minutes, any version); 'full': fine-tune the whole learned model in PyTorch (needs a version with torch weights). */
  fit: FitKind;
  full: FullFitConfig;
  /**
   * A bundle directory whose frozen stages' features curation's scoring heads
   * are fitted on (trainer/round/curate-features.ts), instead of the version's
   * own features and head; null: the version's own.
   */
  curateWith: string | null;
  /** Curation sends every pair its step 1 flipped to the judges instead of keeping it on step 2's agreement (trainer/dt2it/curate-round.ts). */
  confirmFlips: boolean;
  seed: number;
  threads: number;
}

export const ROUND_DEFAULTS: Omit<RoundConfig, 'stateDir' | 'model'> = {
  base: null,
  gate: null,
  t2i: null,
  judge: {},
  // A fifth of the judged pairs: enough (hundreds) to see a judge-label
  // regression, while most judged pairs still train.
  heldOutShare: 0.2,
  // One round over 20,000 logged pairs fits in ~2 minutes here.
  maxLogged: 20_000,
  minLogged: 50,
  // Half a point: a real gain on a gate set of a few thousand pairs, not noise.
  gateMarginPts: 0.5,
  // One point on a guarded slice of a few hundred pairs is about one standard error.
  gateTolerancePts: 1,
  guardedSlices: ['grounded', 'style-adversarial', 't2i'],
  shadowPairs: 2000,
  activate: true,
  // Head-only by default: it works on every version (the shipped program
  // model has no PyTorch weights to fine-tune), costs seconds after
  // featurizing, and a head cannot forget what the frozen stages learned;
  // a full fine-tune is an operator's choice for a learned version.
  fit: 'head',
  full: {
    // The Bradley-Terry stage's own settings (2 epochs at mrm_torch.train's
    // 2e-3, the tower frozen), measured against the first defaults (1 epoch,
    // lr 5e-4, every weight training) by bench:learned-noise on 2026-12-01:
    // from a learned model trained on the noisy set, on a curated set whose
    // labels are 99.4% right, the first defaults reached 58.8% overall (mean
    // of 3 seeds; seed 1's loss stayed at 0.690), these 67.9 / 70.4 / 69.7%,
    // 82 / 90 / 88% of the way from the noisy model to the one trained on
    // true labels (trainer/torch/README.md, README.md "bench:learned-noise").
    // The curated set is a few thousand pairs; 2 passes did not memorize it
    // there (held-out accuracy rose with the loss falling to 0.55).
    epochs: 2,
    maxSteps: 0,
    lr: 2e-3,
    // mrm_torch.train's default: about 0.5 CPU s a step on the learned recipe.
    batch: 32,
    // The tower was pretrained on scene records and is frozen in the build;
    // a round's few thousand preference pairs are too few to move it well,
    // and frozen, its embeddings are computed once, so a step is cheaper.
    freezeVision: true,
  },
  // The version's own features by default: for the program model and its
  // head-only rounds they see content, and they need no second model. For a
  // learned model trained on noisy labels, point this at the label-free base
  // of its lineage (the pretrained tower and grounding stage exported with
  // no Bradley-Terry step): on its own features, 3 curation rounds took the
  // set's labels from 79% right down to 64% (bench:learned-noise, seed 1);
  // see README.md "The learned MRM on the same noisy set" for the base's.
  curateWith: null,
  // The paper's method by default: with scoring models that see content (the
  // program model's features) step 1's flips are mostly right and step 2
  // keeps them. With weaker scorers (heads on a learned model's features)
  // step 2's fit, trained on the flips, agrees with wrong ones too; then the
  // judges must confirm each flip (bench:learned-noise, README.md).
  confirmFlips: false,
  seed: 1,
  threads: 2,
};

export class RoundConfigError extends Error {
  override readonly name = 'RoundConfigError';
}

/** From JSON (file or RPC) to a validated config; unknown keys are errors. */
export function parseRoundConfig(value: unknown, source: string): RoundConfig {
  const r = JsonReader.root(source, value);
  const known = new Set(['stateDir', 'model', ...Object.keys(ROUND_DEFAULTS)]);
  for (const k of Object.keys(r.object())) if (!known.has(k)) throw new RoundConfigError(`${source}: unknown round config key '${k}' (known: ${[...known].join(', ')})`);
  const d = ROUND_DEFAULTS;
  const data = (key: 'base' | 'gate'): DataRef | null => r.opt(key, (v): DataRef | null => {
    const format = v.opt('format', (f) => f.string(), 'llamafactory');
    if (!(DATASET_FORMATS as readonly string[]).includes(format)) throw new RoundConfigError(`${source}: ${key}.format: expected one of ${DATASET_FORMATS.join(', ')}, got '${format}'`);
    return { dir: resolve(v.get('dir').string({ nonEmpty: true })), format: format as DatasetFormat };
  }, d[key]);
  const num = (key: keyof typeof d, o: { min?: number; max?: number; integer?: boolean }) => r.opt(key, (v) => v.number(o), d[key] as number);
  return {
    stateDir: resolve(r.get('stateDir').string({ nonEmpty: true })),
    model: r.get('model').string({ nonEmpty: true }),
    base: data('base'),
    gate: data('gate'),
    t2i: r.opt('t2i', (v): string | null => resolve(v.string({ nonEmpty: true })), d.t2i),
    judge: r.opt('judge', (v) => v.object(), d.judge),
    heldOutShare: num('heldOutShare', { min: 0, max: 0.9 }),
    maxLogged: num('maxLogged', { integer: true, min: 1 }),
    minLogged: num('minLogged', { integer: true, min: 0 }),
    gateMarginPts: num('gateMarginPts', { min: -100, max: 100 }),
    gateTolerancePts: num('gateTolerancePts', { min: 0, max: 100 }),
    guardedSlices: r.opt('guardedSlices', (v) => v.array().map((s) => s.string({ nonEmpty: true })), d.guardedSlices),
    shadowPairs: num('shadowPairs', { integer: true, min: 0 }),
    activate: r.opt('activate', (v) => v.boolean(), d.activate),
    fit: r.opt('fit', (v) => v.string({ oneOf: [...FIT_KINDS] }) as FitKind, d.fit),
    full: r.opt('full', (v): FullFitConfig => {
      for (const k of Object.keys(v.object())) if (!(k in d.full)) throw new RoundConfigError(`${source}: unknown key 'full.${k}' (known: ${Object.keys(d.full).join(', ')})`);
      return {
        epochs: v.opt('epochs', (x) => x.number({ positive: true, max: 100 }), d.full.epochs),
        maxSteps: v.opt('maxSteps', (x) => x.number({ integer: true, min: 0 }), d.full.maxSteps),
        lr: v.opt('lr', (x) => x.number({ positive: true, max: 1 }), d.full.lr),
        batch: v.opt('batch', (x) => x.number({ integer: true, min: 1, max: 4096 }), d.full.batch),
        freezeVision: v.opt('freezeVision', (x) => x.boolean(), d.full.freezeVision),
      };
    }, d.full),
    curateWith: r.opt('curateWith', (v): string | null => resolve(v.string({ nonEmpty: true })), d.curateWith),
    confirmFlips: r.opt('confirmFlips', (v) => v.boolean(), d.confirmFlips),
    seed: num('seed', { integer: true, min: 0 }),
    threads: num('threads', { integer: true, min: 1, max: 64 }),
  };
}
