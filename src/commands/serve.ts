/** mrm serve: the reward service (gRPC) on the registry's active version. */
import { CONFIG_KEYS, ConfigError, configHelp, flagName, loadConfig, redacted } from '../serve/config.js';
import { createLogger, errorFields } from '../serve/log.js';
import { startServer } from '../serve/server.js';
import { parse, UsageError } from './args.js';

const HELP = `usage: mrm serve [--config FILE] [--KEY VALUE ...]

Serves mrm.v1.RewardService, grpc.health.v1.Health and server reflection.
On first start the registry in the state directory is seeded from the seed
bundle. Logs are JSON lines on stderr. SIGTERM/SIGINT shut down gracefully.

Config: defaults < --config FILE (JSON) < environment MRM_<KEY> < flags.
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
  const { values } = parse(argv, options, HELP);
  const flags = Object.fromEntries(CONFIG_KEYS.map((k) => [flagName(k), values[flagName(k)] as string | undefined]));
  const file = values.config as string | undefined;
  const config = await loadConfig({ ...(file ? { file } : {}), env: process.env, flags });
  const log = createLogger({ level: config.logLevel, fields: { pid: process.pid } });
  log.info('server.config', { config: redacted(config), file: file ?? null });

  // A lost promise somewhere must not take every caller down with it: log it
  // and keep serving. (Uncaught exceptions still end the process: state may be broken.)
  process.on('unhandledRejection', (reason) => log.error('process.unhandled_rejection', { error: errorFields(reason) }));

  // A config the server cannot start with (a non-loopback admin host without a token, unreadable
  // TLS files) is a usage mistake: exit 2 with its one line, like a bad flag.
  const server = await startServer(config, log).catch((err: unknown) => {
    throw err instanceof ConfigError ? new UsageError(err.message, { cause: err }) : err;
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
