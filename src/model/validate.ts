/**
 * A small reader for untrusted JSON: each accessor checks one field and throws
 * a ManifestError naming the file, the JSON path and what was expected. Used
 * at the edges (manifests, tokenizer files, configs) so the inside can trust
 * its types.
 */
import { ManifestError } from './errors.js';

export class JsonReader {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly value: unknown,
  ) {}

  static root(file: string, value: unknown): JsonReader {
    return new JsonReader(file, '', value);
  }

  fail(expected: string, field = this.path): never {
    throw new ManifestError('invalid-field', this.file, field || '(root)', expected);
  }

  private childPath(key: string | number): string {
    if (typeof key === 'number') return `${this.path}[${key}]`;
    return this.path ? `${this.path}.${key}` : key;
  }

  object(): Record<string, unknown> {
    const v = this.value;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail('an object');
    return v as Record<string, unknown>;
  }

  has(key: string): boolean {
    const v = this.object()[key];
    return v !== undefined && v !== null;
  }

  get(key: string): JsonReader {
    return new JsonReader(this.file, this.childPath(key), this.object()[key]);
  }

  /** A present, non-null field, or the fallback when absent. */
  opt<T>(key: string, read: (r: JsonReader) => T, fallback: T): T {
    return this.has(key) ? read(this.get(key)) : fallback;
  }

  string(opts: { nonEmpty?: boolean; oneOf?: readonly string[]; pattern?: RegExp } = {}): string {
    const v = this.value;
    if (typeof v !== 'string') this.fail('a string');
    if (opts.nonEmpty && v.length === 0) this.fail('a non-empty string');
    if (opts.oneOf && !opts.oneOf.includes(v)) this.fail(`one of ${opts.oneOf.map((s) => `'${s}'`).join(', ')}, got '${v}'`);
    if (opts.pattern && !opts.pattern.test(v)) this.fail(`a string matching ${opts.pattern}, got '${v}'`);
    return v;
  }

  number(opts: { min?: number; max?: number; integer?: boolean; positive?: boolean } = {}): number {
    const v = this.value;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail('a finite number');
    if (opts.integer && !Number.isInteger(v)) this.fail(`an integer, got ${v}`);
    if (opts.positive && v <= 0) this.fail(`a positive number, got ${v}`);
    if (opts.min !== undefined && v < opts.min) this.fail(`a number >= ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) this.fail(`a number <= ${opts.max}, got ${v}`);
    return v;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail('a boolean');
    return this.value;
  }

  array(opts: { minLength?: number; length?: number } = {}): JsonReader[] {
    const v = this.value;
    if (!Array.isArray(v)) this.fail('an array');
    if (opts.length !== undefined && v.length !== opts.length) this.fail(`an array of length ${opts.length}, got ${v.length}`);
    if (opts.minLength !== undefined && v.length < opts.minLength) this.fail(`an array of at least ${opts.minLength} elements, got ${v.length}`);
    return v.map((_, i) => new JsonReader(this.file, this.childPath(i), v[i]));
  }

  entries(): [string, JsonReader][] {
    return Object.keys(this.object()).map((k) => [k, this.get(k)]);
  }
}
