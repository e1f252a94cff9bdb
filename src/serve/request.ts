/**
 * Request validation: the checks that need no decoding and no model, done
 * before any work, and the flattening of items, groups and pairs into units
 * (one text to score with its images). Every failure names the field as the
 * client spells it (proto names, snake_case, with indices) and the limit.
 *
 * What this cannot check is left to the stages that can, still before the
 * model runs: unknown sha256 references (images.ts), texts with no tokens
 * (scorer.ts), image headers and decoding (images.ts).
 */
import { InputError } from '../model/errors.js';
import { sha256Hex } from '../model/digest.js';
import { itemDigest, type ItemText } from './caches.js';
import { ServeError } from './errors.js';
import type { CompareRequestMsg, ImageMsg, ScoreRequestMsg } from './proto.js';

export interface RequestLimits {
  maxItemsPerRequest: number;
  maxTextBytes: number;
  /** The pinned version's manifest maxImages. */
  maxImages: number;
}

/** An image of the request: its bytes (sent as data) or only its sha256 (a reference). */
export interface ImageRef {
  field: string;
  sha: string;
  data?: Uint8Array;
}

/** One text to score with its images; group members share one `images` array. */
export interface Unit {
  images: ImageRef[];
  text: ItemText;
  /** The response's field, for errors about the text (`groups[1].responses[3]`). */
  responseField: string;
  /** The client's Item.id, echoed; empty for group responses and pairs. */
  id: string;
  /** Reward cache key part: image sha256s + all texts. */
  digest: string;
}

export interface ScorePlan {
  /** items first (unit i = items[i]), then each group's responses in order. */
  units: Unit[];
  /** How many of the units are items. */
  items: number;
  groups: { id: string; start: number; count: number }[];
}

export interface ComparePlan {
  /** Pair p is units 2p (a) and 2p+1 (b). */
  units: Unit[];
  ids: string[];
}

const SHA256 = /^[0-9a-f]{64}$/;
const REPLACEMENT = '\uFFFD';

export function planScore(req: ScoreRequestMsg, limits: RequestLimits): ScorePlan {
  const items = req.items ?? [];
  const groups = req.groups ?? [];
  if (items.length === 0 && groups.length === 0) {
    throw new ServeError('invalid-request', 'the request is empty; send at least one item or group', 'items, groups');
  }
  const total = items.length + groups.reduce((n, g) => n + (g.responses?.length ?? 0), 0);
  checkCount(total, limits, 'items + groups[].responses');

  const units: Unit[] = items.map((it, i) => {
    const at = `items[${i}]`;
    const images = parseImages(it.images, `${at}.images`, limits);
    const text = parseText(at, { system: it.system, prompt: it.prompt, reference: it.reference }, limits);
    const response = parseResponse(it.response, `${at}.response`, limits);
    return unit(images, { ...text, response }, `${at}.response`, it.id ?? '');
  });
  const plannedGroups = groups.map((g, gi) => {
    const at = `groups[${gi}]`;
    const responses = g.responses ?? [];
    if (responses.length === 0) throw new ServeError('invalid-request', 'empty; a group needs at least one response', `${at}.responses`);
    const images = parseImages(g.images, `${at}.images`, limits);
    const text = parseText(at, { system: g.system, prompt: g.prompt, reference: g.reference }, limits);
    const start = units.length;
    responses.forEach((r, j) => {
      const field = `${at}.responses[${j}]`;
      units.push(unit(images, { ...text, response: parseResponse(r, field, limits) }, field, ''));
    });
    return { id: g.id ?? '', start, count: responses.length };
  });
  return { units, items: items.length, groups: plannedGroups };
}

