/**
 * Transport credentials of the two ports from the config's PEM files: TLS on
 * both when tls.cert and tls.key are set, plaintext otherwise; the admin port
 * can also require client certificates (mutual TLS) signed by admin.clientCa.
 * Files are read once, at start: a renewed certificate takes a restart
 * (rolling, with replicas), which is how most gRPC servers behave.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { ConfigError, type ServeConfig } from './config.js';

function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new ConfigError(key, 'merged config', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
}

export interface PortCredentials {
  reward: grpc.ServerCredentials;
  admin: grpc.ServerCredentials;
  tls: boolean;
  mutualAdmin: boolean;
}

export function serverCredentials(config: ServeConfig): PortCredentials {
  if (config.tls.cert === '') {
    return { reward: grpc.ServerCredentials.createInsecure(), admin: grpc.ServerCredentials.createInsecure(), tls: false, mutualAdmin: false };
  }
  const pair = { cert_chain: readPem('tls.cert', config.tls.cert), private_key: readPem('tls.key', config.tls.key) };
  const ca = config.admin.clientCa === '' ? null : readPem('admin.clientCa', config.admin.clientCa);
  // createSsl checks that the key and certificate parse; say which keys to fix.
  const make = (root: Buffer | null, checkClient: boolean) => {
    try {
      return grpc.ServerCredentials.createSsl(root, [pair], checkClient);
    } catch (cause) {
      throw new ConfigError('tls.cert', 'merged config', `${config.tls.cert} / ${config.tls.key}: not a usable PEM certificate and key: ${(cause as Error).message}`, { cause });
    }
  };
  return { reward: make(null, false), admin: make(ca, ca !== null), tls: true, mutualAdmin: ca !== null };
}

export interface ClientTlsOptions {
  /** PEM CA bundle that signed the server's certificate (default: the system's roots). */
  ca?: Buffer;
  /** Client certificate and key, for an admin port with mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
}

/** Channel credentials for the server's clients (mrm models, tests, benchmarks). */
export function clientCredentials(tls: ClientTlsOptions | null): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}
