/**
 * From the state directory to a ServedVersion ready for traffic: seed an empty
 * registry from the shipped bundle, then load the active version in its model
 * worker (the bundle loader checks files, I/O and runs its warm-up set; the
 * worker then runs each stage once at its largest batch).
 *
 * The registry watcher of the next issue will call `loadVersion` for a new
 * active version and hand the result to VersionManager.activate.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, readManifest } from '../model/manifest.js';
import { Registry } from '../model/registry.js';
import type { BatcherStats } from './batcher.js';
import type { ServeConfig } from './config.js';
import { ServeError } from './errors.js';
import type { Logger } from './log.js';
import { ModelHost } from './model-host.js';
import { ServedVersion } from './versions.js';

/** The registry of the configured model, seeded if it is empty. */
export async function openRegistry(config: ServeConfig, log: Logger): Promise<Registry> {
  const seedManifest = join(config.seedBundle, MANIFEST_FILE);
  const haveSeed = await access(seedManifest).then(() => true, () => false);
  let model = config.model;
  if (!model) {
    if (!haveSeed) {
      throw new ServeError('unavailable', `no model name: config model is unset and the seed bundle ${config.seedBundle} has no ${MANIFEST_FILE} to take it from`);
    }
    model = (await readManifest(seedManifest)).name;
  }
  const registry = new Registry(config.stateDir, model);
  if (haveSeed) {
    const { seeded, version } = await registry.seedIfEmpty(config.seedBundle);
    if (seeded) log.info('registry.seeded', { model, version, from: config.seedBundle, stateDir: config.stateDir });
  }
  return registry;
}

export async function loadVersion(
  registry: Registry,
  version: number,
  config: ServeConfig,
  stats: { vision: BatcherStats; encoder: BatcherStats },
  log: Logger,
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
  const v = new ServedVersion(host, { vision: config.vision, encoder: config.encoder, batching: config.batching, details: config.log.enabled }, stats);
  const { maxImages } = v.manifest.preprocess.image;
  if (config.vision.maxQueueSize < config.maxItemsPerRequest * maxImages) {
    log.warn('config.vision_queue_small', {
      message: `vision.maxQueueSize (${config.vision.maxQueueSize}) is below maxItemsPerRequest x the model's maxImages (${config.maxItemsPerRequest} x ${maxImages}); requests with that many distinct images will get RESOURCE_EXHAUSTED`,
    });
  }
  log.info('model.loaded', { model: v.name, version: v.version, dir, ms: Math.round(performance.now() - t0) });
  return v;
}

/** The registry's active version, loaded. */
export async function loadActiveVersion(config: ServeConfig, stats: { vision: BatcherStats; encoder: BatcherStats }, log: Logger): Promise<ServedVersion> {
  const registry = await openRegistry(config, log);
  const active = await registry.active();
  if (!active) throw new ServeError('unavailable', `registry ${registry.modelDir} has no active version`);
  return loadVersion(registry, active.version, config, stats, log);
}
