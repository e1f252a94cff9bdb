/**
 * Low-rank separable form of a bank of 2-D filters: every filter T_t (K x K)
 * is approximated as U W_t^T, with a vertical basis U (K x B) shared by all
 * filters and a horizontal filter W_t (K x B) per filter. As two convolutions
 * (K x 1 into B channels, then 1 x K out to the bank) this costs (1 + T) B K
 * multiply-adds a pixel instead of T K^2. For the vision stage's six 23 x 23
 * templates, B = 12 ran in about a third of the time of the exact grouped
 * convolutions with the same detection counts (98% of scenes exact).
 */

/** Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations; columns of `vectors` are eigenvectors. */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!;
          const mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!;
          const mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => m[i * n + i]!), vectors: v };
}

export interface SeparableBank {
  k: number;
  rank: number;
  /** [rank, K]: vertical filters, basis b is u[b * K .. (b + 1) * K]. */
  u: Float32Array;
  /** [T, rank, K]: horizontal filters of each bank filter for each basis. */
  w: Float32Array;
  /** Relative Frobenius error of the approximation over the bank. */
  error: number;
}

/** filters: T row-major K x K filters (rows are y). */
export function separate(filters: Float32Array[], k: number, rank: number): SeparableBank {
  // Gram matrix of the rows' column space: sum_t T_t T_t^T (K x K).
  const gram = new Float64Array(k * k);
  for (const f of filters) {
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      let s = 0;
      for (let x = 0; x < k; x++) s += f[i * k + x]! * f[j * k + x]!;
      gram[i * k + j]! += s;
    }
  }
  const { values, vectors } = symmetricEigen(gram, k);
  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => values[b]! - values[a]!).slice(0, rank);
  const u = new Float32Array(rank * k);
  order.forEach((col, b) => { for (let y = 0; y < k; y++) u[b * k + y] = vectors[y * k + col]!; });
  const w = new Float32Array(filters.length * rank * k);
  let err = 0;
  let norm = 0;
  filters.forEach((f, t) => {
    // W_t = T_t^T U: the horizontal profile of T_t along each basis.
    for (let b = 0; b < rank; b++) for (let x = 0; x < k; x++) {
      let s = 0;
      for (let y = 0; y < k; y++) s += f[y * k + x]! * u[b * k + y]!;
      w[(t * rank + b) * k + x] = s;
    }
    for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) {
      let approx = 0;
      for (let b = 0; b < rank; b++) approx += u[b * k + y]! * w[(t * rank + b) * k + x]!;
      err += (approx - f[y * k + x]!) ** 2;
      norm += f[y * k + x]! ** 2;
    }
  });
  return { k, rank, u, w, error: Math.sqrt(err / norm) };
}

/*
 * The bank as matrix products. onnxruntime's CPU convolutions run a K x 1 or
 * 1 x K filter at a few tens of GFLOPS (the 12 -> 6 channel 1 x K pass ran
 * at about 4 ms a 56 px image), while its GEMM runs near the machine's peak
 * even with the zeros of a banded (Toeplitz) matrix. So the vision stage
 * writes each pass as a MatMul against the matrices below.
 */

/** Tap of a correlation filter of odd length k (taps f[off..off+k)) taking input i to output o; 0 outside the filter. */
function tap(f: Float32Array, off: number, k: number, o: number, i: number): number {
  const t = i - o + (k - 1) / 2;
  return t >= 0 && t < k ? f[off + t]! : 0;
}

/**
 * The vertical pass over n input rows as an [n, rank * n] matrix: row y' of
 * an image (as a column, y' fastest) times it gives, at column b * n + y,
 * the basis-b response at output row y (zero padding at the borders).
 */
export function verticalMatrix(bank: SeparableBank, n: number): Float32Array {
  const { k, rank, u } = bank;
  const m = new Float32Array(n * rank * n);
  for (let yi = 0; yi < n; yi++) for (let b = 0; b < rank; b++) for (let y = 0; y < n; y++) m[(yi * rank + b) * n + y] = tap(u, b * k, k, y, yi);
  return m;
}

/** Largest |w[x] - w[k-1-x]| over the bank's horizontal filters: 0 when every template is symmetric about its vertical axis. */
export function horizontalAsymmetry(bank: SeparableBank): number {
  const { k, w } = bank;
  let worst = 0;
  for (let f = 0; f < w.length / k; f++) for (let x = 0; x < k; x++) worst = Math.max(worst, Math.abs(w[f * k + x]! - w[f * k + k - 1 - x]!));
  return worst;
}

/**
 * The horizontal pass (basis responses -> the T bank filters) over n input
 * columns, folded about the centre: for a signal v on 0..n-1 let
 * E[x] = v[x] + v[n-1-x] and O[x] = v[x] - v[n-1-x] (x < n/2). With filters
 * symmetric about their centre (horizontalAsymmetry 0), the bank output o
 * satisfies, for x < n/2,
 *   o[x]       = S E + A O,
 *   o[n-1-x]   = S E - A O,
 * with S, A the two [T * n/2, n/2 * rank] matrices returned as
 * [2, T * n/2, n/2 * rank]: row t * n/2 + x, column x' * rank + b. That is
 * half the multiply-adds of the unfolded [T * n, n * rank] matrix.
 */
export function foldedHorizontalMatrices(bank: SeparableBank, n: number): Float32Array {
  const { k, rank, w } = bank;
  const T = w.length / (rank * k);
  const h = n / 2;
  if (!Number.isInteger(h)) throw new RangeError(`folding needs an even side, got ${n}`);
  const out = new Float32Array(2 * T * h * h * rank);
  for (let t = 0; t < T; t++) for (let b = 0; b < rank; b++) {
    const off = (t * rank + b) * k;
    for (let x = 0; x < h; x++) for (let xi = 0; xi < h; xi++) {
      const near = tap(w, off, k, x, xi);
      const far = tap(w, off, k, x, n - 1 - xi);
      const col = (t * h + x) * h * rank + xi * rank + b;
      out[col] = (near + far) / 2;
      out[T * h * h * rank + col] = (near - far) / 2;
    }
  }
  return out;
}
