/**
 * The record every ShapesWorld pair is: images, prompt, two responses, which
 * one is right, and the facts behind it. Ground truth (`truth`, `reference`,
 * `meta`) always travels with the pair, so a noisy annotation can be scored
 * against it later.
 */
import type { Numerals } from './grammar.js';
import type { ErrorKind, Style } from './policies.js';
import type { Answer, QType, Question } from './questions.js';
import type { CaptionSpec, T2IChange, T2IErrorKind } from './t2i.js';
import type { Scene } from './world.js';

/** `paraphrase` is an eval slice (held-out wordings, paraphrase.ts); last, so adding it moved no other slice's draws. */
export const SLICES = ['grounded', 'style-adversarial', 'style-aligned', 'description', 't2i', 'paraphrase'] as const;
export type Slice = (typeof SLICES)[number];

export interface QaMeta {
  qtype: QType;
  /** Styles of responses a and b. */
  styles: [Style, Style];
  errorKind: ErrorKind;
  question: Question;
  /** What responses a and b claim. */
  answers: [Answer, Answer];
  numerals: Numerals;
  /** The verbose template, when a response is verbose. */
  template: number;
  /** The claim template (paraphrase.ts), only when not the grammar's own (0). */
  claimTemplate?: number;
  /** Present (true) when the wording is one held out of every training split. */
  heldOut?: true;
}

export interface T2IMeta {
  qtype: 't2i';
  styles: ['plain', 'plain'];
  errorKind: T2IErrorKind;
  caption: string;
  captionSpec: CaptionSpec;
  change: T2IChange;
  betterFirst: boolean;
}

export type PairMeta = QaMeta | T2IMeta;

export interface PairSample {
  id: string;
  slice: Slice;
  /** One scene; two for t2i (in prompt order). */
  images: Scene[];
  system?: string;
  prompt: string;
  responses: [string, string];
  /** Which response is correct. */
  truth: 'a' | 'b';
  /** The exact reference answer. */
  reference?: string;
  meta: PairMeta;
}
