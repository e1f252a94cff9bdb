import { describe, expect, it, vi } from 'vitest';
import { InputError } from '../../src/model/errors.js';
import { encodeText, type PromptMemo, Tokenizer } from '../../src/model/text.js';
import { tinyText, tinyTokenizer } from '../fixtures/tiny-bundle.js';

const tok = new Tokenizer(tinyTokenizer);

describe('Tokenizer', () => {
  it('maps known words to their vocabulary ids, case-folded', () => {
    expect(tok.encode('Red CIRCLE.')).toEqual([1, 3, 7]);
  });

  it('hashes unknown words into stable buckets after the vocabulary', () => {
    const [a] = tok.encode('hexagon');
    expect(a).toBeGreaterThanOrEqual(tinyTokenizer.vocab.length);
    expect(a).toBeLessThan(tok.vocabSize);
    expect(tok.encode('hexagon hexagon')).toEqual([a, a]);
  });

  it('refuses a tokenizer file with a bad field, naming it', () => {
    expect(() => Tokenizer.parse({ ...tinyTokenizer, oovBuckets: 0 }, 'tok.json')).toThrow(/tok\.json: field 'oovBuckets': expected a number >= 1, got 0/);
    expect(() => Tokenizer.parse({ ...tinyTokenizer, pattern: '(' }, 'tok.json')).toThrow(/field 'pattern': expected a valid regular expression/);
  });
});

describe('encodeText', () => {
  it('joins system and prompt by the template', () => {
    const e = encodeText(tok, tinyText, { system: 'blue', prompt: 'red circle', response: 'yes' });
    expect(e.promptIds).toEqual([2, 1, 3]);
    expect(e.responseIds).toEqual([5]);
    expect(e.truncated).toBe(false);
  });

  it('caps tokens: the prompt keeps its tail, the response its head', () => {
    const long = Array.from({ length: 20 }, (_, i) => (i % 2 ? 'red' : 'blue')).join(' ');
    const e = encodeText(tok, tinyText, { prompt: `${long} square`, response: `yes ${long}` });
    expect(e.promptIds.length).toBe(tinyText.maxPromptTokens);
    expect(e.promptIds.at(-1)).toBe(4);
    expect(e.responseIds.length).toBe(tinyText.maxResponseTokens);
    expect(e.responseIds[0]).toBe(5);
    expect(e.truncated).toBe(true);
  });

  it('with a memo, tokenizes a shared prompt once and encodes every response exactly as without it', () => {
    const long = Array.from({ length: 20 }, (_, i) => (i % 2 ? 'red' : 'blue')).join(' ');
    const inputs = [
      { system: 'blue', prompt: 'red circle', response: 'yes' },
      { system: 'blue', prompt: 'red circle', response: 'no red' },
      { prompt: `${long} square`, response: 'yes' },
      { prompt: `${long} square`, response: `yes ${long}` },
      { system: 'red', prompt: 'red circle', response: 'yes' },
    ];
    const words = vi.spyOn(tok, 'words');
    const memo: PromptMemo = new Map();
    const memoized = inputs.map((t) => encodeText(tok, tinyText, t, memo));
    // 5 responses + 3 distinct prompts (system is part of the prompt).
    expect(words).toHaveBeenCalledTimes(8);
    words.mockRestore();
    expect(memo.size).toBe(3);
    expect(memoized).toEqual(inputs.map((t) => encodeText(tok, tinyText, t)));
    expect(memoized[2]!.truncated).toBe(true);
  });

  it('refuses a response with no tokens', () => {
    expect(() => encodeText(tok, tinyText, { prompt: 'red', response: '   ' })).toThrow(InputError);
  });
});
