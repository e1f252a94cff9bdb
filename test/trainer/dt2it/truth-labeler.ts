/**
 * A test-only PairLabeler that knows each pair's truth: it stands in for the
 * judges in unit tests of the steps, with the judges' failure modes as
 * knobs. Each call (pair, order) draws from its own seeded stream, so a
 * repeated call gives the same answer, as the judgment cache does.
 */
import type { JudgeOrders, LabelerStats, PairJudgment, PairLabeler, PairToJudge } from '../../../trainer/judges/types.js';
import { Rng } from '../../../trainer/shapes/rng.js';

export interface TruthLabelerConfig {
  /** Probability a call prefers the truly better response. */
  accuracy: number;
  /** Probability a call prefers whatever is shown first, before accuracy applies. */
  positionBias?: number;
  /** Probability a call prefers the longer response (when lengths differ), before accuracy applies. */
  verbosityBias?: number;
  /** Ids whose calls fail (no valid judgment). */
  failing?: Set<string>;
  seed?: number;
}

export class TruthLabeler implements PairLabeler {
  readonly model = 'truth-labeler';
  calls = 0;
  readonly requested: { id: string; orders: JudgeOrders }[] = [];
  /** `better`: the text of each pair's truly better response, by pair id (order-free, as a judge reads it). */
  constructor(private readonly better: Map<string, string>, private readonly cfg: TruthLabelerConfig) {}

  /** Which side one call prefers, in the pair's own a/b terms. */
  private call(p: PairToJudge, aFirst: boolean): 'a' | 'b' {
    const rng = Rng.fromSeed(this.cfg.seed ?? 1).child(p.id, aFirst ? 'ab' : 'ba');
    const uPos = rng.next();
    const uVerb = rng.next();
    const uAcc = rng.next();
    if (uPos < (this.cfg.positionBias ?? 0)) return aFirst ? 'a' : 'b';
    if (p.a.length !== p.b.length && uVerb < (this.cfg.verbosityBias ?? 0)) return p.a.length > p.b.length ? 'a' : 'b';
    const text = this.better.get(p.id);
    if (text === undefined || (text !== p.a && text !== p.b)) throw new Error(`truth labeler: unknown pair ${p.id}`);
    const t = text === p.a ? 'a' : 'b';
    return uAcc < this.cfg.accuracy ? t : t === 'a' ? 'b' : 'a';
  }

  async label(pairs: PairToJudge[], opts: { orders: JudgeOrders }): Promise<PairJudgment[]> {
    return pairs.map((p) => {
      this.requested.push({ id: p.id, orders: opts.orders });
      const orders = opts.orders === 'both' ? [true, false] : [Rng.fromSeed(this.cfg.seed ?? 1).child(p.id, 'order').bernoulli(0.5)];
      const votes = { a: 0, b: 0, tie: 0 };
      let sa = 0;
      let sb = 0;
      let valid = 0;
      for (const aFirst of orders) {
        this.calls++;
        if (this.cfg.failing?.has(p.id)) continue;
        const pick = this.call(p, aFirst);
        votes[pick]++;
        sa += pick === 'a' ? 8 : 4;
        sb += pick === 'b' ? 8 : 4;
        valid++;
      }
      return {
        id: p.id,
        scoreA: valid ? sa / valid : NaN,
        scoreB: valid ? sb / valid : NaN,
        votes,
        complete: valid === orders.length,
        calls: orders.length,
        cached: 0,
      };
    });
  }

  stats(): LabelerStats {
    return { calls: this.calls, cached: 0, malformed: 0, leaking: 0, rateLimited: 0, serverErrors: 0, timeouts: 0, connectionErrors: 0, tokens: 0, failed: 0 };
  }
}
