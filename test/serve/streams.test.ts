/**
 * Streams and connections that would hold server memory (issue 12, Build 3),
 * against a real `mrm serve` process over loopback: a ScoreStream whose
 * client stops reading, more streams than connections.maxOpenStreams, idle
 * and vanished (SIGSTOPped) connections, and a client that sends a large
 * message slowly. Each checks the server's RSS or sockets from /proc and
 * that another client is served meanwhile.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as http2 from 'node:http2';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRewardClient, loadPackage, type RewardClient, rewardServiceDefinition, type ScoreRequestMsg, type ScoreResponseMsg, unary } from '../../src/serve/proto.js';
import { sleep, spawnServer, tinyDir, until } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAX_MESSAGE = 4 * 2 ** 20;
const MAX_STREAMS = 4;
let dir: string;
let server: ChildProcess;
let address: string;
let logs: Record<string, unknown>[];
let other: RewardClient;

beforeAll(async () => {
  dir = await tinyDir();
  const s = await spawnServer(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0',
    '--state-dir', join(dir, 'state'), '--seed-bundle', join(dir, 'bundle'), '--stats-interval-ms', '200',
    '--max-message-bytes', String(MAX_MESSAGE), '--connections-max-open-streams', String(MAX_STREAMS),
    '--connections-max-idle-ms', '1000', '--connections-keepalive-time-ms', '1000', '--connections-keepalive-timeout-ms', '1000'], { cwd: ROOT });
  server = s.proc;
  logs = s.logs;
  address = `127.0.0.1:${s.port}`;
  other = client();
}, 60_000);

afterAll(async () => {
  other?.close();
  if (server && server.exitCode === null) server.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** A client on a connection of its own. */
const client = () => createRewardClient(address, { 'grpc.use_local_subchannel_pool': 1 });
const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]) / 1024;
/** Connections the server holds open: its side of ESTABLISHED TCP connections to its port. */
const established = () => {
  const port = Number(address.split(':')[1]);
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) => readFileSync(f, 'utf8').split('\n').slice(1)).filter((line) => {
    const [, local, , st] = line.trim().split(/\s+/);
    return st === '01' && local !== undefined && parseInt(local.split(':')[1]!, 16) === port;
  }).length;
};
const serialize = rewardServiceDefinition(loadPackage()).ScoreStream!.requestSerialize as (m: ScoreRequestMsg) => Buffer;
/** One gRPC length-prefixed message. */
const frame = (body: Buffer) => {
  const b = Buffer.alloc(5 + body.length);
  b.writeUInt32BE(body.length, 1);
  body.copy(b, 5);
  return b;
};
/** Keeps another client calling every 200 ms until stopped; every call must succeed promptly. */
function busyOther(): { stop: () => Promise<number> } {
  let running = true;
  let calls = 0;
  const loop = (async () => {
    while (running) {
      expect(await servedMeanwhile()).toBeLessThan(3000);
      calls++;
      await sleep(200);
    }
  })();
  return { stop: async () => { running = false; await loop; return calls; } };
}
const lastStats = () => [...logs].reverse().find((l) => l.event === 'server.stats') as { rpc: { calls: Record<string, number> } } | undefined;
const streamCalls = () => lastStats()?.rpc.calls.ScoreStream ?? 0;

/** Another client's unary call, which must be answered promptly whatever the test is doing. */
async function servedMeanwhile(): Promise<number> {
  const t0 = performance.now();
  const res = await unary(other.score.bind(other), { items: [{ prompt: 'red circle', response: `meanwhile ${Math.random()}` }] }, { deadline: Date.now() + 5000 });
  expect(res.items).toHaveLength(1);
  return performance.now() - t0;
}

/**
 * A raw HTTP/2 session to the server. The server may tear a connection down
 * under these abuses (reset refused streams, idle and keepalive closes); the
 * tests judge what each call received, so a session's own socket error
 * (ECONNRESET) is expected and must not surface as an uncaught exception.
 */
function rawSession(): http2.ClientHttp2Session {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => {});
  return session;
}

