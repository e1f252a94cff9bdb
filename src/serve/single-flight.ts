/**
 * At most one computation per key at a time: concurrent callers asking for the
 * same missing value (N requests that bring the same new image) share the
 * first caller's promise instead of each decoding and embedding it.
 *
 * The shared computation runs on the first caller's liveness. If that caller
 * goes away, its queued work is dropped; a joiner that is still waiting sees a
 * dropped error and calls `run` again, which starts a fresh computation.
 */
export class SingleFlight<K, V> {
  private readonly inFlight = new Map<K, Promise<V>>();
  /** Callers that joined an existing computation. */
  joined = 0;

  constructor(private readonly enabled = true) {}

  run(key: K, compute: () => Promise<V>): Promise<V> {
    const existing = this.join(key);
    if (existing) return existing;
    const p = compute();
    if (!this.enabled) return p;
    this.inFlight.set(key, p);
    // Forget it when settled, whether it failed or not: a failure is not cached.
    const forget = () => {
      if (this.inFlight.get(key) === p) this.inFlight.delete(key);
    };
    p.then(forget, forget);
    return p;
  }

  /** The in-flight computation for `key`, joined, if there is one. */
  join(key: K): Promise<V> | undefined {
    const existing = this.enabled ? this.inFlight.get(key) : undefined;
    if (existing) this.joined++;
    return existing;
  }

  get size(): number {
    return this.inFlight.size;
  }
}
