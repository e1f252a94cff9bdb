/**
 * The versions of one model and the pointer to the one being served, shared by
 * the serving replicas and the trainer through the file system alone (a
 * TensorFlow-Serving-like layout):
 *
 *   <root>/<model>/versions/<n>/manifest.json   (+ the bundle's files)
 *   <root>/<model>/ACTIVE                        JSON: {"version": n, "previous": m|null, "updatedAt": ISO, "reason": string}
 *
 * There are no locks. A version appears by renaming a fully written temp dir
 * (`versions/.incoming-*`) to `versions/<n>`, so nobody sees half a copy, and
 * since a rename onto an existing non-empty dir fails, that rename is also the
 * lock when two processes create the same n. ACTIVE is replaced atomically, so
 * readers see the old pointer or the new one. Versions are immutable once
 * visible; that is what lets head-only versions point into their parent's files.
 */
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type AtomicHooks, fsyncPath, writeFileAtomic } from './atomic.js';
import { BundleError, ManifestError, RegistryError } from './errors.js';
import { type AnyFileKey, MANIFEST_FILE, type Manifest, parseManifest, readManifest } from './manifest.js';
import { JsonReader } from './validate.js';

export const ACTIVE_FILE = 'ACTIVE';
const VERSION_NAME = /^[1-9][0-9]*$/;

export interface ActivePointer {
  version: number;
  previous: number | null;
  updatedAt: string;
  reason: string;
}

/** One version directory; an invalid manifest is reported in `error` so one bad version does not hide the others. */
export type VersionInfo = { version: number; dir: string; active: boolean } & (
  | { manifest: Manifest; error?: undefined }
  | { manifest?: undefined; error: ManifestError }
);

export class Registry {
  readonly modelDir: string;
  readonly versionsDir: string;
  readonly activeFile: string;

  constructor(readonly root: string, readonly model: string) {
    this.modelDir = resolve(root, model);
    this.versionsDir = join(this.modelDir, 'versions');
    this.activeFile = join(this.modelDir, ACTIVE_FILE);
  }

  versionDir(n: number): string {
    return join(this.versionsDir, String(n));
  }

  async list(): Promise<VersionInfo[]> {
    const [versions, active] = await Promise.all([this.versionNumbers(), this.active()]);
    return Promise.all(
      versions.map(async (version): Promise<VersionInfo> => {
        const base = { version, dir: this.versionDir(version), active: active?.version === version };
        try {
          return { ...base, manifest: await this.manifestOf(version) };
        } catch (err) {
          if (err instanceof ManifestError) return { ...base, error: err };
          throw err;
        }
      }),
    );
  }

  /** The pointer, or null when nothing was ever activated. */
  async active(): Promise<ActivePointer | null> {
    const value = await readJson(this.activeFile, true);
    if (value === undefined) return null;
    const r = JsonReader.root(this.activeFile, value);
    return {
      version: r.get('version').number({ integer: true, min: 1 }),
      previous: r.opt('previous', (p) => p.number({ integer: true, min: 1 }), null),
      updatedAt: r.get('updatedAt').string({ nonEmpty: true }),
      reason: r.get('reason').string(),
    };
  }

  /** Cheap change detector for pollers: differs whenever ACTIVE was replaced. */
  async activeStamp(): Promise<string | null> {
    let fh;
    try {
      fh = await open(this.activeFile, 'r');
    } catch (cause) {
      if (isCode(cause, 'ENOENT')) return null;
      throw new RegistryError('io', `${this.activeFile}: cannot open`, { cause });
    }
    try {
      // stat and read through one descriptor, so a concurrent rename cannot mix two pointers.
      const st = await fh.stat();
      return `${st.ino}:${st.mtimeMs}:${st.size}:${await fh.readFile('utf8')}`;
    } finally {
      await fh.close();
    }
  }

  async activate(version: number, reason: string, hooks?: AtomicHooks): Promise<void> {
    await this.existing(version);
    const old = await this.active();
    // Re-activating the serving version must not make it its own rollback target.
    const previous = old === null ? null : old.version === version ? old.previous : old.version;
    const pointer: ActivePointer = { version, previous, updatedAt: new Date().toISOString(), reason };
    await writeFileAtomic(this.activeFile, `${JSON.stringify(pointer, null, 2)}\n`, hooks);
  }

  async rollback(reason: string, hooks?: AtomicHooks): Promise<void> {
    const cur = await this.active();
    if (cur === null) throw new RegistryError('empty', `${this.model}: no active version to roll back from`);
    if (cur.previous === null) {
      throw new RegistryError('no-such-version', `${this.model}: active version ${cur.version} has no previous version to roll back to`);
    }
    await this.activate(cur.previous, reason, hooks);
  }

