/**
 * A connection that Node's HTTP/2 layer ends with an error is logged
 * (`connection.error`, with Node's error code), and the server goes on
 * serving other connections. The error here is the one grpcio 1.51 causes
 * under a flood (grpc/grpc#19655, #38758): a RST_STREAM for a stream it never
 * opened, which RFC 9113 section 6.4 makes a connection error. Before the
 * listener, such a connection vanished from the logs while its clients saw
 * every open call reset with "RST_STREAM with error code 2".
 */
import { rm } from 'node:fs/promises';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/serve/log.js';
import { createRewardClient, unary } from '../../src/serve/proto.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { sleep, testConfig, tinyDir, until } from './helpers.js';

/** One HTTP/2 frame: 9-byte header, then the payload. */
function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK literal header field without indexing, plain (no Huffman) strings under 128 bytes. */
const literal = (name: string, value: string) => Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);

const HEADERS = 1;
const RST_STREAM = 3;
const GOAWAY = 7;
const END_HEADERS = 4;
// Node destroys the session on nghttp2's protocol error, with GOAWAY(INTERNAL_ERROR), not nghttp2's own PROTOCOL_ERROR.
const INTERNAL_ERROR = 2;

let dir: string;
let server: RunningServer;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = await tinyDir();
  const log = createLogger({ level: 'warn', sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  server = await startServer(testConfig(dir), log);
  await server.ready;
});
afterAll(async () => {
  await server.shutdown('test done');
  await rm(dir, { recursive: true, force: true });
});

describe('a connection ended by a protocol error', () => {
  it('is logged with its error code, and other connections are served', async () => {
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let goawayCode: number | null = null;
    let inbound = Buffer.alloc(0);
    socket.on('data', (d) => {
      inbound = Buffer.concat([inbound, d]);
      while (inbound.length >= 9 && inbound.length >= 9 + inbound.readUIntBE(0, 3)) {
        const len = inbound.readUIntBE(0, 3);
        if (inbound[3] === GOAWAY) goawayCode = inbound.readUInt32BE(9 + 4);
        inbound = inbound.subarray(9 + len);
      }
    });
    const closed = new Promise((r) => socket.once('close', r));
    socket.on('error', () => {});
    const block = Buffer.concat([
      literal(':method', 'POST'), literal(':scheme', 'http'), literal(':path', '/mrm.v1.RewardService/Score'),
      literal(':authority', 'localhost'), literal('content-type', 'application/grpc'), literal('te', 'trailers'),
    ]);
    // A Score call's HEADERS (its message never comes): the gate sees the connection.
    socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0)), frame(HEADERS, END_HEADERS, 1, block)]));
    await sleep(300);
    // RST_STREAM (CANCEL) on stream 7, never opened: what grpcio sends for a call cancelled before its HEADERS went out.
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(8);
    socket.write(frame(RST_STREAM, 0, 7, cancel));
    await closed;
    expect(goawayCode).toBe(INTERNAL_ERROR);
    await until(() => lines.some((l) => l.event === 'connection.error'));
    const line = lines.find((l) => l.event === 'connection.error')!;
    expect(line.level).toBe('warn');
    expect(line.remote).toBe('127.0.0.1');
    expect(line.error).toMatchObject({ code: 'ERR_HTTP2_ERROR', message: 'Protocol error' });

    const client = createRewardClient(`127.0.0.1:${server.port}`);
    try {
      const res = await unary(client.score.bind(client), { items: [{ prompt: 'p', response: 'r' }] });
      expect(res.items).toHaveLength(1);
    } finally {
      client.close();
    }
  });
});
