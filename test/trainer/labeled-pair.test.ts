import { describe, expect, it } from 'vitest';
import { datasetDigest, type LabeledPair } from '../../trainer/data/labeled-pair.js';

const pair = (o: Partial<LabeledPair>): LabeledPair => ({ id: 'p', images: [], prompt: 'q', chosen: 'a', rejected: 'b', ...o });
const bytes = (s: string) => new TextEncoder().encode(s);

describe('datasetDigest', () => {
  it('tells apart data sets whose texts or image bytes only shift between fields, images or pairs', () => {
    const sets: LabeledPair[][] = [
      [pair({ images: [bytes('ab')] })],
      [pair({ images: [bytes('a'), bytes('b')] })],
      [pair({ images: [bytes('a')] }), pair({ images: [bytes('b')] })],
      [pair({ prompt: 'qa', chosen: '' })],
      [pair({ prompt: 'q', chosen: 'a' })],
      [pair({ chosen: 'b', rejected: 'a' })],
      [pair({}), pair({})],
      [pair({ id: 'p' }), pair({ id: 'q' })],
    ];
    const digests = sets.map(datasetDigest);
    expect(new Set(digests).size).toBe(sets.length);
    expect(datasetDigest([pair({ images: [bytes('ab')] })])).toBe(digests[0]);
  });
});
