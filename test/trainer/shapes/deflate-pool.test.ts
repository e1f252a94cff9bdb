import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DeflatePool, DeflatePoolError } from '../../../trainer/shapes/deflate-pool.js';

describe('DeflatePool', () => {
  it('deflates on workers, transferring whole buffers and copying views', async () => {
    const pool = new DeflatePool(2, { level: 6 });
    try {
      const whole = new Uint8Array(5000).map((_, i) => i % 7);
      const expected = Buffer.from(whole);
      const view = new Uint8Array(new ArrayBuffer(100)).subarray(10, 60).fill(3);
      const [a, b] = await Promise.all([pool.deflate(whole), pool.deflate(view)]);
      expect(Buffer.compare(inflateSync(a), expected)).toBe(0);
      expect(Buffer.compare(inflateSync(b), Buffer.alloc(50, 3))).toBe(0);
      expect(whole.byteLength).toBe(0); // transferred
      expect(view.byteLength).toBe(50); // copied
    } finally {
      await pool.close();
    }
  });

  it('rejects outstanding and later work once closed', async () => {
    const pool = new DeflatePool(1, {});
    const pending = expect(pool.deflate(new Uint8Array(1 << 20))).rejects.toBeInstanceOf(DeflatePoolError);
    await pool.close();
    await pending;
    await expect(pool.deflate(new Uint8Array(1))).rejects.toThrow('closed');
    expect(() => new DeflatePool(0, {})).toThrow(RangeError);
  });
});
