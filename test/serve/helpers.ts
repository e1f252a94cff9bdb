/**
 * Real servers for the serve tests: the tiny bundle seeded into a temp state
 * directory, a grpc-js server on a loopback port, a grpc-js client, and PNGs
 * made with sharp.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import sharp from 'sharp';
import { DEFAULTS, type ServeConfig } from '../../src/serve/config.js';
import { silentLogger } from '../../src/serve/log.js';
import { createRewardClient, type RewardClient, type ScoreRequestMsg, type ScoreResponseMsg, unary } from '../../src/serve/proto.js';
import { startServer, type RunningServer, type StartOptions } from '../../src/serve/server.js';
import type { BundleSpec } from '../../src/model/write.js';
import { writeTinyBundle } from '../fixtures/tiny-bundle.js';

export type ConfigOverrides = Partial<Omit<ServeConfig, 'vision' | 'encoder' | 'cache' | 'admin' | 'swap' | 'tls' | 'telemetry'>> & {
  vision?: Partial<ServeConfig['vision']>;
  encoder?: Partial<ServeConfig['encoder']>;
  cache?: Partial<ServeConfig['cache']>;
  admin?: Partial<ServeConfig['admin']>;
  swap?: Partial<ServeConfig['swap']>;
  tls?: Partial<ServeConfig['tls']>;
  telemetry?: Partial<ServeConfig['telemetry']>;
};

export function testConfig(dir: string, o: ConfigOverrides = {}): ServeConfig {
  return {
    ...DEFAULTS,
    host: '127.0.0.1',
    port: 0,
    stateDir: join(dir, 'state'),
    seedBundle: join(dir, 'bundle'),
    statsIntervalMs: 0,
    shutdownGraceMs: 5000,
    ...o,
    vision: { ...DEFAULTS.vision, ...o.vision },
    encoder: { ...DEFAULTS.encoder, ...o.encoder },
    cache: { ...DEFAULTS.cache, ...o.cache },
    // A free port: tests run in parallel and must not fight over 50052.
    admin: { ...DEFAULTS.admin, port: 0, ...o.admin },
    swap: { ...DEFAULTS.swap, ...o.swap },
    tls: { ...DEFAULTS.tls, ...o.tls },
    telemetry: { ...DEFAULTS.telemetry, ...o.telemetry },
  };
}

export interface TestServer {
  dir: string;
  config: ServeConfig;
  server: RunningServer;
  client: RewardClient;
  address: string;
  score(req: ScoreRequestMsg, opts?: grpc.CallOptions): Promise<ScoreResponseMsg>;
  close(): Promise<void>;
}

/** A temp dir with the tiny bundle (with `bundle` overrides) at `bundle/`. */
export async function tinyDir(bundle: Partial<BundleSpec> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mrm-serve-'));
  await writeTinyBundle(join(dir, 'bundle'), bundle);
  return dir;
}

export async function startTestServer(o: ConfigOverrides = {}, opts: StartOptions & { wait?: boolean; bundle?: Partial<BundleSpec> } = {}): Promise<TestServer> {
  const dir = await tinyDir(opts.bundle);
  const config = testConfig(dir, o);
  const server = await startServer(config, silentLogger, opts);
  if (opts.wait !== false) await server.ready;
  const address = `127.0.0.1:${server.port}`;
  const client = createRewardClient(address);
  return {
    dir,
    config,
    server,
    client,
    address,
    score: (req, callOpts = {}) => unary(client.score.bind(client), req, callOpts),
    close: async () => {
      client.close();
      await server.shutdown('test done');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A small solid PNG; different (r, g, b) give different bytes and sha256s. */
export function png(r: number, g = 0, b = 0, size = 24): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

/** A valid PNG claiming width x height with a few bytes of pixel data (a decompression-bomb header). */
export { headerBomb as pngHeaderOnly } from '../fixtures/png.js';

/** The gRPC error of a call that must fail. */
export async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds (tests wait on server state, not on guessed delays). */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

/**
 * A server as its own process (`command args`, run from the repository), up
 * once it logs `server.serving`. Its JSON log lines are collected in `logs`;
 * other stderr lines (npm's) are skipped.
 */
export async function spawnServer(command: string, args: string[], opts: { cwd: string; detached?: boolean; env?: NodeJS.ProcessEnv }): Promise<{ proc: ChildProcess; port: number; logs: Record<string, unknown>[] }> {
  const proc = spawn(command, args, { cwd: opts.cwd, stdio: ['ignore', 'ignore', 'pipe'], detached: opts.detached ?? false, ...(opts.env ? { env: opts.env } : {}) });
  const logs: Record<string, unknown>[] = [];
  const lines = createInterface({ input: proc.stderr! });
  const port = await new Promise<number>((resolve, reject) => {
    proc.on('exit', (code) => reject(new Error(`${command} exited with ${code} before serving: ${JSON.stringify(logs)}`)));
    lines.on('line', (line) => {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(rec);
      if (rec.event === 'server.serving') resolve(rec.port as number);
    });
  });
  return { proc, port, logs };
}

/** Runs a command to its end in `cwd`: its exit code and its stdout and stderr interleaved. */
export function runCommand(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  return new Promise((resolve) => p.on('exit', (code) => resolve({ code, out })));
}
