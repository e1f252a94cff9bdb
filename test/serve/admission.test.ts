import { describe, expect, it } from 'vitest';
import { Admission, AdmissionRefused, requestCost, StageRate } from '../../src/serve/admission.js';
import { headerBomb } from '../fixtures/png.js';

const MiB = 2 ** 20;

describe('admission', () => {
  it('reserves bytes until released and refuses what does not fit, naming the budget', () => {
    const a = new Admission({ maxInflightBytes: 10 * MiB, deadlineShedding: false }, new StageRate(2), new StageRate(0.2));
    const r1 = a.admit({ bytes: 6 * MiB, images: 1, units: 1 }, Infinity);
    const err = (() => { try { a.admit({ bytes: 5 * MiB, images: 1, units: 1 }, Infinity); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(AdmissionRefused);
    expect((err as Error).message).toMatch(/6\.0 MiB of the 10\.0 MiB in-flight budget \(admission\.maxInflightBytes\).*needs 5\.0 MiB/);
    expect((err as AdmissionRefused).retryAfterMs).toBeGreaterThanOrEqual(10);
    r1();
    r1(); // idempotent
    const r2 = a.admit({ bytes: 5 * MiB, images: 1, units: 1 }, Infinity);
    expect(a.snapshot()).toMatchObject({ admitted: 2, refusedBytes: 1, inflightBytes: 5 * MiB, peakInflightBytes: 6 * MiB });
    r2();
    expect(a.snapshot().inflightBytes).toBe(0);
  });

  it('admits a request larger than the budget when nothing else is in flight, so it is slow rather than impossible', () => {
    const a = new Admission({ maxInflightBytes: MiB, deadlineShedding: false }, new StageRate(2), new StageRate(0.2));
    const r = a.admit({ bytes: 5 * MiB, images: 1, units: 1 }, Infinity);
    expect(() => a.admit({ bytes: 1, images: 0, units: 1 }, Infinity)).toThrow(AdmissionRefused);
    r();
  });

  it('refuses a request whose deadline the queued work ahead cannot meet', () => {
    const a = new Admission({ maxInflightBytes: 0, deadlineShedding: true }, new StageRate(2), new StageRate(0.5));
    const held = Array.from({ length: 100 }, () => a.admit({ bytes: 1, images: 1, units: 1 }, Infinity));
    // 100 images x 2 ms + 100 units x 0.5 ms = 250 ms ahead, + 2.5 ms of its own.
    expect(a.expectedMs({ bytes: 1, images: 1, units: 1 })).toBeCloseTo(252.5);
    expect(() => a.admit({ bytes: 1, images: 1, units: 1 }, 200)).toThrow(/needs ~253 ms, more than the 200 ms left/);
    expect(a.admit({ bytes: 1, images: 1, units: 1 }, 300)).toBeTypeOf('function');
    held.forEach((r) => r());
    expect(a.admit({ bytes: 1, images: 1, units: 1 }, 200)).toBeTypeOf('function');
    expect(a.snapshot().refusedDeadline).toBe(1);
  });

  it('learns stage rates from batches', () => {
    const r = new StageRate(10);
    for (let i = 0; i < 30; i++) r.observe(16, 8);
    expect(r.perEntry).toBeCloseTo(2, 1);
  });

  it('counts a PNG at its decoded size from the header, before decoding', () => {
    const bomb = headerBomb(4000, 3000);
    const c = requestCost([{ data: bomb }, {}], 2, 100, 196_608);
    expect(c.images).toBe(1);
    expect(c.bytes).toBe(100 + bomb.length + 4000 * 3000 * 4 + 196_608);
  });
});
