/**
 * The judgment cache: valid judge answers on disk, keyed by the content of
 * the call (images by sha256, texts, the order the responses were listed
 * in, judge model, rubric version and mode), so a resumed or repeated round
 * never pays for the same call twice, and two pairs that are the same call
 * share it.
 *
 * One append-only JSONL file, read whole at open. A process killed mid-write
 * leaves at most a torn last line: it is skipped on reading and fenced off
 * with a newline before the next append. Failed calls are not cached: a
 * later round may get an answer.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const CACHE_FILE = 'judgments.jsonl';

export interface CachedJudgment {
  /** Overall Score per response, in the order the call listed them. */
  overall: number[];
  tokens: number;
}

export interface CallKeyInput {
  model: string;
  rubric: string;
  mode: string;
  imageSha256: string[];
  system?: string;
  prompt: string;
  reference?: string;
  /** In the order the call lists them. */
  responses: string[];
}

export function callKey(k: CallKeyInput): string {
  return createHash('sha256')
    .update(JSON.stringify([k.model, k.rubric, k.mode, k.imageSha256, k.system ?? null, k.prompt, k.reference ?? null, k.responses]))
    .digest('hex');
}

export class JudgmentCache {
  private writes: Promise<void> = Promise.resolve();
  /** Lines waiting for the next append, and that append. */
  private batch: string[] = [];
  private next: Promise<void> | undefined;

  private constructor(
    private readonly file: string | undefined,
    private readonly entries: Map<string, CachedJudgment>,
    private needsFence: boolean,
  ) {}

  /** `dir` undefined: in memory only (nothing survives the process). */
  static async open(dir: string | undefined): Promise<JudgmentCache> {
    if (dir === undefined) return new JudgmentCache(undefined, new Map(), false);
    await mkdir(dir, { recursive: true });
    const file = join(dir, CACHE_FILE);
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const entries = new Map<string, CachedJudgment>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const e = JSON.parse(line) as { key?: unknown; overall?: unknown; tokens?: unknown };
        if (typeof e.key === 'string' && Array.isArray(e.overall) && e.overall.every((x) => typeof x === 'number')) {
          entries.set(e.key, { overall: e.overall as number[], tokens: typeof e.tokens === 'number' ? e.tokens : 0 });
        }
      } catch {
        // a torn line from a killed writer
      }
    }
    return new JudgmentCache(file, entries, text.length > 0 && !text.endsWith('\n'));
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedJudgment | undefined {
    return this.entries.get(key);
  }

  /**
   * Resolves once the entry is on disk. Appends are serialized, and the lines
   * that arrive while one append is under way go out together in the next:
   * one append per answer (an open, a write and a close each) was a
   * measurable share of a 40,000-call round. A kill loses at most the lines
   * not yet appended, as before: their calls had not returned.
   */
  put(key: string, value: CachedJudgment): Promise<void> {
    this.entries.set(key, value);
    const file = this.file;
    if (file === undefined) return Promise.resolve();
    this.batch.push(`${this.needsFence ? '\n' : ''}${JSON.stringify({ key, ...value })}\n`);
    this.needsFence = false;
    if (this.next === undefined) {
      this.next = this.writes.then(() => {
        const lines = this.batch.join('');
        this.batch = [];
        this.next = undefined;
        return appendFile(file, lines);
      });
      this.writes = this.next;
    }
    return this.next;
  }

  /** Waits for every write so far. */
  flush(): Promise<void> {
    return this.writes;
  }
}
