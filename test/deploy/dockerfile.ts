/**
 * A small Dockerfile reader for the checks on deploy/Dockerfile: instructions
 * with their stage, continuation lines joined, comments and parser directives
 * dropped, exec-form (JSON) arguments decoded. Enough for this project's
 * Dockerfile; it does not expand ARG or ENV in arguments.
 */
export interface Instruction {
  /** Index of the FROM this instruction belongs to (-1 before the first FROM). */
  stage: number;
  op: string;
  /** The arguments as written (continuations joined with a space). */
  raw: string;
  /** Exec form (["node", "x"]) decoded; null in shell form. */
  exec: string[] | null;
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (pending === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    // Comment lines inside a continued instruction are skipped, as Docker does.
    if (pending !== '' && trimmed.startsWith('#')) continue;
    if (trimmed.endsWith('\\')) {
      pending += trimmed.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + trimmed).trim();
    pending = '';
    if (full === '') continue;
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    const op = m[1]!.toUpperCase();
    const raw = m[2]!.trim();
    if (op === 'FROM') stage++;
    let exec: string[] | null = null;
    if (raw.startsWith('[')) {
      const parsed: unknown = JSON.parse(raw);
      if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`${op}: exec form must be a JSON array of strings: ${raw}`);
      exec = parsed;
    }
    out.push({ stage, op, raw, exec });
  }
  if (pending !== '') throw new Error('Dockerfile ends inside a continued line');
  return out;
}

/** Shell-form RUN lines split at && into single commands, whitespace normalized. */
export function runCommands(instructions: Instruction[], stage?: number): string[] {
  return instructions
    .filter((i) => i.op === 'RUN' && (stage === undefined || i.stage === stage))
    .flatMap((i) => (i.exec ? [i.exec.join(' ')] : i.raw.split('&&')))
    .map((c) => c.trim().replace(/\s+/g, ' '));
}
