/**
 * Seeded randomness for ShapesWorld. Every draw in the domain comes from an
 * `Rng`, and independent parts of a dataset take independent child streams
 * (`rng.child('pair', i)`), derived from the parent's seed and a label rather
 * than from the parent's state. That way the scene of pair #i is the same
 * whatever pair #(i-1) drew, and a split can be regenerated piecewise.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's small fast counter): 128 bits
 * of state, passes PractRand far beyond what a dataset needs, and is a few
 * 32-bit integer ops per draw.
 */

/** FNV-1a over the UTF-16 code units, then murmur3's finalizer to spread the bits. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The 32-bit seed of the stream `label` under `seed`. */
export function deriveSeed(seed: number, ...labels: readonly (string | number)[]): number {
  let s = seed >>> 0;
  for (const label of labels) s = hash32(`${s}/${String(label)}`);
  return s;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` is any finite number; non-integers and large values are hashed, not truncated. */
  static fromSeed(seed: number): Rng {
    return new Rng(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff ? seed : hash32(`seed:${seed}`));
  }

  /** `seed` is taken modulo 2^32; use `fromSeed` for arbitrary numbers. */
  constructor(readonly seed: number) {
    // splitmix32 expands the 32-bit seed into four words so that nearby seeds
    // (0, 1, 2, ...) do not start in nearby states.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      return fmix32(s);
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** An independent stream named by `labels`; does not advance this one. */
  child(...labels: readonly (string | number)[]): Rng {
    return new Rng(deriveSeed(this.seed, ...labels));
  }

  uint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  float(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new RangeError(`Rng.int: need integers lo <= hi, got ${lo}, ${hi}`);
    }
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: empty array');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** A shuffled copy (Fisher-Yates); the input is left alone. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }

  /** `k` distinct items, in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    if (k > items.length) throw new RangeError(`Rng.sample: ${k} of ${items.length}`);
    return this.shuffle(items).slice(0, k);
  }
}
