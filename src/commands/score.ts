/** mrm score: score items against a running server (a small client of RewardService). */
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { sha256Hex } from '../model/digest.js';
import { createRewardClient, type ImageMsg, type ItemMsg, type ResultMsg, type RewardClient, type ScoreResponseMsg, unary } from '../serve/proto.js';
import { noPositionals, num, parse, str, UsageError } from './args.js';

const HELP = `usage: mrm score [--addr HOST:PORT] ITEM [options]

ITEM is one of
  --prompt TEXT --response TEXT [--image FILE]... [--system TEXT] [--reference TEXT]
      one item; repeat --response to score several responses to the same
      prompt and images as one group (they share one image decode)
  --jsonl FILE
      one JSON object per line: {"images": [paths], "system"?, "prompt",
      "response", "reference"?, "id"?}; image paths are relative to FILE's
      directory

options
  --addr HOST:PORT   server (default 127.0.0.1:50051)
  --batch N          items per request for --jsonl (default 64)
  --timeout S        deadline per request in seconds (default 30)
  --json             print one JSON object per result instead of a table

An image already sent in this run is sent again as its sha256 only; if the
server answers NOT_FOUND (another replica, or evicted), the request is resent
with the bytes.`;

interface Line {
  id: string;
  images: Uint8Array[];
  system?: string;
  prompt: string;
  response: string;
  reference?: string;
}

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    addr: { type: 'string' },
    prompt: { type: 'string' },
    response: { type: 'string', multiple: true },
    image: { type: 'string', multiple: true },
    system: { type: 'string' },
    reference: { type: 'string' },
    jsonl: { type: 'string' },
    batch: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  }, HELP);
  noPositionals(positionals);
  const v = values as Record<string, unknown>;
  const addr = checkAddr(str(v, 'addr', '127.0.0.1:50051')!);
  const timeoutMs = num(v, 'timeout', 30, { min: 0.001 }) * 1000;
  const client = createRewardClient(addr);
  const sender = new Sender(client, timeoutMs, addr);
  try {
    if (v.jsonl !== undefined) {
      if (v.prompt !== undefined || v.response !== undefined) throw new UsageError('--jsonl and --prompt/--response are alternatives; give one');
      const lines = await readJsonl(v.jsonl as string);
      const batch = num(v, 'batch', 64, { integer: true, min: 1 });
      for (let i = 0; i < lines.length; i += batch) {
        const chunk = lines.slice(i, i + batch);
        const res = await sender.score(chunk.map((l) => ({ images: l.images, item: { system: l.system ?? '', prompt: l.prompt, response: l.response, reference: l.reference ?? '', id: l.id } })), null);
        print(res, res.items, chunk.map((l) => l.id), Boolean(v.json), i === 0);
      }
      return;
    }
    const responses = (v.response as string[] | undefined) ?? [];
    if (v.prompt === undefined || responses.length === 0) throw new UsageError('nothing to score: give --prompt TEXT --response TEXT, or --jsonl FILE');
    const images = await Promise.all(((v.image as string[] | undefined) ?? []).map((p) => readImage(p)));
    const shared = { system: str(v, 'system', '')!, prompt: v.prompt as string, reference: str(v, 'reference', '')! };
    if (responses.length === 1) {
      const res = await sender.score([{ images, item: { ...shared, response: responses[0]!, id: 'item' } }], null);
      print(res, res.items, ['item'], Boolean(v.json), true);
    } else {
      const res = await sender.score([], { images, group: { ...shared, responses, id: 'group' } });
      print(res, res.groups[0]!.responses, responses.map((_, i) => `response ${i}`), Boolean(v.json), true);
    }
  } finally {
    client.close();
  }
}

/** Sends images by sha256 once the server has them; resends bytes on NOT_FOUND. */
class Sender {
  private readonly sent = new Set<string>();

  constructor(private readonly client: RewardClient, private readonly timeoutMs: number, private readonly addr: string) {}

