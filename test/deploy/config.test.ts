/**
 * deploy/config.example.json and the MRM_* variables and flags deploy/ uses,
 * against the server's real config loader. The example uses keys that land
 * with the admin service, the pair log, telemetry and the judges (admin.*,
 * log.enabled, telemetry.prometheusPort, judge.apiKeyFile): the tests marked
 * "needs those keys" fail until they are in src/serve/config.ts.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, type ConfigKey, envName, flagName, loadConfig } from '../../src/serve/config.js';
import { allDocs, DEPLOY } from './tree.js';

const EXAMPLE = join(DEPLOY, 'config.example.json');
const README = readFileSync(join(DEPLOY, 'README.md'), 'utf8');

/** Dotted keys of a JSON object's leaves. */
function leaves(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix.slice(0, -1)];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, `${prefix}${k}.`));
}

/** MRM_* names set in the manifests' env and named in the README. */
function envNamesUsed(): string[] {
  const fromManifests = JSON.stringify(allDocs().map(({ doc }) => doc)).match(/"name":"(MRM_[A-Z0-9_]+)"/g)?.map((m) => m.slice(8, -1)) ?? [];
  const fromReadme = README.match(/\bMRM_[A-Z0-9_]+/g) ?? [];
  return [...new Set([...fromManifests, ...fromReadme])].sort();
}

/** Flags on the README's `node bin/mrm.js serve` lines, without --config. */
function serveFlagsUsed(): string[] {
  const tails = README.split('\n').flatMap((l) => /\bbin\/mrm\.js serve\b(.*)$/.exec(l)?.[1] ?? []);
  return [...new Set(tails.flatMap((t) => [...t.matchAll(/--([a-z0-9-]+)/g)].map((m) => m[1]!)))].filter((f) => f !== 'config').sort();
}

const keyFor = (env: string) => CONFIG_KEYS.find((k) => envName(k) === env);

describe('deploy/config.example.json', () => {
  it('spells the file keys as MRM_* the way envName does', () => {
    const spelled = leaves(JSON.parse(readFileSync(EXAMPLE, 'utf8'))).map((k) => envName(k as ConfigKey));
    expect(spelled).toEqual(expect.arrayContaining(['MRM_ADMIN_TOKEN_FILE', 'MRM_JUDGE_API_KEY_FILE', 'MRM_TELEMETRY_PROMETHEUS_PORT']));
    for (const env of envNamesUsed()) expect(env).toMatch(/^MRM_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    expect(envNamesUsed()).toEqual(expect.arrayContaining(['MRM_ADMIN_TOKEN_FILE', 'MRM_JUDGE_API_KEY_FILE', 'MRM_STATE_DIR']));
  });

  it('loads through loadConfig with every value as written (needs the admin, judge, log and telemetry keys)', async () => {
    const example = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
    // The secret files exist only in a pod; in case the loader reads them, point it at real ones here.
    const dir = await mkdtemp(join(tmpdir(), 'mrm-deploy-config-'));
    try {
      const token = join(dir, 'token');
      const apiKey = join(dir, 'api-key');
      await writeFile(token, 'a'.repeat(64));
      await writeFile(apiKey, 'sk-test');
      const config = await loadConfig({ file: EXAMPLE, env: { MRM_ADMIN_TOKEN_FILE: token, MRM_JUDGE_API_KEY_FILE: apiKey } });
      expect(config).toMatchObject({ ...example, admin: { ...example.admin, tokenFile: token }, judge: { ...example.judge, apiKeyFile: apiKey } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('uses only MRM_* variables that are config keys (needs the admin and judge keys)', () => {
    const unknown = envNamesUsed().filter((e) => !keyFor(e));
    expect(unknown).toEqual([]);
  });

  it("uses only serve flags that are config keys in the README's recipes (needs the admin and telemetry keys)", () => {
    const flags = serveFlagsUsed();
    expect(flags).toEqual(expect.arrayContaining(['port', 'state-dir']));
    const unknown = flags.filter((f) => !CONFIG_KEYS.some((k) => flagName(k) === f));
    expect(unknown).toEqual([]);
  });
});
