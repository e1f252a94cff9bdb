/**
 * Structured logs: one JSON object per line on stderr, so a log shipper can
 * parse them and stdout stays free for a command's output. Every line has
 * `time`, `level` and `event` (a stable dotted name to filter on); the rest
 * are the event's fields. Errors are written with their cause chain.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: Fields): void;
  info(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Fields): Logger;
  enabled(level: LogLevel): boolean;
}

export type Sink = (line: string) => void;

const stderrSink: Sink = (line) => process.stderr.write(line + '\n');

export function createLogger(opts: { level?: LogLevel; sink?: Sink; fields?: Fields } = {}): Logger {
  const min = LOG_LEVELS.indexOf(opts.level ?? 'info');
  const sink = opts.sink ?? stderrSink;
  const bound = opts.fields ?? {};
  const write = (level: LogLevel, event: string, fields?: Fields) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const record = { time: new Date().toISOString(), level, event, ...bound, ...fields };
    sink(JSON.stringify(record, replacer));
  };
  return {
    debug: (e, f) => write('debug', e, f),
    info: (e, f) => write('info', e, f),
    warn: (e, f) => write('warn', e, f),
    error: (e, f) => write('error', e, f),
    child: (fields) => createLogger({ level: LOG_LEVELS[min], sink, fields: { ...bound, ...fields } }),
    enabled: (level) => LOG_LEVELS.indexOf(level) >= min,
  };
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = createLogger({ sink: () => undefined, level: 'error' });

/** Errors as {name, message, kind?, cause?}: JSON.stringify would print `{}`. */
export function errorFields(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  const kind = (err as { kind?: unknown }).kind;
  if (kind !== undefined) out.kind = kind;
  // Node's own errors say what they are in `code` (ERR_HTTP2_ERROR, ECONNRESET) and `errno`; the message alone often does not.
  const { code, errno } = err as { code?: unknown; errno?: unknown };
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (typeof errno === 'number') out.errno = errno;
  if (err.cause !== undefined && depth < 4) out.cause = errorFields(err.cause, depth + 1);
  return out;
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return errorFields(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}
