/**
 * A step's output as the round folder keeps it: the pairs' ids with their
 * labels, strengths and weights, not their features or images (those are in
 * the pair log and the collected set, and do not change within a round).
 * A resumed round rebuilds a step's pairs from the collected pairs and the
 * last finished step's label state.
 */
import type { PairRecord } from '../../src/pairlog/record.js';
import type { RoundPair, Side } from './round-pair.js';

export interface LabelState {
  id: string;
  /** Absent for an unlabeled pair. */
  label?: Side;
  strength?: number;
  weight?: number;
  /** The pair's sides were exchanged (position balance): a and b as the step left them. */
  swapped?: boolean;
}

/** `original` says which side was a when the pair was collected. */
export function labelState(pairs: readonly RoundPair[], original: ReadonlyMap<string, string>): LabelState[] {
  return pairs.map((p) => ({
    id: p.item.id,
    ...(p.label ? { label: p.label } : {}),
    ...(p.strength !== undefined ? { strength: p.strength } : {}),
    ...(p.weight !== undefined ? { weight: p.weight } : {}),
    ...(original.get(p.item.id) !== undefined && original.get(p.item.id) !== p.item.a ? { swapped: true } : {}),
  }));
}

export class UnknownPairError extends Error {
  override readonly name = 'UnknownPairError';
  readonly kind = 'unknown-pair';
}

/** The pairs of a step, in the state's order, rebuilt from the collected pairs. */
export function applyLabelState(collected: readonly RoundPair[], state: readonly LabelState[]): RoundPair[] {
  const byId = new Map(collected.map((p) => [p.item.id, p]));
  return state.map((s) => {
    const p = byId.get(s.id);
    if (!p) throw new UnknownPairError(`label state names pair ${s.id}, which the round did not collect`);
    const base: RoundPair = s.swapped
      ? { ...p, item: { ...p.item, a: p.item.b, b: p.item.a }, fa: p.fb, fb: p.fa, ...(p.truth ? { truth: p.truth === 'a' ? 'b' : 'a' } : {}) }
      : p;
    const { label: _l, strength: _s, weight: _w, ...rest } = base;
    return {
      ...rest,
      ...(s.label ? { label: s.label } : {}),
      ...(s.strength !== undefined ? { strength: s.strength } : {}),
      ...(s.weight !== undefined ? { weight: s.weight } : {}),
    };
  });
}

/** A logged pair as an unlabeled round pair; `images` are the bytes of `rec.images`, in order. */
export function fromPairRecord(rec: PairRecord, images: Uint8Array[]): RoundPair {
  return {
    item: {
      id: rec.id,
      images,
      ...(rec.system ? { system: rec.system } : {}),
      prompt: rec.prompt,
      ...(rec.reference ? { reference: rec.reference } : {}),
      a: rec.a.response,
      b: rec.b.response,
    },
    origin: 'logged',
    fa: rec.a.features,
    fb: rec.b.features,
  };
}
