/**
 * The transport the reward server and the gRPC floor's echo server share
 * (grpc-options.ts), over real loopback: the echo's window-only interceptor
 * raises the connection window as the real server's arrival gate does, and
 * the server options carry the configured message limit.
 */
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/serve/config.js';
import { CONNECTION_WINDOW_BYTES, connectionWindowInterceptor, rewardServerOptions } from '../../src/serve/grpc-options.js';
import { createRewardClient, loadPackage, rewardServiceDefinition, unary, type RewardClient } from '../../src/serve/proto.js';

const LIMIT = 4096;
let server: grpc.Server;
let port: number;
let client: RewardClient;

beforeAll(async () => {
  server = new grpc.Server({ ...rewardServerOptions({ ...DEFAULTS, maxMessageBytes: LIMIT }), interceptors: [connectionWindowInterceptor()] });
  server.addService(rewardServiceDefinition(loadPackage()), {
    score: (call: grpc.ServerUnaryCall<{ requestId?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { requestId: call.request.requestId ?? '', model: { name: 'echo', version: 1 }, items: [], groups: [] }),
  });
  port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  client = createRewardClient(`127.0.0.1:${port}`);
});
afterAll(() => {
  client.close();
  server.forceShutdown();
});

describe('the shared transport', () => {
  it('raises the connection window to CONNECTION_WINDOW_BYTES at the first call', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      await new Promise((r) => session.once('connect', r));
      expect(session.state.remoteWindowSize).toBe(65_535);
      const req = session.request({ ':method': 'POST', ':path': '/mrm.v1.RewardService/Score', 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => {});
      req.resume();
      await new Promise((r) => setTimeout(r, 300));
      expect(session.state.remoteWindowSize).toBe(CONNECTION_WINDOW_BYTES);
      req.close(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.close();
    }
  });

  it('answers within the configured message limit and refuses a message over it', async () => {
    expect((await unary(client.score.bind(client), { requestId: 'small' })).requestId).toBe('small');
    await expect(unary(client.score.bind(client), { requestId: 'x'.repeat(2 * LIMIT) })).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
  });
});