export function planCompare(req: CompareRequestMsg, limits: RequestLimits): ComparePlan {
  const pairs = req.pairs ?? [];
  if (pairs.length === 0) throw new ServeError('invalid-request', 'empty; send at least one pair', 'pairs');
  checkCount(2 * pairs.length, limits, 'pairs (2 texts each)');
  const units: Unit[] = [];
  pairs.forEach((p, i) => {
    const at = `pairs[${i}]`;
    const images = parseImages(p.images, `${at}.images`, limits);
    const text = parseText(at, { system: p.system, prompt: p.prompt, reference: p.reference }, limits);
    units.push(unit(images, { ...text, response: parseResponse(p.responseA, `${at}.response_a`, limits) }, `${at}.response_a`, ''));
    units.push(unit(images, { ...text, response: parseResponse(p.responseB, `${at}.response_b`, limits) }, `${at}.response_b`, ''));
  });
  return { units, ids: pairs.map((p) => p.id ?? '') };
}

function unit(images: ImageRef[], text: ItemText, responseField: string, id: string): Unit {
  return { images, text, responseField, id, digest: itemDigest(images.map((r) => r.sha), text) };
}

function checkCount(n: number, limits: RequestLimits, what: string): void {
  if (n > limits.maxItemsPerRequest) {
    throw new ServeError('invalid-request',
      `${n} texts to score, more than the limit of ${limits.maxItemsPerRequest} per request; split the request`, what);
  }
}

function parseImages(images: ImageMsg[] | undefined, field: string, limits: RequestLimits): ImageRef[] {
  const list = images ?? [];
  if (list.length > limits.maxImages) {
    throw new InputError('too-many-images', field, `${list.length} images, more than the model's limit of ${limits.maxImages} per item`, limits.maxImages);
  }
  return list.map((img, i) => parseImage(img, `${field}[${i}]`));
}

function parseImage(img: ImageMsg, field: string): ImageRef {
  // Decoded messages name the set member in `source`; messages built in code may only set the field.
  const source = img.source ?? (img.data ? 'data' : img.sha256 !== undefined ? 'sha256' : undefined);
  if (source === 'data' && img.data) {
    if (img.data.length === 0) throw new InputError('undecodable-image', `${field}.data`, 'empty image (0 bytes)');
    // Hashing on the event loop is fine: sha256 runs at ~1 GB/s, 30 us for a 28 KiB PNG.
    return { field, sha: sha256Hex(img.data), data: img.data };
  }
  if (source === 'sha256' && img.sha256 !== undefined) {
    if (!SHA256.test(img.sha256)) {
      throw new ServeError('invalid-request', `expected 64 lowercase hex characters, got ${JSON.stringify(img.sha256.slice(0, 80))}`, `${field}.sha256`);
    }
    return { field, sha: img.sha256 };
  }
  // proto3 cannot tell an unset oneof from `data` set to empty bytes.
  throw new InputError('undecodable-image', field, 'empty image: set data (non-empty image bytes) or sha256');
}

function parseText(at: string, t: { system?: string; prompt?: string; reference?: string }, limits: RequestLimits): Omit<ItemText, 'response'> {
  return {
    system: checkText(t.system ?? '', `${at}.system`, limits),
    prompt: checkText(t.prompt ?? '', `${at}.prompt`, limits),
    reference: checkText(t.reference ?? '', `${at}.reference`, limits),
  };
}

function parseResponse(s: string | undefined, field: string, limits: RequestLimits): string {
  const text = checkText(s ?? '', field, limits);
  if (text.length === 0) throw new InputError('empty-text', field, 'empty; a response to score is required');
  return text;
}

function checkText(s: string, field: string, limits: RequestLimits): string {
  // The decoder already turned invalid UTF-8 into U+FFFD; see reward.proto.
  if (s.includes(REPLACEMENT)) {
    throw new InputError('invalid-utf8', field,
      'not valid UTF-8 (contains U+FFFD, which is what invalid bytes decode to; the server cannot tell them apart)');
  }
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short strings need no count.
  if (s.length * 3 > limits.maxTextBytes) {
    const bytes = Buffer.byteLength(s, 'utf8');
    if (bytes > limits.maxTextBytes) {
      throw new InputError('text-too-long', field, `${bytes} bytes of UTF-8, more than the limit of ${limits.maxTextBytes}`, limits.maxTextBytes);
    }
  }
  return s;
}
