/**
 * From the state directory to a ServedVersion ready for traffic: seed an empty
 * registry from the shipped bundle, then load the active version in its model
 * worker (the bundle loader checks files, I/O and runs its warm-up set; the
 * worker then runs each stage once at its largest batch).
 *
 * The swapper (swapper.ts) calls `loadVersion` for each new active version,
 * and the admin API calls it to validate a version before activating it.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, readManifest } from '../model/manifest.js';
import { Registry } from '../model/registry.js';
import type { ServeConfig } from './config.js';
import { ServeError } from './errors.js';
import type { Logger } from './log.js';
import { ModelHost } from './model-host.js';
import { ServedVersion, type StageSettings, type StageStats } from './versions.js';

/**
 * The registry of the configured model, seeded if it is empty. It logs which
 * version it will serve and where that came from, and when the seed bundle
 * was not used, why (a registry that has versions is never re-seeded). A seed
 * bundle of another model is refused before anything is written, so a wrong
 * `model` leaves no registry behind.
 */
export async function openRegistry(config: ServeConfig, log: Logger): Promise<Registry> {
  const seedManifest = join(config.seedBundle, MANIFEST_FILE);
  const haveSeed = await access(seedManifest).then(() => true, () => false);
  const seed = haveSeed ? await readManifest(seedManifest) : null;
  let model = config.model;
  if (!model) {
    if (!seed) {
      throw new ServeError('unavailable', `no model name: config model is unset and the seed bundle ${config.seedBundle} has no ${MANIFEST_FILE} to take it from`);
    }
    model = seed.name;
  }
  const registry = new Registry(config.stateDir, model);
  const before = await registry.active();
  if (seed && !before && (await registry.list()).length === 0 && seed.name !== model) {
    throw new ServeError('unavailable', `model '${model}' has no versions in ${registry.modelDir}, and the seed bundle ${config.seedBundle} is model '${seed.name}', not '${model}'; serve '${seed.name}' (leave model unset) or give a seed bundle of '${model}'`);
  }
  if (seed) {
    const { seeded, version } = await registry.seedIfEmpty(config.seedBundle);
    if (seeded) log.info('registry.seeded', { model, version, from: config.seedBundle, stateDir: config.stateDir });
    else if (seed.name === model) {
      const active = await registry.active();
      const same = active && (await registry.list()).find((v) => v.version === active.version)?.manifest?.files.head.sha256 === seed.files.head.sha256;
      if (!same) {
        log.warn('registry.seed_not_used', {
          model, seedBundle: config.seedBundle, activeVersion: active?.version ?? null,
          message: `the seed bundle ${config.seedBundle} was not used: registry ${registry.modelDir} already has versions, and an existing registry is never re-seeded; use another --state-dir for a fresh one`,
        });
      }
    }
  }
  const active = await registry.active();
  if (active) log.info('registry.active', { model, version: active.version, dir: registry.versionDir(active.version), since: active.updatedAt, reason: active.reason });
  return registry;
}

export async function loadVersion(
  registry: Registry,
  version: number,
  config: ServeConfig,
  stats: StageStats,
  log: Logger,
  onBatch?: StageSettings['onBatch'],
): Promise<ServedVersion> {
  const t0 = performance.now();
  const dir = registry.versionDir(version);
  const host = await ModelHost.start({
    dir,
    threads: config.threads,
    registry: { root: registry.root, model: registry.model, version },
    warm: { vision: config.vision.maxBatchSize, encoder: config.encoder.maxBatchSize },
  }, log);
  if (host.manifest.name !== registry.model) {
    await host.release();
    throw new ServeError('unavailable', `${dir}: manifest name '${host.manifest.name}' is not the registry's model '${registry.model}'`);
  }
  if (host.manifest.version !== version) {
    // Responses name the manifest's version; serving a directory under another number would mislead every caller.
    await host.release();
    throw new ServeError('unavailable', `${dir}: manifest version ${host.manifest.version} is not its directory's version ${version}`);
  }
  const v = new ServedVersion(host, { vision: config.vision, encoder: config.encoder, batching: config.batching, details: config.log.enabled, ...(onBatch ? { onBatch } : {}) }, stats);
  const { maxImages } = v.manifest.preprocess.image;
  if (config.vision.maxQueueSize < config.maxItemsPerRequest * maxImages) {
    log.warn('config.vision_queue_small', {
      message: `vision.maxQueueSize (${config.vision.maxQueueSize}) is below maxItemsPerRequest x the model's maxImages (${config.maxItemsPerRequest} x ${maxImages}); requests with that many distinct images will get RESOURCE_EXHAUSTED`,
    });
  }
  log.info('model.loaded', { model: v.name, version: v.version, dir, ms: Math.round(performance.now() - t0), workerYoungGenerationMiB: host.youngGenerationMiB });
  return v;
}

/** The registry's active version, loaded. */
export async function loadActiveVersion(config: ServeConfig, stats: StageStats, log: Logger): Promise<ServedVersion> {
  const registry = await openRegistry(config, log);
  const active = await registry.active();
  if (!active) throw new ServeError('unavailable', `registry ${registry.modelDir} has no active version`);
  return loadVersion(registry, active.version, config, stats, log);
}
