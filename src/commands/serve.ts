/** mrm serve: the reward service (gRPC) on the registry's active version. */
import { setLogger } from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { CONFIG_KEYS, ConfigError, configHelp, flagName, loadConfig, redacted, type ServeConfig } from '../serve/config.js';
import { createLogger, errorFields } from '../serve/log.js';
import { setHeapGrowth } from '../serve/heap-growth.js';
import { startServer } from '../serve/server.js';
import { noPositionals, parse, UsageError } from './args.js';

const HELP = `usage: mrm serve [--config FILE] [--KEY VALUE ...]

Serves mrm.v1.RewardService, grpc.health.v1.Health and server reflection.
On first start the registry in the state directory is seeded from the seed
bundle. Logs are JSON lines on stderr. SIGTERM/SIGINT shut down gracefully.

Config: defaults < --config FILE (JSON) < environment MRM_<KEY> < flags.
Every key has all three spellings; a JSON key with a dot is nested:
encoder.maxBatchSize is {"encoder": {"maxBatchSize": 32}}.
  --config FILE                  JSON config file
${configHelp()}

The admin API (mrm.v1.AdminService, used by \`mrm models\`) listens on
--admin-host:--admin-port (default 127.0.0.1:50052). Give its token through
MRM_ADMIN_TOKEN or --admin-token-file rather than --admin-token, which other
users of the machine can read in the process list.

Example: mrm serve --port 50051 --state-dir /tmp/mrm --encoder-max-batch-size 32`;

export async function run(argv: string[]): Promise<void> {
  const options = Object.fromEntries([
    ['config', { type: 'string' as const }],
    ...CONFIG_KEYS.map((k) => [flagName(k), { type: 'string' as const }]),
  ]);
  const { values, positionals } = parse(argv, options, HELP);
  noPositionals(positionals);
  const flags = Object.fromEntries(CONFIG_KEYS.map((k) => [flagName(k), values[flagName(k)] as string | undefined]));
  const file = values.config as string | undefined;
  let config: ServeConfig;
  try {
    config = await loadConfig({ ...(file ? { file } : {}), env: process.env, flags });
  } catch (err) {
    // A bad flag, variable or config file is the user's to fix: exit 2 with the key and source named.
    if (err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
  // Before the server allocates: the factor applies from the next collection on.
  setHeapGrowth(config.heapGrowingPercent);
  const log = createLogger({ level: config.logLevel, fields: { pid: process.pid } });
  // grpc-js prints its errors as bare text ("E No address added ..."); make
  // them log lines so stderr stays JSON until the one-line error at exit.
  setLogger({ error: (...args: unknown[]) => log.warn('grpc.log', { message: args.map(String).join(' ') }) });
  log.info('server.config', { config: redacted(config), file: file ?? null });

  // A lost promise somewhere must not take every caller down with it: log it
  // and keep serving. (Uncaught exceptions still end the process: state may be broken.)
  process.on('unhandledRejection', (reason) => log.error('process.unhandled_rejection', { error: errorFields(reason) }));

  // A config the server cannot start with (a non-loopback admin host without a token, unreadable
  // TLS files) is a usage mistake: exit 2 with its one line, like a bad flag.
  const server = await startServer(config, log).catch(async (err: unknown) => {
    if (err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
    throw await explainBindFailure(config, err);
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn('server.exit_now', { signal, message: 'second signal: exiting without waiting' });
      process.exit(1);
    }
    server.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('server.shutdown_failed', { error: errorFields(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await server.ready;
  } catch (err) {
    // Exit non-zero so a supervisor sees a server that cannot serve, not a healthy-looking idle one.
    await server.shutdown('model load failed');
    throw err;
  }
}

/**
 * grpc-js reports any failed bind as "No address added out of total 1
 * resolved"; listen on the same address with node's net to learn why
 * (in use, not permitted, no such interface) and say what to change.
 */
async function explainBindFailure(config: ServeConfig, err: unknown): Promise<unknown> {
  if (!/No address added/.test((err as Error)?.message ?? '')) return err;
  const code = await new Promise<string | null>((resolve) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? null));
    probe.listen(config.port, config.host, () => probe.close(() => resolve(null)));
  });
  const where = `${config.host}:${config.port}`;
  const fix = 'choose another with --port N (0: any free port) or MRM_PORT';
  const message = code === 'EADDRINUSE' ? `cannot listen on ${where}: the port is in use (another mrm serve?); ${fix}`
    : code === 'EACCES' ? `cannot listen on ${where}: permission denied (ports below 1024 need privileges); ${fix}`
      : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? `cannot listen on ${where}: this machine has no interface ${config.host}; use --host 0.0.0.0 or 127.0.0.1`
        : `cannot listen on ${where}: ${code ?? (err as Error).message}`;
  return new Error(message, { cause: err });
}
