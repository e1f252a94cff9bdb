/**
 * Round metrics from the rounds folder: rounds run in their own process
 * (`mrm round run`, the admin service's TriggerRound), so the server learns
 * what they did from the round.json each one keeps. A step counts once, when
 * it is first seen finished; steps finished before the server started are
 * its baseline, not news (counters start at zero with the process).
 * The label step's counts carry the judge calls and failures.
 */
import { listRounds } from '../rounds/folder.js';
import { errorFields, type Logger } from '../serve/log.js';
import type { ServerMetrics } from './metrics.js';

export class RoundMetricsPoller {
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;

  constructor(private readonly stateDir: string, private readonly metrics: ServerMetrics, private readonly log: Logger) {}

  async start(intervalMs: number): Promise<void> {
    await this.scan(false);
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  /** One scan now (tests; the timer calls it too); overlapping calls share a scan. */
  poll(): Promise<void> {
    this.polling ??= this.scan(true).finally(() => { this.polling = null; });
    return this.polling;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async scan(record: boolean): Promise<void> {
    try {
      for (const r of await listRounds(this.stateDir)) {
        for (const s of r.steps) {
          if (s.status !== 'done' && s.status !== 'failed') continue;
          const key = `${r.id}/${s.name}`;
          if (this.seen.has(key)) continue;
          this.seen.add(key);
          if (!record) continue;
          this.metrics.roundStep(s.name, s.status, s.seconds);
          if (s.name === 'label') this.metrics.judge(s.counts.calls ?? 0, { failed: s.counts.failed ?? 0 }, s.counts.tokens ?? 0);
        }
      }
    } catch (err) {
      this.log.warn('telemetry.rounds_scan_failed', { error: errorFields(err) });
    }
  }
}
