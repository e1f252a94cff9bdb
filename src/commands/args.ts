/**
 * Option parsing for the subcommands: node's parseArgs plus typed readers
 * that name the flag and the expected value when the user gets one wrong.
 * A usage mistake is a UsageError with a one-line message (the CLI prints it
 * after `mrm <command>:` and exits 2); the help text is for --help.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

/**
 * With MRM_HELP_SPEC=FILE, `--help` also writes the command's options and help
 * text to FILE as JSON: how the help test learns which flags a command really
 * has, for every command that parses through here.
 */
export const HELP_SPEC_ENV = 'MRM_HELP_SPEC';

export function parse(argv: string[], options: Options, help: string): { values: Values; positionals: string[] } {
  const all: Options = { ...options, help: { type: 'boolean', short: 'h' } };
  if (argv.includes('--help') || argv.includes('-h')) {
    const spec = process.env[HELP_SPEC_ENV];
    if (spec) writeFileSync(spec, JSON.stringify({ options: Object.keys(all), help }));
    console.log(help);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options: all, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] };
  } catch (err) {
    throw new UsageError(parseArgsMessage(err as Error & { code?: string }, Object.keys(options)), { cause: err });
  }
}

/** node's parseArgs messages, said in one line with what would work instead. */
function parseArgsMessage(err: Error & { code?: string }, known: string[]): string {
  const m = err.message;
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /Unknown option '([^']+)'/.exec(m)?.[1] ?? '?';
    const near = closest(flag.replace(/^-+/, '').split('=')[0]!, known);
    return `unknown flag ${flag}${near ? `; did you mean --${near}?` : ''} (--help lists the flags)`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /--[a-z0-9-]+/i.exec(m)?.[0] ?? 'a flag';
    if (/does not take an argument/.test(m)) return `${flag} takes no value`;
    if (/ambiguous/.test(m)) return `${flag} needs a value, got another flag; write ${flag}=VALUE for a value that starts with '-'`;
    return `${flag} needs a value`;
  }
  return m.split('\n')[0]!;
}

/** The known flag a typo most likely meant: edit distance <= 2, or a prefix. */
function closest(typed: string, known: string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = name.startsWith(typed) && typed.length >= 2 ? 1 : distance(typed, name);
    if (d <= 2 && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** None of these commands takes positional arguments; a stray one is a mistake, not something to ignore. */
export function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}': options are --flag VALUE (--help lists them)`);
}

export function required(values: Record<string, unknown>, flag: string, what: string): string {
  const v = values[flag];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${flag} is required: ${what}`);
  return v;
}

export function num(values: Record<string, unknown>, flag: string, fallback: number, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  const bad = raw === '' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max);
  if (bad) {
    const range = [opts.integer ? 'an integer' : 'a number', opts.min !== undefined ? `>= ${opts.min}` : '', opts.max !== undefined ? `<= ${opts.max}` : ''].filter(Boolean).join(' ');
    throw new UsageError(`--${flag}: expected ${range}, got '${String(raw)}'`);
  }
  return v;
}

export function str(values: Record<string, unknown>, flag: string, fallback?: string): string | undefined {
  const v = values[flag];
  return typeof v === 'string' ? v : fallback;
}

export function oneOf<T extends string>(values: Record<string, unknown>, flag: string, allowed: readonly T[], fallback: T): T {
  const v = values[flag];
  if (v === undefined) return fallback;
  if (!allowed.includes(v as T)) throw new UsageError(`--${flag}: expected one of ${allowed.join(', ')}, got '${String(v)}'`);
  return v as T;
}
