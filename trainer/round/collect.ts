/**
 * Step 1 of a round, collect: everything the round will learn from, as round
 * pairs with features from the version being improved.
 *
 * - logged: the low-confidence pairs the servers logged since the last
 *   round's cursor, with the features the server computed (no image is
 *   decoded again). Pairs whose features came from another encoder (an
 *   older full fine-tune) cannot be mixed in and are counted as stale.
 * - train: the current training set: the last activated round's curated
 *   set when its features fit this encoder, else the configured base set.
 * - gate: the trusted labeled set; t2i: the T2I triples, reformulated.
 *
 * The log cursor is committed only after the step's outputs are on disk, so
 * a round killed before that reads the same records again.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PairLogReader } from '../../src/pairlog/reader.js';
import { listRounds, RoundFolder } from '../../src/rounds/folder.js';
import { loadDataset } from '../data/datasets.js';
import type { LabeledPair } from '../data/labeled-pair.js';
import { fromLabeled, type PairOrigin } from '../dt2it/round-pair.js';
import { reformulateT2I, type T2ITriple } from '../dt2it/t2i.js';
import { readDataset } from '../shapes/dataset.js';
import type { RoundConfig, DataRef } from './config.js';
import { activeBase, CONTEXT_FILE, featurize, type BaseVersion } from './context.js';
import { torchStart } from './full-fit.js';
import { loadPairs, savePairs, type StoredPair } from './pairs-file.js';
import type { Step } from './runner.js';

/** The consumer name of a model's rounds in the pair log's cursors. */
export const logConsumer = (model: string) => `round-${model}`;

export function collectStep(cfg: RoundConfig): Step {
  return {
    name: 'collect',
    async run(ctx) {
      const base = await activeBase(cfg);
      // A 'full' round that cannot fine-tune this version fails here, before any judge call.
      if (cfg.fit === 'full') await torchStart(cfg, base);
      await ctx.folder.writeJson(CONTEXT_FILE, base);
      const reader = await PairLogReader.open(cfg.stateDir, logConsumer(cfg.model));
      const logged: StoredPair[] = [];
      const seen = new Set<string>();
      let stale = 0;
      let otherModel = 0;
      let duplicate = 0;
      for await (const { record: r } of reader.records()) {
        if (r.model !== cfg.model) { otherModel++; continue; }
        if (r.encoderSha256 !== base.encoderSha256) { stale++; continue; }
        if (seen.has(r.id)) { duplicate++; continue; }
        seen.add(r.id);
        logged.push({
          item: { id: r.id, images: [], ...(r.system ? { system: r.system } : {}), prompt: r.prompt, ...(r.reference ? { reference: r.reference } : {}), a: r.a.response, b: r.b.response },
          origin: 'logged',
          fa: r.a.features,
          fb: r.b.features,
          imageRefs: r.images.map((sha) => `log:${sha}`),
        });
        if (logged.length % 1000 === 0) ctx.progress(logged.length, cfg.maxLogged);
        if (logged.length >= cfg.maxLogged) break;
      }
      const train = await currentTrainingSet(cfg, base, ctx.folder.id);
      const gate = cfg.gate ? await dataPairs(cfg, base, cfg.gate, 'base', false) : [];
      const t2i = cfg.t2i ? await t2iPairs(cfg, base, cfg.t2i) : [];
      await savePairs(ctx.folder, 'logged', logged);
      await savePairs(ctx.folder, 'base', train.pairs);
      await savePairs(ctx.folder, 'gate', gate);
      await savePairs(ctx.folder, 't2i', t2i);
      await reader.commit();
      const counts = { logged: logged.length, stale, otherModel, duplicate, train: train.pairs.length, gate: gate.length, t2i: t2i.length };
      if (logged.length < cfg.minLogged) {
        return { counts, stop: true, outcome: { decision: 'skipped', version: null, reasons: [`${logged.length} new logged pairs, fewer than minLogged ${cfg.minLogged}: nothing new to learn from`] } };
      }
      ctx.log.info('round.collected', { ...counts, trainFrom: train.from });
      return { counts };
    },
  };
}

