import { describe, expect, it } from 'vitest';
import { separate, symmetricEigen } from '../../trainer/shapesnet/separable.js';

describe('separable filter banks', () => {
  it('finds eigenpairs of a symmetric matrix', () => {
    const a = Float64Array.from([4, 1, 0, 1, 3, 1, 0, 1, 2]);
    const { values, vectors } = symmetricEigen(a, 3);
    for (let j = 0; j < 3; j++) {
      for (let i = 0; i < 3; i++) {
        let av = 0;
        for (let k = 0; k < 3; k++) av += a[i * 3 + k]! * vectors[k * 3 + j]!;
        expect(av).toBeCloseTo(values[j]! * vectors[i * 3 + j]!, 9);
      }
    }
  });

  it('is exact at full rank and loses accuracy gracefully below it', () => {
    const k = 9;
    const disk = (r: number) => Float32Array.from({ length: k * k }, (_, i) => (Math.hypot((i % k) - 4, Math.floor(i / k) - 4) <= r ? 1 : 0));
    const bank = [disk(2), disk(3.5), disk(4)];
    expect(separate(bank, k, k).error).toBeLessThan(1e-5);
    const errs = [1, 3, 5].map((r) => separate(bank, k, r).error);
    expect(errs[0]).toBeGreaterThan(errs[1]!);
    expect(errs[1]).toBeGreaterThan(errs[2]!);
  });
});
