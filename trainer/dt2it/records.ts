/**
 * Labeled round pairs as preference records (chosen = the pair's label, its
 * truth and style/length weight riding along) and the PNGs they name, keyed
 * by sha256: what `mrm round export` writes for a round's curated set and
 * what a PyTorch fine-tune reads. Where the bytes come from is the caller's:
 * a round reads them from image references, a benchmark holds them.
 */
import { sha256Hex } from '../../src/model/digest.js';
import type { PreferenceRecord } from '../shapes/formats.js';
import { chosenText, labelOf, rejectedText, type RoundPair } from './round-pair.js';

export interface PairRecords {
  records: PreferenceRecord[];
  pngs: Map<string, Uint8Array>;
}

/** `images(p)`: the pair's image bytes in order. Unlabeled pairs are skipped (nothing to prefer). */
export async function pairRecords<P extends RoundPair>(pairs: readonly P[], images: (p: P) => Promise<Uint8Array[]>): Promise<PairRecords> {
  const pngs = new Map<string, Uint8Array>();
  const records: PreferenceRecord[] = [];
  for (const p of pairs) {
    if (!p.label) continue;
    const keys: string[] = [];
    for (const bytes of await images(p)) {
      const key = sha256Hex(bytes);
      pngs.set(key, bytes);
      keys.push(key);
    }
    const label = labelOf(p);
    records.push({
      id: p.item.id,
      images: keys,
      ...(p.item.system ? { system: p.item.system } : {}),
      prompt: p.item.prompt,
      chosen: chosenText(p),
      rejected: rejectedText(p),
      // The truth, where known (ShapesWorld), rides along; LLaMA-Factory and the trainer's loss ignore it.
      ...(p.truth ? { truth: p.truth === label ? 'chosen' as const : 'rejected' as const } : {}),
      ...(p.slice ? { slice: p.slice } : {}),
      // The style/length balance the head fit weights pairs by; the PyTorch trainer reads it too.
      ...(p.weight !== undefined && p.weight !== 1 ? { weight: p.weight } : {}),
    });
  }
  return { records, pngs };
}
