/**
 * Option parsing for the subcommands: node's parseArgs plus typed readers
 * that name the flag and the expected value when the user gets one wrong.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: string[], options: Options, help: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${help}`);
  }
  if (parsed.values.help) {
    console.log(help);
    process.exit(0);
  }
  return parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] };
}

export function num(values: Record<string, unknown>, flag: string, fallback: number, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  const bad = !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max);
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
