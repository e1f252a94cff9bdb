/**
 * Round progress on a terminal: a bar per step (cli-progress) on a TTY,
 * plain lines otherwise (logs, CI, `kubectl logs`). Fed by round events,
 * whether they come from this process or from WatchRound.
 */
import cliProgress from 'cli-progress';
import type { RoundEvent } from '../rounds/folder.js';

export interface ProgressView {
  event(e: RoundEvent): void;
  stop(): void;
}

export function progressView(out: NodeJS.WriteStream = process.stderr): ProgressView {
  if (!out.isTTY) {
    return {
      event: (e) => {
        const line = plainLine(e);
        if (line) out.write(`${line}\n`);
      },
      stop: () => undefined,
    };
  }
  const bars = new cliProgress.MultiBar({ stream: out, format: ' {step} [{bar}] {value}/{total} {note}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  let bar: cliProgress.SingleBar | null = null;
  return {
    event: (e) => {
      if (e.type === 'step.start') bar = bars.create(1, 0, { step: e.step.padEnd(10), note: '' });
      else if (e.type === 'step.progress') { bar?.setTotal(Math.max(1, e.total)); bar?.update(e.done); }
      else if (e.type === 'step.done') { bar?.setTotal(1); bar?.update(1, { note: `${e.seconds}s ${countsText(e.counts)}` }); }
      else if (e.type === 'step.skipped') bars.log(`${e.step}: skipped (${e.reason})\n`);
      else if (e.type === 'round.done' || e.type === 'round.failed') bars.log(`${plainLine(e)}\n`);
    },
    stop: () => bars.stop(),
  };
}

export function plainLine(e: RoundEvent): string | null {
  switch (e.type) {
    case 'step.start': return `step ${e.index + 1}/${e.of} ${e.step}: started`;
    case 'step.progress': return `  ${e.step}: ${e.done}/${e.total}`;
    case 'step.done': return `step ${e.step}: done in ${e.seconds} s (${countsText(e.counts)})`;
    case 'step.skipped': return `step ${e.step}: skipped (${e.reason})`;
    case 'round.done': return `round ${e.outcome.decision}${e.outcome.version !== null ? ` (version ${e.outcome.version})` : ''}: ${e.outcome.reasons.join('; ')}`;
    case 'round.failed': return `round failed${e.step ? ` in step ${e.step}` : ''}: ${e.error}`;
  }
}

function countsText(c: Record<string, number>): string {
  return Object.entries(c).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(3)}`).join(', ');
}
