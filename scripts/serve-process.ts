/**
 * A throwaway `mrm serve` for the overload scripts (flood, soak, cache-rss):
 * loopback, any free port, no admin port, its own state directory, its JSON
 * log lines handed to the caller as they come. Resolves once the server
 * says `server.serving`; the server is killed when the script exits, however
 * it exits (a failing client included).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';

export interface ServeProcess {
  server: ChildProcess;
  pid: number;
  port: number;
}

export async function startServe(opts: {
  stateDir: string;
  statsIntervalMs: number;
  /** Extra `mrm serve` flags, space-separated as given on the script's command line. */
  serverFlags?: string;
  /** Node flags for the server process (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Every JSON log line of the server, parsed. */
  onLine?: (rec: Record<string, unknown>) => void;
  /** Run the server (all its threads) on this core only (taskset execs node: the pid is the server's). */
  core?: number;
  /** Keep every line the server writes to stderr (JSON or not: Node's own diagnostics, e.g. NODE_DEBUG_NATIVE) in this file. */
  logFile?: string;
}): Promise<ServeProcess> {
  const node = [process.execPath, ...(opts.nodeArgs ?? []), 'bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0',
    '--state-dir', opts.stateDir, '--stats-interval-ms', String(opts.statsIntervalMs), ...(opts.serverFlags ?? '').split(' ').filter(Boolean)];
  const argv = opts.core === undefined ? node : ['taskset', '-c', String(opts.core), ...node];
  const server = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const kill = () => { if (server.exitCode === null) server.kill('SIGKILL'); };
  process.on('exit', kill);
  server.once('exit', () => process.off('exit', kill));
  const copy = opts.logFile ? createWriteStream(opts.logFile) : null;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('exit', (c) => reject(new Error(`mrm serve exited with ${c}`)));
    createInterface({ input: server.stderr! }).on('line', (line) => {
      copy?.write(`${line}\n`);
      let rec: Record<string, unknown>;
      try { rec = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      if (rec.event === 'server.serving') resolve(rec.port as number);
      opts.onLine?.(rec);
    });
  });
  return { server, pid: server.pid!, port };
}

/** Moves this process and all its threads to `cores`; false when taskset refuses. */
export function pinSelf(cores: string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', cores, String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Two cores and a working taskset: a server on core 0 and its clients on core 1. */
export function canPin(): boolean {
  return cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0;
}