/**
 * The curated set of the round that made the current version (the last
 * activated one) if its features fit `base`'s encoder, else the configured
 * base set. A rejected round's curation is not built on: the gate said no.
 */
async function currentTrainingSet(cfg: RoundConfig, base: BaseVersion, self: string): Promise<{ pairs: StoredPair[]; from: string }> {
  for (const r of await listRounds(cfg.stateDir)) {
    if (r.id === self || r.model !== cfg.model || r.status !== 'finished' || r.outcome?.decision !== 'activated') continue;
    const folder = new RoundFolder(cfg.stateDir, r.id);
    const prev = await folder.readJson<BaseVersion>(CONTEXT_FILE).catch(() => null);
    if (prev?.encoderSha256 !== base.encoderSha256) continue;
    const pairs = await loadPairs(folder, 'curated').catch(() => null);
    if (pairs) return { pairs, from: `round ${r.id}` };
  }
  if (!cfg.base) return { pairs: [], from: 'nothing (no base set configured)' };
  return { pairs: await dataPairs(cfg, base, cfg.base, 'base', true), from: cfg.base.dir };
}

/** A data set as round pairs in chosen/rejected order, featurized with `base`; images referenced by path. */
async function dataPairs(cfg: RoundConfig, base: BaseVersion, ref: DataRef, origin: PairOrigin, labeled: boolean): Promise<StoredPair[]> {
  const [pairs, { records }] = await Promise.all([loadDataset(ref.dir, ref.format), readDataset(ref.dir, ref.format)]);
  const [f] = await featurize(cfg, base, [pairs]);
  const out = fromLabeled(pairs, f!, origin, { labeled });
  return out.map((p, i) => ({ ...p, item: { ...p.item, images: [] }, imageRefs: records[i]!.images.map((img) => resolve(ref.dir, img)) }));
}

/** A T2I triples file (JSONL of {id, caption, better, worse}, image paths relative to the file), reformulated and featurized. */
async function t2iPairs(cfg: RoundConfig, base: BaseVersion, file: string): Promise<StoredPair[]> {
  const dir = dirname(file);
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const raw = lines.map((l, i) => {
    let v: { id?: unknown; caption?: unknown; better?: unknown; worse?: unknown };
    try { v = JSON.parse(l); } catch (cause) { throw new Error(`${file}:${i + 1}: not JSON`, { cause }); }
    for (const k of ['id', 'caption', 'better', 'worse'] as const) {
      if (typeof v[k] !== 'string' || v[k] === '') throw new Error(`${file}:${i + 1}: field '${k}': expected a non-empty string`);
    }
    return { id: v.id as string, caption: v.caption as string, better: resolve(dir, v.better as string), worse: resolve(dir, v.worse as string) };
  });
  const triples: T2ITriple[] = await Promise.all(raw.map(async (t) => ({
    id: t.id, caption: t.caption, better: new Uint8Array(await readFile(t.better)), worse: new Uint8Array(await readFile(t.worse)),
  })));
  const pairs: LabeledPair[] = reformulateT2I(triples, cfg.seed).output;
  const [f] = await featurize(cfg, base, [pairs]);
  return fromLabeled(pairs, f!, 't2i', { labeled: true }).map((p, i) => {
    const betterFirst = pairs[i]!.images[0] === triples[i]!.better;
    return { ...p, item: { ...p.item, images: [] }, imageRefs: betterFirst ? [raw[i]!.better, raw[i]!.worse] : [raw[i]!.worse, raw[i]!.better] };
  });
}

/** A stable split of judged pairs into training and held out for the gate, by pair id. */
export function heldOut(id: string, share: number, seed: number): boolean {
  const h = createHash('sha256').update(`${seed}:${id}`).digest();
  return h.readUInt32BE(0) / 2 ** 32 < share;
}

