/** deploy/ as the tests read it: manifests by kind and name, the kustomization, the example config. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadYaml, type Manifest } from './k8s.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY = join(ROOT, 'deploy');
export const K8S = join(DEPLOY, 'k8s');

export const manifestFiles = () => readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f)).sort();

let docs: { file: string; doc: Manifest }[] | undefined;
/** Every document of deploy/k8s, unvalidated, with the file it came from (read once; callers must not mutate). */
export function allDocs(): { file: string; doc: Manifest }[] {
  docs ??= manifestFiles().flatMap((f) => loadYaml(join(K8S, f)).map((doc) => ({ file: f, doc: doc as Manifest })));
  return docs;
}

export function find<T = any>(kind: string, name: string): T {
  const hit = allDocs().find(({ doc }) => doc.kind === kind && doc.metadata?.name === name);
  if (!hit) throw new Error(`deploy/k8s has no ${kind} ${name}`);
  return hit.doc as T;
}

export interface Kustomization {
  resources: string[];
  configMapGenerator: { name: string; files: string[] }[];
  secretGenerator: { name: string; files: string[] }[];
  images: { name: string; newName?: string; newTag?: string }[];
}
export const kustomization = (): Kustomization => parse(readFileSync(join(DEPLOY, 'kustomization.yaml'), 'utf8'), { version: '1.1' });

/** A generator's `key=path` (or `path`) entries as [key, path]. */
export const generatorFiles = (files: string[]) => files.map((f) => (f.includes('=') ? (f.split('=', 2) as [string, string]) : [f.split('/').pop()!, f] as [string, string]));

export const exampleConfig = (): any => JSON.parse(readFileSync(join(DEPLOY, 'config.example.json'), 'utf8'));
