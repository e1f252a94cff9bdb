/**
 * V8's old-generation growing factor for the server's process.
 *
 * After each full collection V8 sets the next one's trigger at the live heap
 * times a factor it derives from how fast it collected against how fast the
 * program allocated. On the server it settled near its floor: with ~30 MiB
 * live (grpc-js, protobufjs, the caches' objects) and a trigger ~23 MiB
 * above it, V8 started incremental marking again right after each
 * mark-compact. One request in flight on one core (`node --trace-gc`,
 * 1,400 single items, 2026-12-02): 36 mark-compacts on the main thread, one
 * per ~40 calls, each a 9-11 ms pause after 10-26 ms of marking steps; the
 * client's p99 was 38.7 ms on a 5 ms p50. With the factor fixed at 2 (V8's
 * --heap-growing-percent=100): 9 mark-compacts, p99 25.8 ms; at 1.5: 21,
 * 30.4 ms. In pinned bench:serve A/Bs (README, Throughput and latency) the
 * server's CPU per single item was 1.85-1.87x the in-process path's with
 * it and 2.06-2.14x without.
 *
 * The cost is heap: up to twice the live old generation between
 * collections, where V8's own factor may reach 4 on a large machine anyway.
 * The flag is read at each collection, so setting it once at start-up,
 * before the server allocates, is enough (flags that change the heap's
 * structure, such as --single-threaded-gc, cannot be set this way).
 */
import { setFlagsFromString } from 'node:v8';

/** Sets the factor to 1 + percent / 100 (an integer, as the config validates it); 0 leaves V8's own dynamic factor. */
export function setHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
