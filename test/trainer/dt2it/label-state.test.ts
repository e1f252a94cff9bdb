import { describe, expect, it } from 'vitest';
import { balancePosition } from '../../../trainer/dt2it/balance.js';
import { applyLabelState, fromPairRecord, labelState } from '../../../trainer/dt2it/label-state.js';
import { flipLabel } from '../../../trainer/dt2it/round-pair.js';
import type { PairRecord } from '../../../src/pairlog/record.js';
import { pair } from './synthetic.js';

describe('label state', () => {
  it('rebuilds a step\'s pairs (labels, strengths, weights, swapped sides) from the collected pairs', () => {
    const collected = Array.from({ length: 6 }, (_, i) => pair({ id: `p${i}`, fa: [i], fb: [-i], a: `A${i}`, b: `B${i}`, truth: 'a' }, i));
    const labeled = collected.map((p, i) => ({ ...p, label: 'a' as const, strength: i, weight: 1 + i / 10 }));
    const step = balancePosition(labeled, 3).output.map((p, i) => (i === 0 ? flipLabel(p) : p)).reverse();
    const state = labelState(step, new Map(collected.map((p) => [p.item.id, p.item.a])));
    expect(state.filter((s) => s.swapped).length).toBe(3);
    const back = applyLabelState(collected, JSON.parse(JSON.stringify(state)));
    expect(back.map((p) => [p.item.id, p.item.a, p.label, p.truth, p.strength, p.weight, [...p.fa]])).toEqual(
      step.map((p) => [p.item.id, p.item.a, p.label, p.truth, p.strength, p.weight, [...p.fa]]),
    );
    expect(() => applyLabelState(collected, [{ id: 'nope' }])).toThrow(/nope, which the round did not collect/);
  });

  it('turns a logged record into an unlabeled pair with the logged features', () => {
    const side = (response: string, f: number[]) => ({ response, reward: 0, heads: [0], spread: 0, features: Float32Array.from(f) });
    const rec: PairRecord = { id: 'r1', time: '', source: 'compare', model: 'm', version: 1, encoderSha256: '', images: ['x'], system: '', prompt: 'q?', reference: '', a: side('yes', [1, 2]), b: side('no', [3, 4]), margin: 0 };
    const p = fromPairRecord(rec, [new Uint8Array([1])]);
    expect(p.item).toEqual({ id: 'r1', images: [new Uint8Array([1])], prompt: 'q?', a: 'yes', b: 'no' });
    expect([...p.fa, ...p.fb]).toEqual([1, 2, 3, 4]);
    expect(p.label).toBeUndefined();
  });
});
