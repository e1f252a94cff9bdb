/**
 * Who may call the admin API: whoever sends `authorization: Bearer <token>`
 * with the configured token. The token comes from admin.token (config file,
 * MRM_ADMIN_TOKEN, flag) or admin.tokenFile; it is compared by sha256 digest
 * with timingSafeEqual, so neither its length nor a prefix leaks through
 * timing, and it never reaches a log line (the config printout redacts it).
 *
 * Without a token the admin API is open to whoever reaches the port, which is
 * acceptable only on loopback; a non-loopback admin host without a token is a
 * config error (the server refuses to start).
 */
import type * as grpc from '@grpc/grpc-js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError, type ServeConfig } from './config.js';

export type AuthFailure = 'missing' | 'wrong';

export class AdminAuth {
  private constructor(private readonly digest: Buffer | null) {}

  /** Reads admin.token / admin.tokenFile and applies the loopback rule. */
  static fromConfig(config: ServeConfig): AdminAuth {
    let token = config.admin.token;
    if (config.admin.tokenFile !== '') {
      try {
        // A trailing newline is how editors and `echo` write files; it is not part of the token.
        token = readFileSync(config.admin.tokenFile, 'utf8').trim();
      } catch (cause) {
        throw new ConfigError('admin.tokenFile', 'merged config', `cannot read ${config.admin.tokenFile}: ${(cause as Error).message}`, { cause });
      }
      if (token === '') throw new ConfigError('admin.tokenFile', 'merged config', `${config.admin.tokenFile} is empty`);
    }
    if (token === '' && config.admin.enabled && !isLoopback(config.admin.host)) {
      throw new ConfigError('admin.host', 'merged config',
        `admin API on non-loopback address ${config.admin.host} without a token; set MRM_ADMIN_TOKEN or admin.tokenFile, or bind admin.host to 127.0.0.1`);
    }
    return new AdminAuth(token === '' ? null : sha256(token));
  }

  get required(): boolean {
    return this.digest !== null;
  }

  /** null when the call may proceed. */
  check(metadata: grpc.Metadata): AuthFailure | null {
    if (this.digest === null) return null;
    const values = metadata.get('authorization');
    if (values.length === 0) return 'missing';
    const m = /^Bearer[ ]+(.+)$/i.exec(String(values[0]));
    if (!m) return 'missing';
    return timingSafeEqual(sha256(m[1]!.trim()), this.digest) ? null : 'wrong';
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./i.test(h);
  return false;
}
