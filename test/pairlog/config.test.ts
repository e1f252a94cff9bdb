/** The log.* config keys: spellings per source, validation naming the key. */
import { describe, expect, it } from 'vitest';
import { DEFAULTS, envName, flagName, loadConfig } from '../../src/serve/config.js';

describe('log.* config', () => {
  it('reads each key from env and flags with the usual spellings', async () => {
    expect(envName('log.sampleRate')).toBe('MRM_LOG_SAMPLE_RATE');
    expect(flagName('log.syncIntervalMs')).toBe('log-sync-interval-ms');
    const c = await loadConfig({ env: { MRM_LOG_BAND: '0.25', MRM_LOG_ENABLED: 'false' }, flags: { 'log-rate-per-sec': '500' } });
    expect(c.log).toEqual({ ...DEFAULTS.log, band: 0.25, enabled: false, ratePerSec: 500 });
  });

  it('refuses values out of range, naming the key and source', async () => {
    await expect(loadConfig({ flags: { 'log-band': '0.7' } })).rejects.toThrow('config log.band (--log-band): expected <= 0.5, got 0.7');
    await expect(loadConfig({ env: { MRM_LOG_SAMPLE_RATE: '-1' } })).rejects.toThrow('MRM_LOG_SAMPLE_RATE');
    await expect(loadConfig({ flags: { 'log-segment-bytes': String(64 << 20), 'log-max-bytes': String(100 << 20) } })).rejects.toThrow(/log\.maxBytes .*less than 2 x log\.segmentBytes/);
  });
});
