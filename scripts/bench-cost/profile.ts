/**
 * Attribution of a V8 CPU profile (.cpuprofile, as `node --cpu-prof` writes
 * one per thread) to parts of the code. A sample belongs to a part when any
 * frame on its stack is in that part's files, so a part's time is inclusive:
 * what it calls (a digest, a Date, zlib's CRC) counts as its cost, which is
 * what switching it off would save. Samples of V8's own pseudo-frames are
 * kept apart: `(idle)` is the thread waiting and is no CPU; `(garbage
 * collector)` cannot be split between parts from a profile.
 *
 * A part's function that runs others' work as a callback (telemetry's
 * RpcTrace.sync and .child wrap a call's validation and cache lookups in
 * spans) would claim all of that work; such functions are the part's
 * `wrappers`: below one, the project's own code outside the part is not the
 * part's (library frames and the part's own still are).
 */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Part {
  name: string;
  /** A stack frame's script URL belongs to the part when this matches it. */
  url: RegExp;
  /** Frames of other files that belong to the part too: the script URL and the function name both match. */
  also?: { url: RegExp; fn: RegExp }[];
  /** Names of the part's functions that call others' work (see above). */
  wrappers?: RegExp;
}

/** The project's own code: its source folders, not its dependencies. */
const PROJECT = /\/(src|scripts|trainer|bin)\//;
const isProject = (url: string) => PROJECT.test(url) && !url.includes('/node_modules/');

const inPart = (p: Part, url: string, fn: string) => (url !== '' && p.url.test(url)) || (p.also ?? []).some((a) => a.url.test(url) && a.fn.test(fn));

export interface Attribution {
  /** Microseconds of samples that were not (idle): the thread's busy time as the profiler saw it. */
  busyUs: number;
  idleUs: number;
  gcUs: number;
  /** Inclusive microseconds per part (a sample in two parts counts for both). */
  parts: Record<string, number>;
}

export function attribute(profile: CpuProfile, parts: Part[]): Attribution {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Per node and part, the state of its stack: 0 outside the part, 1 in it
  // (the part's frame or what it calls), 2 in a wrapper of the part (which
  // counts, but the project's other code below it does not). Two bits a part.
  const memo = new Map<number, number>();
  const stateOf = (id: number): number => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const { url, functionName } = byId.get(id)!.callFrame;
    const up = parent.get(id);
    const above = up === undefined ? 0 : stateOf(up);
    let m = 0;
    parts.forEach((p, i) => {
      const was = (above >> (2 * i)) & 3;
      let st: number;
      if (inPart(p, url, functionName)) st = p.wrappers?.test(functionName) ? 2 : 1;
      else if (was === 2) st = isProject(url) ? 0 : 2;
      else st = was;
      m |= st << (2 * i);
    });
    memo.set(id, m);
    return m;
  };
  const maskOf = (id: number): number => {
    const st = stateOf(id);
    let m = 0;
    parts.forEach((_, i) => { if ((st >> (2 * i)) & 3) m |= 1 << i; });
    return m;
  };
  const out: Attribution = { busyUs: 0, idleUs: 0, gcUs: 0, parts: Object.fromEntries(parts.map((p) => [p.name, 0])) };
  // timeDeltas[i] is the time since the previous sample; sample i's weight is
  // the delta that follows it (the time it stood for), the last one gets none.
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!)!;
    const fn = node.callFrame.functionName;
    if (fn === '(idle)') { out.idleUs += dt; continue; }
    out.busyUs += dt;
    if (fn === '(garbage collector)') out.gcUs += dt;
    const m = maskOf(node.id);
    parts.forEach((p, k) => { if (m & (1 << k)) out.parts[p.name]! += dt; });
  }
  return out;
}
