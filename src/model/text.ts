/**
 * Text preprocessing of the contract: join system, prompt and response as the
 * manifest's templates say, tokenize, and cap the token count.
 *
 * The tokenizer is a word-level one the project builds itself (no downloads):
 * a fixed vocabulary, and words outside it hashed into a fixed number of
 * buckets so that unseen words still get stable ids instead of one <unk>.
 */
import { BundleError, InputError } from './errors.js';
import type { TextPreprocess } from './manifest.js';
import { JsonReader } from './validate.js';

export const TOKENIZER_FORMAT = 'mrm-wordhash/v1';

export interface TokenizerSpec {
  format: typeof TOKENIZER_FORMAT;
  lowercase: boolean;
  /** Regex source; each match is one token. */
  pattern: string;
  /** Id i is vocab[i]; vocab[0] is the pad token. */
  vocab: string[];
  oovBuckets: number;
}

export class Tokenizer {
  private readonly ids: Map<string, number>;
  private readonly re: RegExp;
  readonly vocabSize: number;

  constructor(readonly spec: TokenizerSpec) {
    this.ids = new Map(spec.vocab.map((w, i) => [w, i]));
    this.re = new RegExp(spec.pattern, 'gu');
    this.vocabSize = spec.vocab.length + spec.oovBuckets;
  }

  static parse(value: unknown, file: string): Tokenizer {
    const r = JsonReader.root(file, value);
    const format = r.get('format').string();
    if (format !== TOKENIZER_FORMAT) r.get('format').fail(`'${TOKENIZER_FORMAT}', got '${format}'`);
    const pattern = r.get('pattern').string({ nonEmpty: true });
    try {
      new RegExp(pattern, 'gu');
    } catch {
      r.get('pattern').fail('a valid regular expression');
    }
    const vocab = r.get('vocab').array({ minLength: 1 }).map((v) => v.string({ nonEmpty: true }));
    return new Tokenizer({
      format: TOKENIZER_FORMAT,
      lowercase: r.get('lowercase').boolean(),
      pattern,
      vocab,
      oovBuckets: r.get('oovBuckets').number({ integer: true, min: 1 }),
    });
  }

  words(text: string): string[] {
    const t = this.spec.lowercase ? text.toLowerCase() : text;
    return t.match(this.re) ?? [];
  }

  /** Hash buckets come after the vocabulary, so ids are stable across runs. */
  id(word: string): number {
    const known = this.ids.get(word);
    if (known !== undefined) return known;
    return this.spec.vocab.length + (fnv1a(word) % this.spec.oovBuckets);
  }

  encode(text: string): number[] {
    return this.words(text).map((w) => this.id(w));
  }
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface TextInput {
  system?: string;
  prompt: string;
  response: string;
  reference?: string;
}

export interface EncodedText {
  promptIds: number[];
  responseIds: number[];
  /** True when a side was longer than its cap and was cut. */
  truncated: boolean;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(system|prompt|response|reference)\}/g, (_, k: string) => values[k] ?? '');
}

/**
 * A request's prompts, tokenized once: the responses of a group share their
 * prompt, and tokenizing it again for each of them was most of the
 * tokenizer's time on a group (keyed by the filled template, so it holds
 * whatever the template contains). Callers share the ids: read-only.
 */
export type PromptMemo = Map<string, { ids: number[]; truncated: boolean }>;

/**
 * Prompts keep their last tokens (the question comes after any long system
 * prompt); responses keep their first (the claim usually comes first).
 */
export function encodeText(tok: Tokenizer, spec: TextPreprocess, input: TextInput, prompts?: PromptMemo): EncodedText {
  const values = { system: input.system ?? '', prompt: input.prompt, response: input.response, reference: input.reference ?? '' };
  const filled = fill(spec.promptTemplate, values);
  let prompt = prompts?.get(filled);
  if (prompt === undefined) {
    const p = tok.encode(filled);
    prompt = { ids: p.length > spec.maxPromptTokens ? p.slice(p.length - spec.maxPromptTokens) : p, truncated: p.length > spec.maxPromptTokens };
    prompts?.set(filled, prompt);
  }
  const r = tok.encode(fill(spec.responseTemplate, values));
  if (r.length === 0) throw new InputError('empty-text', 'response', 'has no tokens');
  return {
    promptIds: prompt.ids,
    responseIds: r.slice(0, spec.maxResponseTokens),
    truncated: prompt.truncated || r.length > spec.maxResponseTokens,
  };
}

export function tokenizerError(bundle: string, cause: unknown): BundleError {
  return new BundleError('tokenizer', bundle, `tokenizer: ${(cause as Error).message}`, { cause });
}