describe('a ScoreStream whose client stops reading', () => {
  it('stops being read once its responses back up; memory stays bounded; the client gets every response once it reads', async () => {
    // A raw HTTP/2 client, so that "stops reading" reaches the transport
    // (grpc-js clients keep reading into their own buffers when paused).
    const session = rawSession();
    const req = session.request({ ':method': 'POST', ':path': '/mrm.v1.RewardService/ScoreStream', 'content-type': 'application/grpc', te: 'trailers' });
    req.pause();
    const rss0 = rssMiB();
    // Each response echoes its 2 KiB request id, so unread responses fill the window quickly.
    const pad = 'x'.repeat(2048);
    let sent = 0;
    let blocked = false;
    while (sent < 100_000) {
      const ok = req.write(frame(serialize({ requestId: `${sent}-${pad}`, items: [{ prompt: 'red circle', response: `r${sent % 97}` }] })));
      sent++;
      if (!ok) {
        const drained = await Promise.race([once(req, 'drain').then(() => true), sleep(3000).then(() => false)]);
        if (!drained) { blocked = true; break; }
      }
    }
    // The server stopped reading: the client's writes stay blocked, and what it scores stops growing.
    expect(blocked).toBe(true);
    await sleep(600);
    const scored = streamCalls();
    await sleep(1000);
    expect(streamCalls()).toBe(scored);
    expect(scored).toBeLessThan(sent);
    expect(rssMiB() - rss0).toBeLessThan(64);
    expect(await servedMeanwhile()).toBeLessThan(2000);
    // Reading again: flow resumes and every request is answered.
    let buf = Buffer.alloc(0);
    let got = 0;
    req.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        buf = buf.subarray(5 + buf.readUInt32BE(1));
        got++;
      }
    });
    const trailers = once(req, 'trailers');
    req.resume();
    req.end();
    const [t] = (await trailers) as [http2.IncomingHttpHeaders];
    expect(t['grpc-status']).toBe('0');
    expect(got).toBe(sent);
    session.close();
  }, 90_000);
});

describe('many open streams', () => {
  it(`refuses the stream past connections.maxOpenStreams (${MAX_STREAMS}) with RESOURCE_EXHAUSTED, serves the rest and unary calls`, async () => {
    const clients = [client(), client()];
    const open: grpc.ClientDuplexStream<ScoreRequestMsg, ScoreResponseMsg>[] = [];
    const firstResponse = (call: grpc.ClientDuplexStream<ScoreRequestMsg, ScoreResponseMsg>, id: string) => {
      call.write({ requestId: id, items: [{ prompt: 'red circle', response: id }] });
      return new Promise<ScoreResponseMsg>((resolve, reject) => { call.once('data', resolve); call.once('error', reject); });
    };
    for (let i = 0; i < MAX_STREAMS; i++) {
      const call = clients[i % 2]!.scoreStream(new grpc.Metadata(), {});
      open.push(call);
      expect((await firstResponse(call, `s${i}`)).error).toBeNull();
    }
    const excess = clients[0]!.scoreStream(new grpc.Metadata(), {});
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      excess.on('error', resolve);
      excess.on('data', () => {});
      excess.write({ requestId: 'excess', items: [{ prompt: 'p', response: 'r' }] });
    });
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain('connections.maxOpenStreams');
    expect(err.details).toContain(String(MAX_STREAMS));
    expect(Number(err.metadata.get('grpc-retry-pushback-ms')[0])).toBeGreaterThan(0);
    expect(await servedMeanwhile()).toBeLessThan(2000);
    // One ends: a new stream is taken again.
    const first = open.shift()!;
    first.on('data', () => {});
    const ended = once(first, 'end');
    first.end();
    await ended;
    const again = clients[1]!.scoreStream(new grpc.Metadata(), {});
    open.push(again);
    expect((await firstResponse(again, 'again')).error).toBeNull();
    for (const call of open) { call.on('data', () => {}); call.end(); }
    await Promise.all(open.map((call) => once(call, 'end')));
    for (const c of clients) c.close();
  }, 30_000);
});

