import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_KEYS, ConfigError, configHelp, DEFAULTS, envName, flagName, loadConfig, RULES, redacted } from '../../src/serve/config.js';

const getAt = (o: unknown, key: string): unknown => key.split('.').reduce<unknown>((v, p) => (v as Record<string, unknown>)[p], o);

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mrm-config-')); });
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(value: unknown): Promise<string> {
  const p = join(dir, `${Math.random()}.json`);
  await writeFile(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
}

describe('config', () => {
  it('spells each key once per source', () => {
    expect(envName('encoder.maxQueueDelayMs')).toBe('MRM_ENCODER_MAX_QUEUE_DELAY_MS');
    expect(flagName('encoder.maxQueueDelayMs')).toBe('encoder-max-queue-delay-ms');
    expect(envName('stateDir')).toBe('MRM_STATE_DIR');
  });

  it('is the defaults with no sources', async () => {
    expect(await loadConfig()).toEqual(DEFAULTS);
  });

  it('layers defaults < file < env < flags', async () => {
    const f = await file({ port: 1, encoder: { maxBatchSize: 16, maxQueueDelayMs: 2 }, stateDir: '/from/file', logLevel: 'warn' });
    const c = await loadConfig({
      file: f,
      env: { MRM_PORT: '2', MRM_ENCODER_MAX_BATCH_SIZE: '32', MRM_CACHES: 'false', UNRELATED: 'x' },
      flags: { port: '3' },
    });
    expect(c.port).toBe(3);
    expect(c.encoder).toEqual({ ...DEFAULTS.encoder, maxBatchSize: 32, maxQueueDelayMs: 2 });
    expect(c.caches).toBe(false);
    expect(c.stateDir).toBe('/from/file');
    expect(c.logLevel).toBe('warn');
    expect(c.vision).toEqual(DEFAULTS.vision);
  });

  it('takes the encoder\'s feeder hold from a flag (0 turns it off) and refuses a negative one', async () => {
    expect((await loadConfig({ flags: { 'encoder-feeder-hold-ms': '0' } })).encoder.feederHoldMs).toBe(0);
    await expect(loadConfig({ env: { MRM_ENCODER_FEEDER_HOLD_MS: '-1' } })).rejects.toThrow('config encoder.feederHoldMs (MRM_ENCODER_FEEDER_HOLD_MS): expected >= 0, got -1');
  });

  it('names the key and the source of a bad value', async () => {
    await expect(loadConfig({ flags: { port: 'eighty' } })).rejects.toThrow('config port (--port): expected a number, got "eighty"');
    await expect(loadConfig({ env: { MRM_VISION_MAX_BATCH_SIZE: '0' } })).rejects.toThrow('config vision.maxBatchSize (MRM_VISION_MAX_BATCH_SIZE): expected >= 1, got 0');
    await expect(loadConfig({ env: { MRM_THREADS: '1.5' } })).rejects.toThrow('expected an integer');
    await expect(loadConfig({ flags: { batching: 'maybe' } })).rejects.toThrow('config batching (--batching): expected true or false');
    await expect(loadConfig({ flags: { 'log-level': 'loud' } })).rejects.toThrow('config logLevel (--log-level): expected one of debug, info, warn, error');
    const f = await file({ encoder: { maxBatchSize: '64' } });
    await expect(loadConfig({ file: f })).rejects.toThrow(`config encoder.maxBatchSize (${f}): expected a number, got "64"`);
  });

  it('refuses unknown keys and bad JSON in the file', async () => {
    const typo = await file({ encoder: { maxBatchSise: 8 } });
    await expect(loadConfig({ file: typo })).rejects.toThrow(/config encoder\.maxBatchSise .*unknown key/);
    const notJson = await file('{ port: 1');
    await expect(loadConfig({ file: notJson })).rejects.toThrow(ConfigError);
    await expect(loadConfig({ file: join(dir, 'missing.json') })).rejects.toThrow('cannot read');
  });

  it('refuses a request limit no queue could ever admit', async () => {
    await expect(loadConfig({ flags: { 'max-items-per-request': '5000' } })).rejects.toThrow(/maxItemsPerRequest .*encoder\.maxQueueSize/);
  });

  it('has a rule and a reason for every key', () => {
    for (const rule of Object.values(RULES)) expect(rule.doc.length).toBeGreaterThan(5);
    expect(redacted(DEFAULTS)).toEqual({ ...DEFAULTS, admin: { ...DEFAULTS.admin, token: '[redacted]' }, judge: { ...DEFAULTS.judge, apiKey: '[redacted]' } });
  });

  // Every key marked secret (the admin token, the judge API key) is set to a
  // sentinel from the environment; the sentinel must not reach what is logged
  // at start (redacted(config)) or --help, and the other keys must.
  it('redacts every secret key, and only those', async () => {
    const secrets = CONFIG_KEYS.filter((k) => RULES[k].secret);
    expect(secrets).toEqual(expect.arrayContaining(['admin.token', 'judge.apiKey']));
    const sentinel = (k: string) => `sentinel-${k}-do-not-log`;
    const env = Object.fromEntries(secrets.map((k) => [envName(k), sentinel(k)]));
    const config = await loadConfig({ env });
    const shown = redacted(config);
    const text = JSON.stringify(shown) + configHelp();
    for (const k of secrets) {
      expect(JSON.stringify(config)).toContain(sentinel(k));
      expect(text).not.toContain(sentinel(k));
      expect(getAt(shown, k)).toBe('[redacted]');
    }
    for (const k of CONFIG_KEYS.filter((c) => !secrets.includes(c))) expect(getAt(shown, k)).toEqual(getAt(config, k));
  });

  it('redacts the admin token in the printed config, in errors and in --help', async () => {
    const token = 's3cret-token-value';
    const config = await loadConfig({ env: { MRM_ADMIN_TOKEN: token } });
    expect(config.admin.token).toBe(token);
    expect(JSON.stringify(redacted(config))).not.toContain(token);
    expect(configHelp()).toContain('MRM_ADMIN_TOKEN');
    const err = await loadConfig({ file: await file(JSON.stringify({ admin: { token: 12345678 } })) }).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/admin\.token .*\[redacted\]/);
    expect(err?.message).not.toContain('12345678');
  });

  it('refuses half a TLS config, mutual TLS without TLS, and two token sources', async () => {
    await expect(loadConfig({ flags: { 'tls-cert': '/c.pem' } })).rejects.toThrow(/tls\.key .*set both/);
    await expect(loadConfig({ flags: { 'admin-client-ca': '/ca.pem' } })).rejects.toThrow(/admin\.clientCa .*tls\.cert/);
    await expect(loadConfig({ flags: { 'admin-token': 'x', 'admin-token-file': '/t' } })).rejects.toThrow(/not both/);
    await expect(loadConfig({ flags: { 'swap-retry-initial-ms': '5000', 'swap-retry-max-ms': '100' } })).rejects.toThrow(/swap\.retryMaxMs/);
  });
});
