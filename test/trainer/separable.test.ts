import { describe, expect, it } from 'vitest';
import { foldedHorizontalMatrices, horizontalAsymmetry, separate, symmetricEigen, verticalMatrix } from '../../trainer/shapesnet/separable.js';

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

  it('gives, as banded and folded matrices, what direct zero-padded correlation gives', () => {
    const k = 9;
    const n = 16;
    const rank = 4;
    // Symmetric about the vertical axis (as the vision templates are), not about the horizontal one.
    const blob = (r: number, dy: number) => Float32Array.from({ length: k * k }, (_, i) => (Math.hypot((i % k) - 4, Math.floor(i / k) - 4 - dy) <= r ? 1 : 0));
    const bank = separate([blob(2, 1), blob(3.5, 0), blob(3, -1)], k, rank);
    expect(horizontalAsymmetry(bank)).toBeLessThan(1e-6);
    const T = 3;
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
    const correlate = (f: Float32Array, off: number, v: Float32Array, o: number) => {
      let s = 0;
      for (let t = 0; t < k; t++) {
        const i = o + t - (k - 1) / 2;
        if (i >= 0 && i < n) s += f[off + t]! * v[i]!;
      }
      return s;
    };

    // Vertical: a column c times the [n, rank * n] matrix.
    const col = Float32Array.from({ length: n }, rand);
    const vm = verticalMatrix(bank, n);
    for (let b = 0; b < rank; b++) {
      for (let y = 0; y < n; y++) {
        let got = 0;
        for (let yi = 0; yi < n; yi++) got += col[yi]! * vm[yi * rank * n + b * n + y]!;
        expect(got).toBeCloseTo(correlate(bank.u, b * k, col, y), 5);
      }
    }

    // Horizontal, folded: o[x] = S E + A O and o[n-1-x] = S E - A O.
    const v = Array.from({ length: rank }, () => Float32Array.from({ length: n }, rand));
    const h = n / 2;
    const m = foldedHorizontalMatrices(bank, n);
    for (let t = 0; t < T; t++) {
      for (let x = 0; x < h; x++) {
        let se = 0;
        let ao = 0;
        for (let xi = 0; xi < h; xi++) {
          for (let b = 0; b < rank; b++) {
            const c = (t * h + x) * h * rank + xi * rank + b;
            se += m[c]! * (v[b]![xi]! + v[b]![n - 1 - xi]!);
            ao += m[T * h * h * rank + c]! * (v[b]![xi]! - v[b]![n - 1 - xi]!);
          }
        }
        const direct = (o: number) => v.reduce((s, vb, b) => s + correlate(bank.w, (t * rank + b) * k, vb, o), 0);
        expect(se + ao).toBeCloseTo(direct(x), 5);
        expect(se - ao).toBeCloseTo(direct(n - 1 - x), 5);
      }
    }
  });
});
