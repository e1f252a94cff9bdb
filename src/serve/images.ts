/**
 * The image stage of the request path: image references -> embeddings.
 *
 * Per request, each distinct image (by sha256) is looked up once: the
 * embedding cache, then a computation another request already has in flight,
 * then its bytes (sent in this request, or cached from an earlier one). So a
 * group of N responses, or N concurrent requests, sharing one image decode it
 * and run the vision stage once. The steps are ordered so that the model never
 * runs for a request that will fail: all references are resolved (NOT_FOUND)
 * before anything is decoded, and all decoding (INVALID_ARGUMENT for bad
 * images) finishes before the request's images are queued for the vision
 * stage, which happens in one all-or-nothing submission.
 *
 * With caches off (the naive server) nothing is shared: every image of every
 * item is decoded and embedded on its own.
 */
import { preprocessImage } from '../model/image.js';
import type { Caches } from './caches.js';
import { deadReason, type Liveness } from './context.js';
import { isDropped, relabel, ServeError } from './errors.js';
import type { ImageRef } from './request.js';
import { SingleFlight } from './single-flight.js';
import type { ServedVersion } from './versions.js';
import type { RpcTrace } from '../telemetry/spans.js';

export interface ImageStats {
  /** Images decoded (sharp). */
  decoded: number;
  /** Images sent to the vision stage. */
  embedded: number;
  /** Times a request joined another request's in-flight decode or embedding. */
  joined: number;
  /** sha256 references that were not found. */
  unknown: number;
}

/** One image to produce: a distinct sha256 (shared mode) or one reference (naive mode). */
interface Slot {
  key: string;
  sha: string;
  field: string;
  data?: Uint8Array;
}

export class ImageStage {
  private counts = { decoded: 0, embedded: 0, unknown: 0 };
  private readonly decodes: SingleFlight<string, Float32Array>;
  private readonly embeds: SingleFlight<string, Float32Array>;

  constructor(private readonly caches: Caches, private readonly share: boolean) {
    this.decodes = new SingleFlight(share);
    this.embeds = new SingleFlight(share);
  }

  get stats(): ImageStats {
    return { ...this.counts, joined: this.decodes.joined + this.embeds.joined };
  }

  /** One embedding per reference, in order. */
  async embed(refs: ImageRef[], v: ServedVersion, live: Liveness, rt: RpcTrace | null = null): Promise<Float32Array[]> {
    if (refs.length === 0) return [];
    const slots = this.slots(refs, v);
    const bySlot = await this.embedSlots([...slots.values()], v, live, true, rt);
    return refs.map((r, i) => bySlot.get(this.share ? `${r.sha}:${v.visionSha}` : String(i))!);
  }

  private slots(refs: ImageRef[], v: ServedVersion): Map<string, Slot> {
    // Bytes sent anywhere in the request resolve references to the same sha256 elsewhere in it.
    const sent = new Map<string, Uint8Array>();
    for (const r of refs) if (r.data && !sent.has(r.sha)) sent.set(r.sha, r.data);
    const slots = new Map<string, Slot>();
    refs.forEach((r, i) => {
      const key = this.share ? `${r.sha}:${v.visionSha}` : String(i);
      if (slots.has(key)) return;
      const data = r.data ?? sent.get(r.sha);
      slots.set(key, { key, sha: r.sha, field: r.field, ...(data ? { data } : {}) });
    });
    return slots;
  }

  private async embedSlots(slots: Slot[], v: ServedVersion, live: Liveness, allowJoin: boolean, rt: RpcTrace | null): Promise<Map<string, Float32Array>> {
    const done = new Map<string, Float32Array>();
    const joined = new Map<string, Promise<Float32Array>>();
    const compute: (Slot & { bytes: Uint8Array })[] = [];

    // 1. Resolve every reference before any work: cache, in-flight, bytes, or NOT_FOUND.
    for (const s of slots) {
      const cached = this.caches.embedding(s.sha, v.visionSha);
      const inFlight = cached || !allowJoin ? undefined : this.embeds.join(s.key);
      if (cached) done.set(s.key, cached);
      else if (inFlight) joined.set(s.key, inFlight);
      else {
        const bytes = s.data ?? this.caches.image(s.sha);
        if (!bytes) {
          this.counts.unknown++;
          throw new ServeError('unknown-image',
            `unknown image sha256 ${s.sha}: this server has not received it (or has evicted it); resend the image bytes in \`data\``, `${s.field}.sha256`);
        }
        compute.push({ ...s, bytes });
      }
    }

    // 2. Decode everything this request must compute; report the first bad image in request order.
    const spec = v.manifest.preprocess.image;
    // Counted until this request has submitted (below, synchronously after the
    // decodes) or failed: while it decodes, the vision stage may wait for it.
    v.preparingImages++;
    let settled: PromiseSettledResult<Float32Array>[];
    try {
      settled = await Promise.allSettled(compute.map((s) => this.decodes.run(s.key, () => {
        this.counts.decoded++;
        return preprocessImage(s.bytes, spec, s.field);
      })));
    } finally {
      v.preparingImages--;
    }
    const failed = settled.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) throw relabel((settled[failed] as PromiseRejectedResult).reason, compute[failed]!.field);
    for (const s of compute) if (s.data) this.caches.putImage(s.sha, s.data);

    // 3. One submission for the images nobody computed meanwhile; decided in one
    //    synchronous pass, so two requests cannot both submit the same image.
    const dead = deadReason(live);
    if (dead) throw dead;
    const submit: { slot: Slot; pixels: Float32Array }[] = [];
    compute.forEach((s, i) => {
      const cached = this.caches.embedding(s.sha, v.visionSha, true);
      const inFlight = cached || !allowJoin ? undefined : this.embeds.join(s.key);
      if (cached) done.set(s.key, cached);
      else if (inFlight) joined.set(s.key, inFlight);
      else submit.push({ slot: s, pixels: (settled[i] as PromiseFulfilledResult<Float32Array>).value });
    });
    const st = submit.length > 0 ? rt?.stage('vision') : undefined;
    const outs = submit.length > 0 ? v.vision.submit(submit.map((x) => x.pixels), live, st) : [];
    this.counts.embedded += submit.length;
    const own = submit.map(({ slot }, i) => this.embeds.run(slot.key, () => outs[i]!.then((e) => {
      this.caches.putEmbedding(slot.sha, v.visionSha, e);
      return e;
    })));

    // 4. Wait. A joined computation dropped because *its* caller went away is
    //    redone for this caller, if this one is still waiting.
    const results = await Promise.allSettled([...own, ...joined.values()]);
    st?.done();
    const keys = [...submit.map((x) => x.slot.key), ...joined.keys()];
    const redo: Slot[] = [];
    results.forEach((r, i) => {
      const key = keys[i]!;
      if (r.status === 'fulfilled') done.set(key, r.value);
      else if (i >= submit.length && isDropped(r.reason) && !deadReason(live)) redo.push(slots.find((s) => s.key === key)!);
      else throw r.reason;
    });
    if (redo.length > 0) for (const [k, e] of await this.embedSlots(redo, v, live, false, rt)) done.set(k, e);
    return done;
  }
}
