/**
 * Kubernetes manifests as kubectl reads them, checked against the Kubernetes
 * schemas (kubernetes-models). Shared by the test of deploy/ and the test that
 * proves the check rejects broken manifests, so both run the same code.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown };

/** The kinds deploy/ may use. A kind missing here fails the check rather than passing unchecked. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'batch/v1/CronJob': CronJob,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Secret': Secret,
  'v1/Service': Service,
};

/**
 * Every document of a YAML file. YAML 1.1, as kubectl's parser reads it: there
 * `defaultMode: 0440` is octal (288), where YAML 1.2 would read decimal 440.
 */
export function loadYaml(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1' });
  if (!Array.isArray(docs)) return [];
  return docs.map((d, i) => {
    if (d.errors.length > 0) throw new Error(`${file} document ${i}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS();
  }).filter((d) => d !== null);
}

/** Throws with the schema's message (for example "data/spec/replicas must be integer") or for an unknown kind. */
export function validateManifest(doc: unknown): Manifest {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('a manifest must be a mapping');
  const { apiVersion, kind } = doc as { apiVersion?: unknown; kind?: unknown };
  const Model = MODELS[`${String(apiVersion)}/${String(kind)}`];
  if (!Model) throw new Error(`no schema for apiVersion ${String(apiVersion)} kind ${String(kind)}`);
  const m = doc as Manifest;
  if (typeof m.metadata?.name !== 'string' || m.metadata.name === '') throw new Error(`${String(kind)}: metadata.name is required`);
  new Model(doc as never).validate();
  return m;
}