  /** Copies a bundle in as version n (default: one past the highest) and returns n. */
  async register(bundleDir: string, opts: { version?: number } = {}): Promise<number> {
    const src = join(bundleDir, MANIFEST_FILE);
    const fields = JsonReader.root(src, await readJson(src)).object();
    const n = opts.version ?? Math.max(0, ...(await this.versionNumbers())) + 1;
    // Validating the rewritten object also rejects a bad opts.version with a precise error.
    const manifest = parseManifest({ ...fields, version: n }, src);
    if (await this.versionNumbers().then((vs) => vs.includes(n))) throw this.conflict(n);
    for (const [key, ref] of Object.entries(manifest.files)) {
      // Refuse now a head-only file that no reader could ever resolve.
      if (ref.path === undefined) await this.findShared(manifest.parent, ref.sha256, `version ${n} files.${key}`);
    }
    await mkdir(this.versionsDir, { recursive: true });
    const tmp = await mkdtemp(join(this.versionsDir, '.incoming-'));
    try {
      const paths = new Set(Object.values(manifest.files).flatMap((f) => (f.path === undefined ? [] : [f.path])));
      for (const p of paths) {
        await mkdir(dirname(join(tmp, p)), { recursive: true });
        try {
          await copyFile(join(bundleDir, p), join(tmp, p));
        } catch (cause) {
          if (!isCode(cause, 'ENOENT')) throw cause;
          throw new BundleError('missing-file', bundleDir, `'${p}' listed in ${MANIFEST_FILE} does not exist`, { cause });
        }
        await fsyncPath(join(tmp, p));
      }
      for (const d of new Set([...paths].map((p) => dirname(join(tmp, p))))) await fsyncPath(d);
      await writeFileAtomic(join(tmp, MANIFEST_FILE), `${JSON.stringify({ ...fields, version: n }, null, 2)}\n`);
      try {
        await rename(tmp, this.versionDir(n));
      } catch (cause) {
        if (isCode(cause, 'ENOTEMPTY', 'EEXIST')) throw this.conflict(n, cause);
        throw cause;
      }
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      if (err instanceof BundleError || err instanceof RegistryError) throw err;
      throw new RegistryError('io', `${this.model}: registering ${bundleDir} as version ${n} failed`, { cause: err });
    }
    await fsyncPath(this.versionsDir);
    return n;
  }

  /** Registers and activates the shipped bundle when the model has no versions; safe to race. */
  async seedIfEmpty(bundleDir: string): Promise<{ seeded: boolean; version: number }> {
    const have = await this.versionNumbers();
    if (have.length > 0) {
      const active = await this.active();
      if (active) return { seeded: false, version: active.version };
      // A seeder that died between register and activate left versions and no
      // pointer; finish its job rather than serving nothing forever.
      const latest = have[have.length - 1]!;
      await this.activate(latest, `activated latest version ${latest}: no active pointer`);
      return { seeded: false, version: latest };
    }
    const { version } = await readManifest(join(bundleDir, MANIFEST_FILE));
    try {
      await this.register(bundleDir, { version });
    } catch (err) {
      if (err instanceof RegistryError && err.kind === 'conflict') return { seeded: false, version };
      throw err;
    }
    await this.activate(version, `seeded from ${bundleDir}`);
    return { seeded: true, version };
  }

  /** Absolute path of a version's file; head-only versions find shared files along the parent chain. */
  async resolveFile(version: number, key: AnyFileKey): Promise<string> {
    const m = await this.existing(version);
    const ref = m.files[key];
    if (ref === undefined) throw new RegistryError('no-such-file', `${this.model}: version ${version} has no files.${key}`);
    if (ref.path !== undefined) return join(this.versionDir(version), ref.path);
    return this.findShared(m.parent, ref.sha256, `version ${version} files.${key}`);
  }

  private async findShared(start: number | null, sha256: string, what: string): Promise<string> {
    const seen = new Set<number>();
    for (let v = start; v !== null && !seen.has(v); ) {
      seen.add(v);
      let m: Manifest;
      try {
        m = await this.existing(v);
      } catch (cause) {
        throw new RegistryError('no-such-version', `${this.model}: ${what} (sha256 ${sha256}): ancestor version ${v} is missing`, { cause });
      }
      const hit = Object.values(m.files).find((f) => f.sha256 === sha256 && f.path !== undefined);
      if (hit?.path !== undefined) return join(this.versionDir(v), hit.path);
      v = m.parent;
    }
    throw new RegistryError('no-such-version', `${this.model}: ${what} (sha256 ${sha256}) has no path and no ancestor holds that file`);
  }

  private async versionNumbers(): Promise<number[]> {
    try {
      const entries = await readdir(this.versionsDir, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && VERSION_NAME.test(e.name)).map((e) => Number(e.name)).sort((a, b) => a - b);
    } catch (cause) {
      if (isCode(cause, 'ENOENT')) return [];
      throw new RegistryError('io', `${this.versionsDir}: cannot list`, { cause });
    }
  }

  private async manifestOf(version: number): Promise<Manifest> {
    const file = join(this.versionDir(version), MANIFEST_FILE);
    const m = await readManifest(file);
    // Parent chains are followed by number, so a manifest that disagrees with its directory would mislead them.
    if (m.version !== version) throw new ManifestError('invalid-field', file, 'version', `${version} (its directory), got ${m.version}`);
    return m;
  }

  /** The manifest of a version that must exist; a missing one is a RegistryError, an invalid one a ManifestError. */
  private async existing(version: number): Promise<Manifest> {
    try {
      return await this.manifestOf(version);
    } catch (err) {
      if (err instanceof ManifestError && err.kind === 'unreadable' && isCode(err.cause, 'ENOENT', 'ENOTDIR')) {
        throw new RegistryError('no-such-version', `${this.model}: no version ${version} in ${this.versionsDir}`, { cause: err });
      }
      throw err;
    }
  }

  private conflict(n: number, cause?: unknown): RegistryError {
    return new RegistryError('conflict', `${this.model}: version ${n} already exists in ${this.versionsDir}`, { cause });
  }
}

/** Parsed JSON of a contract file; undefined when it is missing and `missingOk`. */
async function readJson(file: string, missingOk = false): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if (missingOk && isCode(cause, 'ENOENT')) return undefined;
    throw new ManifestError('unreadable', file, '', 'a readable file', { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ManifestError('invalid-json', file, '', `valid JSON (${(cause as Error).message})`, { cause });
  }
}

function isCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}
