/**
 * The detail cache: heads and features of recently scored items, kept while
 * the pair log is on so that a later call that hits the reward cache can
 * still log its pairs. Every reward the server computes is put here, so a
 * put is on the hot path of every call.
 *
 * One preallocated Float32Array holds all entries in fixed slots, reused in
 * insertion order (oldest out first): a put is a map lookup and a copy into
 * a slot, with no object of its own. An LRU cache of one Float32Array per
 * entry made ~2,000 arrays a second that all lived for many seconds, which
 * the garbage collector copied, promoted and marked, and the LRU's own
 * bookkeeping (size callback, list nodes) on top: most of what the log cost
 * a group call. Oldest-first loses little against least-recently-used here:
 * a pair is logged when it is first unsure, and a repeat is deduplicated.
 *
 * get() returns copies: a slot is reused after `capacity` more puts, and a
 * call that waits long enough for its other items (tens of seconds) would
 * otherwise log another item's features. Gets are rare next to puts (only
 * reward cache hits ask), and their copies die young.
 */

/**
 * Per entry besides its floats: the key string (the reward cache's key,
 * ~60 characters; kept alive by this map after the reward entry is evicted),
 * its Map entry, and its slot in the key and length arrays: ~160 bytes
 * (V8 strings of that length are ~80 bytes, a Map entry ~30, the arrays' 12).
 */
export const DETAIL_ENTRY_OVERHEAD = 160;

export class DetailStore {
  private floats = new Float32Array(0);
  /** Floats per slot: the largest heads + features put so far (a version with more resets the store). */
  private stride = 0;
  private capacity = 0;
  private keys: (string | undefined)[] = [];
  /** Floats used in each slot (a smaller version's entries leave the rest unused). */
  private lengths = new Uint32Array(0);
  private readonly slots = new Map<string, number>();
  private next = 0;

  constructor(private readonly bytes: number) {}

  /** Copies heads then features into the key's slot (the oldest slot when the key is new). */
  put(key: string, heads: ArrayLike<number>, features: ArrayLike<number>): void {
    const n = heads.length + features.length;
    if (n > this.stride) this.reset(n);
    if (this.capacity === 0) return;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.next;
      this.next = slot + 1 === this.capacity ? 0 : slot + 1;
      const old = this.keys[slot];
      if (old !== undefined) this.slots.delete(old);
      this.keys[slot] = key;
      this.slots.set(key, slot);
    }
    const at = slot * this.stride;
    this.floats.set(heads, at);
    this.floats.set(features, at + heads.length);
    this.lengths[slot] = n;
  }

  /** Copies of the key's heads (the first k floats) and features, if still held. */
  get(key: string, k: number): { heads: Float32Array; features: Float32Array } | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    const at = slot * this.stride;
    return { heads: this.floats.slice(at, at + k), features: this.floats.slice(at + k, at + this.lengths[slot]!) };
  }

  get size(): number {
    return this.slots.size;
  }

  /** Bytes the held entries account for (their slots and overhead); at most the budget. */
  get usedBytes(): number {
    return this.slots.size * (4 * this.stride + DETAIL_ENTRY_OVERHEAD);
  }

  /**
   * Sizes the store for entries of n floats and drops what it held: once
   * when the first item is scored, again only if a version with more heads
   * or features is served (a smaller one fits in the same slots).
   */
  private reset(n: number): void {
    this.stride = n;
    this.capacity = Math.floor(this.bytes / (4 * n + DETAIL_ENTRY_OVERHEAD));
    this.floats = new Float32Array(this.capacity * n);
    this.keys = new Array<string | undefined>(this.capacity);
    this.lengths = new Uint32Array(this.capacity);
    this.slots.clear();
    this.next = 0;
  }
}
