/**
 * TLS on both ports with a self-signed certificate made by openssl: grpc-js
 * and Python (grpcio's ssl_channel_credentials) connect; a plaintext client
 * fails cleanly; the admin port can require a client certificate.
 * Needs /usr/bin/python3 with python3-grpcio (apt); without it this fails.
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminClient } from '../../src/serve/admin-proto.js';
import { createRewardClient, unary } from '../../src/serve/proto.js';
import { clientCredentials } from '../../src/serve/tls.js';
import { failure, startTestServer, tinyDir, type TestServer } from './helpers.js';

const TOKEN = 'tls-test-token';
let pki: string;
let t: TestServer;
const pem = (name: string) => readFileSync(join(pki, name));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: pki, stdio: 'pipe' });
}

beforeAll(async () => {
  pki = await tinyDir();
  // Server: self-signed for localhost and 127.0.0.1. Clients: a CA and one certificate it signed.
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.crt', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=mrm test client CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=ops');
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2');
  t = await startTestServer({ tls: { cert: join(pki, 'server.crt'), key: join(pki, 'server.key') }, admin: { token: TOKEN } });
});

afterAll(async () => {
  await t.close();
  await rm(pki, { recursive: true, force: true });
});

const item = { items: [{ prompt: 'red circle', response: 'yes' }] };

describe('TLS', () => {
  it('serves Score and the admin API to grpc-js TLS clients', async () => {
    const reward = createRewardClient(`127.0.0.1:${t.server.port}`, {}, clientCredentials({ ca: pem('server.crt') }));
    const admin = createAdminClient(`127.0.0.1:${t.server.adminPort}`, { token: TOKEN, credentials: clientCredentials({ ca: pem('server.crt') }) });
    try {
      expect((await unary(reward.score.bind(reward), item)).model).toEqual({ name: 'tiny', version: 1 });
      expect((await admin.call('listModels', {})).servingVersion).toBe(1);
    } finally {
      reward.close();
      admin.close();
    }
  });

  it('fails a plaintext client cleanly with UNAVAILABLE on both ports', async () => {
    const reward = createRewardClient(`127.0.0.1:${t.server.port}`);
    const admin = createAdminClient(`127.0.0.1:${t.server.adminPort}`, { token: TOKEN });
    try {
      const e1 = await failure(unary(reward.score.bind(reward), item, { deadline: Date.now() + 10_000 }));
      expect(e1.code).toBe(grpc.status.UNAVAILABLE);
      const e2 = await failure(admin.call('listModels', {}, { deadline: Date.now() + 10_000 }));
      expect(e2.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      reward.close();
      admin.close();
    }
    // The server is unharmed.
    expect(t.server.stats().rpc.calls.Score).toBeGreaterThan(0);
  });

  it("accepts Python's grpc.ssl_channel_credentials: health, Score and an authorized admin call", async () => {
    // No generated stubs: raw bytes. Health request {} -> response status=1 (SERVING) is 08 01;
    // a Score request with one item (field 1) whose prompt (3) and response (4) are set.
    const script = `
import grpc, sys
creds = grpc.ssl_channel_credentials(root_certificates=open(sys.argv[1], 'rb').read())
ident = lambda b: b
def unary(port, method, body, meta=()):
    with grpc.secure_channel('127.0.0.1:%s' % port, creds) as ch:
        return ch.unary_unary(method, request_serializer=ident, response_deserializer=ident)(body, timeout=20, metadata=meta)
print('health', unary(sys.argv[2], '/grpc.health.v1.Health/Check', b'').hex())
item = b'\\x1a\\x0ared circle' + b'\\x22\\x03yes'
print('score', len(unary(sys.argv[2], '/mrm.v1.RewardService/Score', b'\\x0a' + bytes([len(item)]) + item)))
print('admin', len(unary(sys.argv[3], '/mrm.v1.AdminService/ListModels', b'', (('authorization', 'Bearer ${TOKEN}'),))))
try:
    unary(sys.argv[3], '/mrm.v1.AdminService/ListModels', b'')
except grpc.RpcError as e:
    print('no token', e.code().name)
`;
    const py = spawn('/usr/bin/python3', ['-c', script, join(pki, 'server.crt'), String(t.server.port), String(t.server.adminPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    py.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    py.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    const code = await new Promise<number | null>((resolve) => py.on('exit', resolve));
    expect(code, `python failed (apt-get install -y python3-grpcio):\n${out}\n${err}`).toBe(0);
    expect(out).toContain('health 0801');
    expect(out).toMatch(/score [1-9][0-9]*/);
    expect(out).toMatch(/admin [1-9][0-9]*/);
    expect(out).toContain('no token UNAUTHENTICATED');
  });
});

describe('mutual TLS on the admin port', () => {
  it('refuses a client without a certificate from admin.clientCa and serves one with it', async () => {
    const s = await startTestServer({ tls: { cert: join(pki, 'server.crt'), key: join(pki, 'server.key') }, admin: { clientCa: join(pki, 'ca.crt') } });
    const addr = `127.0.0.1:${s.server.adminPort}`;
    const anon = createAdminClient(addr, { credentials: clientCredentials({ ca: pem('server.crt') }) });
    const ops = createAdminClient(addr, { credentials: clientCredentials({ ca: pem('server.crt'), cert: pem('client.crt'), key: pem('client.key') }) });
    try {
      expect((await failure(anon.call('listModels', {}, { deadline: Date.now() + 10_000 }))).code).toBe(grpc.status.UNAVAILABLE);
      expect((await ops.call('listModels', {})).servingVersion).toBe(1);
      // The reward port does not ask for client certificates.
      const reward = createRewardClient(`127.0.0.1:${s.server.port}`, {}, clientCredentials({ ca: pem('server.crt') }));
      expect((await unary(reward.score.bind(reward), item)).model!.version).toBe(1);
      reward.close();
    } finally {
      anon.close();
      ops.close();
      await s.close();
    }
  });
});