describe('idle and vanished connections', () => {
  it('closes a connection idle past connections.maxIdleMs while a busy one is served', async () => {
    const busy = busyOther();
    await until(() => established() === 1, 8000);
    const idle = client();
    await unary(idle.score.bind(idle), { items: [{ prompt: 'red circle', response: 'then idle' }] });
    expect(established()).toBe(2);
    // maxIdleMs is 1 s: the idle one goes, the busy one stays.
    await until(() => idle.getChannel().getConnectivityState(false) !== grpc.connectivityState.READY, 8000);
    await until(() => established() === 1, 3000);
    expect(await busy.stop()).toBeGreaterThan(0);
    idle.close();
  }, 30_000);

  it('closes the connection of a client that stopped answering keepalive pings while its stream was open', async () => {
    const busy = busyOther();
    await until(() => established() === 1, 8000);
    // A real client process holding an open stream, then frozen (no FIN, no ping acks): a vanished peer.
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', `
      const { createRewardClient } = await import('./src/serve/proto.ts');
      const c = createRewardClient(${JSON.stringify(address)});
      const call = c.scoreStream();
      call.on('data', () => console.log('open'));
      call.write({ requestId: 'x', items: [{ prompt: 'p', response: 'r' }] });
      setInterval(() => {}, 1000);
    `], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(child.stdout!, 'data');
      expect(established()).toBe(2);
      child.kill('SIGSTOP');
      // keepalive 1 s + timeout 1 s; the stream is open, so max-idle does not apply.
      await until(() => established() === 1, 10_000);
      expect(await busy.stop()).toBeGreaterThan(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});

describe('a client that sends a large message slowly', () => {
  /** A raw HTTP/2 gRPC request whose body the test writes itself. */
  function rawScore(session: http2.ClientHttp2Session, timeout?: string) {
    const req = session.request({
      ':method': 'POST', ':path': '/mrm.v1.RewardService/Score', 'content-type': 'application/grpc', te: 'trailers',
      ...(timeout ? { 'grpc-timeout': timeout } : {}),
    });
    const status = new Promise<{ code: number; message: string; at: number }>((resolve) => {
      const settle = (h: http2.IncomingHttpHeaders) => resolve({ code: Number(h['grpc-status']), message: String(h['grpc-message'] ?? ''), at: performance.now() });
      // Trailers-only (a status before any response) comes as the response headers.
      req.on('response', (h) => { if (h['grpc-status'] !== undefined) settle(h); });
      req.on('trailers', settle);
      req.on('close', () => resolve({ code: -1, message: `closed, rst ${req.rstCode}`, at: performance.now() }));
      req.on('error', () => {});
      req.resume();
    });
    return { req, status };
  }
  const prefix = (length: number) => {
    const b = Buffer.alloc(5);
    b.writeUInt32BE(length, 1);
    return b;
  };

  it('refuses a declared size past maxMessageBytes at the size prefix, before the body comes', async () => {
    const session = rawSession();
    const { req, status } = rawScore(session);
    req.write(prefix(64 * 2 ** 20));
    req.write(Buffer.alloc(16 * 1024));
    const s = await status;
    expect(s.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(decodeURIComponent(s.message)).toContain(String(MAX_MESSAGE));
    session.close();
  }, 20_000);

  it('ends slow senders at their deadline with DEADLINE_EXCEEDED; RSS bounded; others served', async () => {
    const rss0 = rssMiB();
    const sessions = Array.from({ length: 4 }, () => rawSession());
    const t0 = performance.now();
    // 20 calls, each declaring a 3.5 MiB message (under the limit) and sending 16 KiB every 100 ms.
    const calls = Array.from({ length: 20 }, (_, i) => rawScore(sessions[i % 4]!, '1500m'));
    const chunk = Buffer.alloc(16 * 1024, 0x0a);
    for (const c of calls) c.req.write(prefix(3.5 * 2 ** 20));
    let done = false;
    const statuses = Promise.all(calls.map((c) => c.status)).finally(() => { done = true; });
    let peak = rss0;
    while (!done && performance.now() - t0 < 6000) {
      for (const c of calls) if (!c.req.closed && !c.req.destroyed) c.req.write(chunk);
      peak = Math.max(peak, rssMiB());
      await sleep(100);
    }
    expect(await servedMeanwhile()).toBeLessThan(2000);
    const results = await statuses;
    for (const s of results) {
      // Admitted at its headers and cut at its deadline; or, on a slow machine where the calls ahead already
      // exceed its 1.5 s (admission.deadlineShedding) or admission.maxQueueWaitMs (or the loop stays late,
      // admission.maxLoopLagMs), refused at its headers:
      // either way it ends and holds nothing.
      expect([grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED]).toContain(s.code);
      // Ended at the deadline (1.5 s), not when the 3.5 MiB would have arrived (~22 s at this pace).
      expect(s.at - t0).toBeLessThan(4000);
    }
    expect(results.filter((s) => s.code === grpc.status.DEADLINE_EXCEEDED).length).toBeGreaterThan(0);
    expect(peak - rss0).toBeLessThan(96);
    for (const s of sessions) s.close();
  }, 30_000);
});
