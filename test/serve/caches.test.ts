import { describe, expect, it } from 'vitest';
import { Caches, ENTRY_OVERHEAD, itemDigest, rewardKey } from '../../src/serve/caches.js';
import { SingleFlight } from '../../src/serve/single-flight.js';

const text = (o: Partial<{ system: string; prompt: string; response: string; reference: string }> = {}) =>
  ({ system: '', prompt: 'p', response: 'r', reference: '', ...o });

describe('itemDigest', () => {
  it('separates fields, so moving text across a boundary changes the key', () => {
    const keys = [
      itemDigest([], text({ prompt: 'ab', response: 'c' })),
      itemDigest([], text({ prompt: 'a', response: 'bc' })),
      itemDigest([], text({ system: 'a', prompt: 'b', response: 'c' })),
      itemDigest(['a'.repeat(64)], text()),
      itemDigest([], text()),
      itemDigest([], text({ reference: 'x' })),
      itemDigest(['a'.repeat(64), 'b'.repeat(64)], text()),
      itemDigest(['b'.repeat(64), 'a'.repeat(64)], text()),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(itemDigest(['a'.repeat(64)], text())).toBe(keys[3]);
    expect(rewardKey('m', 2, keys[0]!)).not.toBe(rewardKey('m', 3, keys[0]!));
  });
});

describe('Caches', () => {
  it('bounds image bytes by total size, each entry counted with its overhead, and copies a view that is a small part of its message', () => {
    const entry = 60 + ENTRY_OVERHEAD.image;
    const c = new Caches({ rewardEntries: 10, embeddingBytes: 1000, imageBytes: 2 * entry - 1 });
    const message = new Uint8Array(1000).fill(7);
    const view = message.subarray(0, 60);
    c.putImage('a', view);
    expect(c.image('a')!.buffer).not.toBe(message.buffer);
    c.putImage('b', new Uint8Array(60));
    // Two entries of 60 bytes + overhead do not fit in one byte less than that: the least recently used image goes.
    expect(c.image('a')).toBeUndefined();
    expect(c.image('b')).toBeDefined();
    c.putImage('huge', new Uint8Array(2 * entry));
    expect(c.image('huge')).toBeUndefined();
    expect(c.sizes().imageBytes).toBe(entry);
  });

  it('keeps a view that is nearly all of its buffer (a single item\'s image) without a copy, counted at the buffer\'s size', () => {
    const c = new Caches({ rewardEntries: 10, embeddingBytes: 1000, imageBytes: 10_000 });
    const message = new Uint8Array(1000).fill(7);
    const image = message.subarray(20, 1000);
    c.putImage('a', image);
    expect(c.image('a')!.buffer).toBe(message.buffer);
    expect(c.sizes().imageBytes).toBe(1000 + ENTRY_OVERHEAD.image);
    // 15/16 of the buffer is the least kept as a view: one byte less is copied.
    const edge = new Uint8Array(1600);
    c.putImage('b', edge.subarray(0, 1500));
    c.putImage('c', edge.subarray(0, 1499));
    expect(c.image('b')!.buffer).toBe(edge.buffer);
    expect(c.image('c')!.buffer).not.toBe(edge.buffer);
    expect(c.image('c')!.byteLength).toBe(1499);
  });

  it('counts an embedding at its floats plus its measured overhead', () => {
    const c = new Caches({ rewardEntries: 10, embeddingBytes: 10_000, imageBytes: 100 });
    c.putEmbedding('s', 'v', new Float32Array(108));
    expect(c.sizes().embeddingBytes).toBe(432 + ENTRY_OVERHEAD.embedding);
  });

  it('stores nothing when disabled (the naive server)', () => {
    const c = new Caches({ rewardEntries: 10, embeddingBytes: 1000, imageBytes: 100 }, false);
    c.putReward('k', { reward: 1, normalized: 1, spread: 0, truncated: false });
    c.putEmbedding('s', 'v', new Float32Array(2));
    c.putImage('a', new Uint8Array(4));
    expect([c.reward('k'), c.embedding('s', 'v'), c.image('a')]).toEqual([undefined, undefined, undefined]);
    expect(c.stats).toMatchObject({ rewardMisses: 1, embeddingMisses: 1, imageMisses: 1 });
  });
});

describe('SingleFlight', () => {
  it('runs one computation per key at a time and forgets it when settled, also on failure', async () => {
    const f = new SingleFlight<string, number>();
    let runs = 0;
    let release!: (n: number) => void;
    const a = f.run('k', () => { runs++; return new Promise<number>((r) => { release = r; }); });
    const b = f.run('k', () => { runs++; return Promise.resolve(-1); });
    release(5);
    expect(await Promise.all([a, b])).toEqual([5, 5]);
    expect([runs, f.joined]).toEqual([1, 1]);
    await expect(f.run('k', async () => { throw new Error('x'); })).rejects.toThrow('x');
    expect(await f.run('k', async () => 6)).toBe(6);
    expect(f.size).toBe(0);
  });
});

describe('Caches peeks (admission)', () => {
  it('tells whether a reward or an embedding is cached without counting a lookup', () => {
    const c = new Caches({ rewardEntries: 10, embeddingBytes: 10_000, imageBytes: 100 });
    c.putReward('k', { reward: 1, normalized: 1, spread: 0, truncated: false });
    c.putEmbedding('s', 'v', new Float32Array(2));
    expect([c.hasReward('k'), c.hasReward('x'), c.hasEmbedding('s', 'v'), c.hasEmbedding('s', 'other')]).toEqual([true, false, true, false]);
    expect(c.stats).toMatchObject({ rewardHits: 0, rewardMisses: 0, embeddingHits: 0, embeddingMisses: 0 });
  });
});