  async score(items: { images: Uint8Array[]; item: ItemMsg }[], group: { images: Uint8Array[]; group: { system: string; prompt: string; reference: string; responses: string[]; id: string } } | null): Promise<ScoreResponseMsg> {
    for (let attempt = 0; ; attempt++) {
      const inRequest = new Set<string>();
      const image = (bytes: Uint8Array): ImageMsg => {
        const sha = sha256Hex(bytes);
        const known = attempt === 0 && this.sent.has(sha);
        if (known || inRequest.has(sha)) return { sha256: sha };
        inRequest.add(sha);
        return { data: bytes };
      };
      const req = {
        items: items.map(({ images, item }) => ({ ...item, images: images.map(image) })),
        groups: group ? [{ ...group.group, images: group.images.map(image) }] : [],
      };
      try {
        const res = await unary(this.client.score.bind(this.client), req, { deadline: Date.now() + this.timeoutMs });
        for (const s of inRequest) this.sent.add(s);
        return res;
      } catch (err) {
        if ((err as ServiceError).code === Status.NOT_FOUND && attempt === 0) continue;
        if ((err as ServiceError).code === Status.UNAVAILABLE) throw unreachable(this.addr, err as ServiceError);
        throw new Error(`Score failed: ${Status[(err as ServiceError).code] ?? 'error'}: ${(err as ServiceError).details ?? (err as Error).message}`, { cause: err });
      }
    }
  }
}

/**
 * HOST:PORT, as gRPC wants it. A bare port ("52101") would be taken as a host
 * name on port 443 and fail much later with an unrelated HTTP 404.
 */
function checkAddr(addr: string): string {
  if (/^\d+$/.test(addr)) throw new UsageError(`--addr ${addr}: expected HOST:PORT; for a local server write --addr 127.0.0.1:${addr}`);
  const m = /^(?:\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d+)$/.exec(addr);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new UsageError(`--addr ${addr}: expected HOST:PORT with a port 1-65535, e.g. 127.0.0.1:50051`);
  return addr;
}

/** grpc-js's UNAVAILABLE text ends in an empty "Resolution note:"; say what happened and what to check. */
function unreachable(addr: string, err: ServiceError): Error {
  const why = /ECONNREFUSED/.test(err.details) ? 'connection refused'
    : /ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i.test(err.details) ? 'unknown host'
      : /ETIMEDOUT|timed out/i.test(err.details) ? 'connection timed out'
        : err.details.split('. Resolution note')[0]!.trim();
  return new Error(`no server at ${addr} (${why}); start one with mrm serve (or npm start), or give its --addr HOST:PORT`, { cause: err });
}

async function readImage(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new UsageError(`cannot read image ${path}: ${(cause as Error).message}`, { cause });
  }
}

async function readJsonl(file: string): Promise<Line[]> {
  const text = await readFile(file, 'utf8').catch((cause: Error) => { throw new UsageError(`cannot read --jsonl ${file}: ${cause.message}`, { cause }); });
  const base = dirname(resolve(file));
  const lines: Line[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    const where = `${file}:${i + 1}`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(raw) as Record<string, unknown>;
    } catch (cause) {
      throw new UsageError(`${where}: invalid JSON: ${(cause as Error).message}`, { cause });
    }
    const text = (k: string, required: boolean): string | undefined => {
      const val = o[k];
      if (val === undefined && !required) return undefined;
      if (typeof val !== 'string') throw new UsageError(`${where}: "${k}" must be a string`);
      return val;
    };
    const paths = o.images ?? [];
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) throw new UsageError(`${where}: "images" must be an array of paths`);
    const system = text('system', false);
    const reference = text('reference', false);
    lines.push({
      id: text('id', false) ?? `line ${i + 1}`,
      images: await Promise.all((paths as string[]).map((p) => readImage(resolve(base, p)))),
      prompt: text('prompt', true)!,
      response: text('response', true)!,
      ...(system !== undefined ? { system } : {}),
      ...(reference !== undefined ? { reference } : {}),
    });
  }
  return lines;
}

function print(res: ScoreResponseMsg, results: ResultMsg[], labels: string[], json: boolean, header: boolean): void {
  const model = res.model ? `${res.model.name} v${res.model.version}` : '?';
  if (json) {
    results.forEach((r, i) => console.log(JSON.stringify({ id: labels[i], model: res.model, reward: r.reward, normalizedReward: r.normalizedReward, spread: r.spread, cached: r.cached, truncated: r.truncated })));
    return;
  }
  if (header) console.log(`${'id'.padEnd(16)} ${'reward'.padStart(10)} ${'normalized'.padStart(10)} ${'spread'.padStart(8)}  version`);
  results.forEach((r, i) => {
    const flags = [r.cached ? 'cached' : '', r.truncated ? 'truncated' : ''].filter(Boolean).join(',');
    console.log(`${(labels[i] ?? '').padEnd(16)} ${r.reward.toFixed(4).padStart(10)} ${r.normalizedReward.toFixed(4).padStart(10)} ${r.spread.toFixed(4).padStart(8)}  ${model}${flags ? `  (${flags})` : ''}`);
  });
}
