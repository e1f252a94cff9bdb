/**
 * deploy/k8s: every manifest parses and passes the Kubernetes schema of its
 * kind, and the manifests agree with each other, with the image and with the
 * server's config (ports, probes, mounts, secrets, the round command).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/serve/config.js';
import { REWARD_SERVICE } from '../../src/serve/proto.js';
import { parseDockerfile } from './dockerfile.js';
import { loadYaml, validateManifest } from './k8s.js';
import { allDocs, DEPLOY, exampleConfig, find, generatorFiles, kustomization, manifestFiles } from './tree.js';

const SERVER = 'mrm-serve';
const DOCKERIGNORE = join(DEPLOY, 'Dockerfile.dockerignore');
const server = () => find('Deployment', SERVER);
const serverPod = () => server().spec.template.spec;
const serverContainer = () => serverPod().containers[0];
const roundPod = () => find('CronJob', 'mrm-round').spec.jobTemplate.spec.template.spec;
const port = (name: string) => serverContainer().ports.find((p: any) => p.name === name)?.containerPort;
const sameLabels = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy/k8s schemas', () => {
  it('has manifests, every one of a known kind and valid for it', () => {
    const docs = allDocs();
    expect(docs.length).toBeGreaterThanOrEqual(6);
    for (const { file, doc } of docs) {
      expect(() => validateManifest(doc), `${file}: ${doc.kind} ${doc.metadata?.name}`).not.toThrow();
    }
    expect(new Set(docs.map(({ doc }) => doc.kind))).toEqual(
      new Set(['Deployment', 'PodDisruptionBudget', 'Service', 'PersistentVolumeClaim', 'CronJob', 'NetworkPolicy']),
    );
  });

  it('rejects each broken document of the fixture with the schema error it has', () => {
    const docs = loadYaml(join(import.meta.dirname, 'fixtures', 'broken.yaml')) as any[];
    expect(docs.length).toBe(5);
    for (const doc of docs) {
      const want = doc.metadata.annotations['test/expect'];
      expect(() => validateManifest(doc), `${doc.kind} ${doc.metadata.name}`).toThrow(want);
    }
  });

  it('rejects the real manifests once broken in memory, and passes them intact', () => {
    const breaks: [string, (d: any) => void, string][] = [
      ['replicas as text', (d) => { d.spec.replicas = '2'; }, 'data/spec/replicas must be integer'],
      ['a named port on a gRPC probe', (d) => { d.spec.template.spec.containers[0].readinessProbe.grpc.port = 'grpc'; }, 'data/spec/template/spec/containers/0/readinessProbe/grpc/port must be integer'],
      ['a container name that is a number', (d) => { d.spec.template.spec.containers[0].name = 7; }, 'data/spec/template/spec/containers/0/name must be string'],
      ['no containers', (d) => { delete d.spec.template.spec.containers; }, 'data/spec/template/spec must have required property containers'],
    ];
    expect(() => validateManifest(server())).not.toThrow();
    for (const [what, breakIt, message] of breaks) {
      const d = structuredClone(server());
      breakIt(d);
      expect(() => validateManifest(d), what).toThrow(message);
    }
  });

  it('parses YAML as kubectl does (1.1: 0440 is octal)', () => {
    const mode = serverPod().volumes.find((v: any) => v.name === 'admin-token').secret.defaultMode;
    expect(mode).toBe(0o440);
  });
});

describe('deploy/kustomization.yaml', () => {
  it('lists every manifest file, and only those', () => {
    expect(kustomization().resources.map((r) => r.replace(/^k8s\//, '')).sort()).toEqual(manifestFiles());
  });

  it('generates the config map from the example config and the secrets from git-ignored files', () => {
    const k = kustomization();
    const [[key, file]] = generatorFiles(k.configMapGenerator.find((g) => g.name === 'mrm-config')!.files) as [[string, string]];
    expect(key).toBe('config.json');
    expect(file).toBe('config.example.json');
    for (const g of k.secretGenerator) {
      for (const [, path] of generatorFiles(g.files)) expect(path.startsWith('secrets/'), path).toBe(true);
    }
    expect(readFileSync(join(DEPLOY, 'secrets', '.gitignore'), 'utf8')).toMatch(/^\*$/m);
    expect(readFileSync(DOCKERIGNORE, 'utf8')).toMatch(/^deploy\/secrets$/m);
  });

  it('makes valid objects from its generators', () => {
    const k = kustomization();
    for (const g of k.configMapGenerator) validateManifest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data: Object.fromEntries(generatorFiles(g.files).map(([key]) => [key, '{}'])) });
    for (const g of k.secretGenerator) validateManifest({ apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: 'Opaque', data: Object.fromEntries(generatorFiles(g.files).map(([key]) => [key, 'eA=='])) });
  });

  it('provides every config map, secret and claim the pods mount, with the keys they pick', () => {
    const k = kustomization();
    const produced = new Map<string, string[]>([
      ...k.configMapGenerator.map((g) => [`configMap/${g.name}`, generatorFiles(g.files).map(([key]) => key)] as [string, string[]]),
      ...k.secretGenerator.map((g) => [`secret/${g.name}`, generatorFiles(g.files).map(([key]) => key)] as [string, string[]]),
      ...allDocs().filter(({ doc }) => doc.kind === 'PersistentVolumeClaim').map(({ doc }) => [`pvc/${doc.metadata.name}`, []] as [string, string[]]),
    ]);
    for (const pod of [serverPod(), roundPod()]) {
      for (const v of pod.volumes) {
        const ref = v.configMap ? `configMap/${v.configMap.name}` : v.secret ? `secret/${v.secret.secretName}` : v.persistentVolumeClaim ? `pvc/${v.persistentVolumeClaim.claimName}` : null;
        if (!ref) continue;
        expect(produced.has(ref), ref).toBe(true);
        for (const item of (v.configMap ?? v.secret)?.items ?? []) expect(produced.get(ref), `${ref} key ${item.key}`).toContain(item.key);
      }
    }
  });

  it('names the image the workloads use', () => {
    const names = kustomization().images.map((i) => i.name);
    for (const c of [serverContainer(), roundPod().containers[0]]) expect(names).toContain(c.image.split(':')[0]);
  });
});

describe('the server Deployment', () => {
  const config = exampleConfig();

  it('runs the image CMD with the config file the config map provides', () => {
    const cmd = parseDockerfile(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8')).filter((i) => i.op === 'CMD').at(-1)!.exec!;
    const args: string[] = serverContainer().args;
    expect(args.slice(0, cmd.length)).toEqual(cmd);
    expect(args.slice(cmd.length)).toEqual(['--config', '/etc/mrm/config/config.json']);
    const mount = serverContainer().volumeMounts.find((m: any) => m.name === 'config');
    const item = serverPod().volumes.find((v: any) => v.name === 'config').configMap.items[0];
    expect(join(mount.mountPath, item.path)).toBe(args.at(-1));
  });

  it('exposes the ports of the example config', () => {
    expect(port('grpc')).toBe(config.port);
    expect(port('admin')).toBe(config.admin.port);
    expect(port('metrics')).toBe(config.telemetry.prometheusPort);
  });

  it('probes grpc.health.v1 on the reward port: startup and liveness the whole server, readiness the reward service', () => {
    const c = serverContainer();
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) expect(c[probe].grpc.port, probe).toBe(config.port);
    expect(c.startupProbe.grpc.service ?? '').toBe('');
    expect(c.livenessProbe.grpc.service ?? '').toBe('');
    expect(c.readinessProbe.grpc.service).toBe(REWARD_SERVICE);
  });

  it('is scraped by Prometheus on the metrics port', () => {
    const a = server().spec.template.metadata.annotations;
    expect(a['prometheus.io/scrape']).toBe('true');
    expect(Number(a['prometheus.io/port'])).toBe(config.telemetry.prometheusPort);
  });

  it('mounts the shared ReadWriteMany claim at the config state directory', () => {
    const claim = serverPod().volumes.find((v: any) => v.persistentVolumeClaim).persistentVolumeClaim.claimName;
    expect(find('PersistentVolumeClaim', claim).spec.accessModes).toEqual(['ReadWriteMany']);
    const vol = serverPod().volumes.find((v: any) => v.persistentVolumeClaim?.claimName === claim).name;
    expect(serverContainer().volumeMounts.find((m: any) => m.name === vol).mountPath).toBe(config.stateDir);
    expect(server().spec.replicas).toBeGreaterThanOrEqual(2);
  });

  it('mounts the secrets where the config reads them', () => {
    const mounted = (name: string) => {
      const v = serverPod().volumes.find((x: any) => x.name === name);
      const m = serverContainer().volumeMounts.find((x: any) => x.name === name);
      return join(m.mountPath, v.secret.items[0].path);
    };
    expect(mounted('admin-token')).toBe(config.admin.tokenFile);
    expect(mounted('judge-api-key')).toBe(config.judge.apiKeyFile);
  });

  it('runs as the image user, not root, on a read-only root with a writable /tmp', () => {
    const user = parseDockerfile(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8')).filter((i) => i.op === 'USER').at(-1)!.raw;
    const [uid, gid] = user.split(':').map(Number);
    for (const pod of [serverPod(), roundPod()]) {
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, runAsGroup: gid });
      expect(pod.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(pod.containers[0].volumeMounts.map((m: any) => m.mountPath)).toContain('/tmp');
    }
  });

  it('gives the server longer than its shutdown grace before SIGKILL', () => {
    expect(serverPod().terminationGracePeriodSeconds * 1000).toBeGreaterThan(DEFAULTS.shutdownGraceMs);
  });

  it('sets a memory limit above the largest RSS measured (1,273 MiB, 10,000 concurrent calls)', () => {
    const mib = (q: string) => {
      const m = /^(\d+)(Mi|Gi)$/.exec(q);
      if (!m) throw new Error(`memory quantity ${q}: expected Mi or Gi`);
      return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
    };
    const r = serverContainer().resources;
    expect(mib(r.limits.memory)).toBeGreaterThan(1273);
    // Idle with the model (197 MiB measured) plus the default caches' ~350 MiB.
    expect(mib(r.requests.memory)).toBeGreaterThanOrEqual(197 + 350);
  });
});

describe('Services, the round trigger and the network policy', () => {
  const labels = () => server().spec.template.metadata.labels;

  it('balances the reward API client-side through a headless Service', () => {
    const s = find('Service', SERVER);
    expect(s.spec.clusterIP).toBe('None');
    expect(sameLabels(s.spec.selector, labels())).toBe(true);
    expect(s.spec.ports.map((p: any) => [p.port, p.targetPort])).toEqual([[port('grpc'), 'grpc']]);
  });

  it('reaches the admin API through a ClusterIP Service on the admin port', () => {
    const s = find('Service', 'mrm-admin');
    expect(s.spec.clusterIP).toBeUndefined();
    expect(sameLabels(s.spec.selector, labels())).toBe(true);
    expect(s.spec.ports[0].targetPort).toBe('admin');
  });

  it('starts a round with exactly `round start --wait --admin <admin service>`, one at a time', () => {
    const cron = find('CronJob', 'mrm-round');
    const admin = find('Service', 'mrm-admin');
    expect(roundPod().containers[0].args).toEqual(['node', 'bin/mrm.js', 'round', 'start', '--wait', '--admin', `${admin.metadata.name}:${admin.spec.ports[0].port}`]);
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const env = Object.fromEntries(roundPod().containers[0].env.map((e: any) => [e.name, e.value]));
    const mount = roundPod().containers[0].volumeMounts.find((m: any) => m.name === 'admin-token').mountPath;
    expect(env.MRM_ADMIN_TOKEN_FILE).toBe(join(mount, 'token'));
  });

  it('lets only the round trigger reach the admin port', () => {
    const np = find('NetworkPolicy', SERVER);
    expect(sameLabels(np.spec.podSelector.matchLabels, labels())).toBe(true);
    const adminRules = np.spec.ingress.filter((r: any) => r.ports.some((p: any) => p.port === port('admin')));
    expect(adminRules).toHaveLength(1);
    expect(adminRules[0].from).toHaveLength(1);
    const roundLabels = find('CronJob', 'mrm-round').spec.jobTemplate.spec.template.metadata.labels;
    expect(sameLabels(adminRules[0].from[0].podSelector.matchLabels, roundLabels)).toBe(true);
    expect(sameLabels(adminRules[0].from[0].podSelector.matchLabels, labels())).toBe(false);
    const open = np.spec.ingress.filter((r: any) => !r.from).flatMap((r: any) => r.ports.map((p: any) => p.port));
    expect(open.sort()).toEqual([port('grpc'), port('metrics')].sort());
  });

  it('keeps a replica through voluntary disruptions', () => {
    const pdb = find('PodDisruptionBudget', SERVER);
    expect(sameLabels(pdb.spec.selector.matchLabels, labels())).toBe(true);
    expect(pdb.spec.minAvailable).toBeLessThan(server().spec.replicas);
  });
});
