/**
 * The WebAssembly kernels against the JS ones they replace, on random inputs
 * of every shape the PNG path sends them (the JS kernels are themselves held
 * to sharp in png.test.ts), and the committed binary against its source.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { normalize, preprocessImage } from '../../../src/model/image.js';
import type { ImagePreprocess } from '../../../src/model/manifest.js';
import { unfilterJs, unfilterWasm, type Pixels } from '../../../src/model/png/decode.js';
import { resampleMatchesSharp, toModelSquare } from '../../../src/model/png/resample.js';
import { kernels } from '../../../src/model/png/kernels.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { WASM_FILE, assembleKernels } from '../../../scripts/build-wasm.js';
import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import { renderPng } from '../../../trainer/shapes/raster.js';

function rng(seed: number): (n: number) => number {
  const r = Rng.fromSeed(seed);
  return (n) => Math.floor(r.next() * n);
}

describe('kernels.wasm', () => {
  it('is what kernels.wat assembles to (run npm run build:wasm after editing the .wat)', async () => {
    const fresh = Buffer.from(await assembleKernels());
    expect(fresh.equals(await readFile(WASM_FILE))).toBe(true);
  });
});

describe('wasm unfilter', () => {
  it('undoes every filter type like unfilterJs, for 1-8 bytes per pixel and rows of 1-192 bytes', () => {
    const r = rng(11);
    for (let trial = 0; trial < 600; trial++) {
      const bpp = 1 + (trial % 8);
      // Rows of whole pixels (what PNG rows of 8 or more bits per pixel are,
      // and what the pixel-per-step SIMD loops take), and of any length.
      const n = trial % 16 < 8 ? bpp * (1 + r(24)) : 1 + r(70);
      const rows = 1 + r(9);
      const stride = n + 1;
      const lead = r(5); // bytes before the rows, as a later Adam7 pass has
      const buf = Uint8Array.from({ length: lead + rows * stride }, () => r(256));
      for (let y = 0; y < rows; y++) buf[lead + y * stride] = r(5);
      const js = buf.slice();
      const wasm = buf.slice();
      unfilterJs(js, lead, rows, stride, bpp, '');
      unfilterWasm(wasm, lead, rows, stride, bpp, '');
      expect(Buffer.from(wasm).equals(Buffer.from(js)), `trial ${trial}: bpp ${bpp}, ${rows} rows of ${n} bytes`).toBe(true);
    }
  });

  it('refuses a filter type past 4 with the same message, rows before it undone', () => {
    const r = rng(12);
    const stride = 13;
    const buf = Uint8Array.from({ length: 5 * stride }, () => r(256));
    for (let y = 0; y < 5; y++) buf[y * stride] = y === 3 ? 7 : 4;
    const js = buf.slice();
    const wasm = buf.slice();
    expect(() => unfilterJs(js, 0, 5, stride, 3, 'pass 2 ')).toThrow('pass 2 row 3 has filter type 7, not one of 0-4');
    expect(() => unfilterWasm(wasm, 0, 5, stride, 3, 'pass 2 ')).toThrow('pass 2 row 3 has filter type 7, not one of 0-4');
    expect(Buffer.from(wasm).equals(Buffer.from(js))).toBe(true);
  });
});

describe('wasm resample', () => {
  function image(r: (n: number) => number, width: number, height: number, channels: Pixels['channels']): Pixels {
    // Runs of flat colour and sharp edges (the clip matters there) mixed with noise.
    const data = new Uint8Array(width * height * channels);
    for (let i = 0; i < data.length; i++) data[i] = r(3) === 0 ? r(256) : r(2) * 255;
    return { width, height, channels, depth: 8, data };
  }

  it('gives the JS kernels\' bytes for 1-4 channels, odd and even sizes, either pass skipped', () => {
    const r = rng(13);
    let cases = 0;
    for (const size of [1, 3, 8, 13, 56]) {
      for (let trial = 0; trial < 24; trial++) {
        const channels = (1 + (trial % 4)) as Pixels['channels'];
        // Every shrink the PNG path takes (under 4x per axis), one axis left alone now and then.
        const pick = () => (r(5) === 0 ? size : size + r(3 * size));
        const [width, height] = [pick(), pick()];
        expect(resampleMatchesSharp(width, height, size)).toBe(true);
        const px = image(r, width, height, channels);
        const js = toModelSquare(px, size, 'js');
        const wasm = toModelSquare(px, size, 'wasm');
        expect(wasm.channels).toBe(js.channels);
        expect(Buffer.from(wasm.data).equals(Buffer.from(js.data)), `${width}x${height}x${channels} -> ${size}`).toBe(true);
        cases++;
      }
    }
    expect(cases).toBe(120);
  });

  it('flattens every 8-bit (value, alpha) pair onto white like the JS flatten, grey + alpha and RGBA', () => {
    // A 256 x 256 image whose pixel (x, y) holds value x and alpha y: no
    // resize at size 256, so the output is the flatten alone.
    for (const channels of [2, 4] as const) {
      const data = new Uint8Array(256 * 256 * channels);
      for (let y = 0; y < 256; y++) {
        for (let x = 0; x < 256; x++) {
          const p = (y * 256 + x) * channels;
          data.fill(x, p, p + channels - 1);
          if (channels === 4) data[p + 1] = 255 - x; // colours differ within a pixel
          data[p + channels - 1] = y;
        }
      }
      const px: Pixels = { width: 256, height: 256, channels, depth: 8, data };
      const js = toModelSquare(px, 256, 'js');
      const wasm = toModelSquare(px, 256, 'wasm');
      expect(wasm.channels).toBe(channels - 1);
      expect(Buffer.from(wasm.data).equals(Buffer.from(js.data)), `${channels} channels`).toBe(true);
    }
  });

  it('stays right from image size to image size, its memory grown for the largest', () => {
    const r = rng(14);
    for (const [w, h, size] of [[255, 255, 64], [17, 9, 5], [256, 256, 65], [128, 128, 56]] as const) {
      const px = image(r, w, h, 3);
      expect(Buffer.from(toModelSquare(px, size, 'wasm').data).equals(Buffer.from(toModelSquare(px, size, 'js').data))).toBe(true);
    }
    expect(kernels().fn.memory.buffer.byteLength).toBeGreaterThan(256 * 256 * 3);
  });
});

describe('wasm normalize', () => {
  it('writes (v / 255 - mean) / std as float32, planar, in channelOrder, into a slice of a larger tensor', () => {
    const r = rng(15);
    for (const [channels, channelOrder, size] of [[3, 'rgb', 7], [3, 'bgr', 56], [1, 'rgb', 5], [1, 'bgr', 9]] as const) {
      const spec: ImagePreprocess = { size, channelOrder, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], maxImages: 1, maxPixels: 1e6 };
      const plane = size * size;
      const rgb = Uint8Array.from({ length: plane * channels }, () => r(256));
      const all = new Float32Array(3 * 3 * plane).fill(-7);
      normalize(rgb, channels, spec, all.subarray(3 * plane, 6 * plane));
      const want = new Float32Array(3 * plane);
      for (let c = 0; c < 3; c++) {
        const from = channels === 1 ? 0 : channelOrder === 'rgb' ? c : 2 - c;
        for (let i = 0; i < plane; i++) want[c * plane + i] = (rgb[i * channels + from]! / 255 - spec.mean[c]!) / spec.std[c]!;
      }
      expect(Buffer.from(all.subarray(3 * plane, 6 * plane).buffer.slice(3 * plane * 4, 6 * plane * 4)).equals(Buffer.from(want.buffer)),
        `${channels} channels, ${channelOrder}, ${size} px`).toBe(true);
      // Its neighbours in the batch are untouched.
      expect(all.subarray(0, 3 * plane).every((v) => v === -7) && all.subarray(6 * plane).every((v) => v === -7)).toBe(true);
    }
  });
});

describe('kernels per thread', () => {
  it('instantiate in a worker thread too, which gets the same tensor as the main thread', async () => {
    const png = await renderPng(sampleSplit(5, 1)[0]!.images[0]!);
    const spec: ImagePreprocess = { size: 56, channelOrder: 'rgb', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], maxImages: 1, maxPixels: 1e6 };
    const here = await preprocessImage(png, spec, 'x');
    // As model-host.ts starts its worker: the .ts module through tsx's API.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
    const image = new URL('../../../src/model/image.ts', import.meta.url).href;
    const code = `const { parentPort, workerData } = await import('node:worker_threads');
      const { tsImport } = await import(${JSON.stringify(tsx)});
      const { preprocessImage } = await tsImport(${JSON.stringify(image)}, ${JSON.stringify(import.meta.url)});
      const out = await preprocessImage(workerData.png, workerData.spec, 'x');
      parentPort.postMessage(out);`;
    const worker = new Worker(`import(${JSON.stringify(`data:text/javascript,${encodeURIComponent(code)}`)})`, { eval: true, workerData: { png, spec } });
    const there = await new Promise<Float32Array>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(Buffer.from(there.buffer).equals(Buffer.from(here.buffer))).toBe(true);
  }, 30_000);
});
