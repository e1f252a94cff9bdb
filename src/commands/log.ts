/** mrm log: what the servers' low-confidence pair log holds (read from the state directory's files). */
import { DEFAULTS } from '../serve/config.js';
import { sigmoid } from '../pairlog/policy.js';
import { summarizeLog, tailLog } from '../pairlog/stats.js';
import { num, parse, str, UsageError } from './args.js';

const HELP = `usage: mrm log stats [--state-dir DIR] [--json]
       mrm log tail  [--state-dir DIR] [--n N] [--json]

  stats   segments, bytes, records per server process, torn/corrupt bytes, images
  tail    the newest N records (--n, or -n; default 10); --json prints one JSON object a line,
          features included

The state directory is --state-dir, else $MRM_STATE_DIR, else '${DEFAULTS.stateDir}'.
A live server's own counters (queue, drops, write errors) are in its stats log
line and health details, not in the files.`;

const STATS_HELP = `usage: mrm log stats [--state-dir DIR] [--json]

Segments, bytes, records per server process, torn/corrupt bytes, images.
The state directory is --state-dir, else $MRM_STATE_DIR, else '${DEFAULTS.stateDir}'.`;
const TAIL_HELP = `usage: mrm log tail [--state-dir DIR] [--n N] [--json]

The newest N records (--n, or -n; default 10); --json prints one JSON object a
line, features included.
The state directory is --state-dir, else $MRM_STATE_DIR, else '${DEFAULTS.stateDir}'.`;

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') return void parse(['--help'], {}, HELP);
  if (sub === 'stats') return stats(rest);
  if (sub === 'tail') return tail(rest);
  throw new UsageError(sub ? `unknown subcommand '${sub}'\n\n${HELP}` : HELP);
}

const stateDirOf = (values: Record<string, unknown>) => str(values, 'state-dir') ?? process.env.MRM_STATE_DIR ?? DEFAULTS.stateDir;

async function stats(argv: string[]): Promise<void> {
  const { values } = parse(argv, { 'state-dir': { type: 'string' }, json: { type: 'boolean' } }, STATS_HELP);
  const s = await summarizeLog(stateDirOf(values));
  if (values.json) return void console.log(JSON.stringify(s, null, 2));
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MiB`;
  console.log(`pair log in ${s.stateDir}/pairlog: ${s.records} records in ${s.segments} segments (${mb(s.bytes)}), ${s.images.count} images (${mb(s.images.bytes)})`);
  for (const w of s.writers) {
    console.log(`  ${w.writer.padEnd(40)} ${String(w.records).padStart(8)} records ${String(w.segments).padStart(4)} segments (${w.openSegments} open) ${mb(w.bytes).padStart(12)}  ${w.firstRecord ?? '-'} .. ${w.lastRecord ?? '-'}`);
  }
  const e = s.errors;
  console.log(`  torn tails ${e.tornTails} (${e.tornBytes} bytes; normal for a segment being written), corrupt frames ${e.corruptRegions} (${e.corruptBytes} bytes), undecodable records ${e.badRecords}`);
}

async function tail(argv: string[]): Promise<void> {
  const { values } = parse(argv, { 'state-dir': { type: 'string' }, json: { type: 'boolean' }, n: { type: 'string', short: 'n' } }, TAIL_HELP);
  const n = num(values, 'n', 10, { integer: true, min: 1, max: 100_000 });
  const pairs = await tailLog(stateDirOf(values), n);
  for (const p of pairs) {
    const r = p.record;
    if (values.json) {
      console.log(JSON.stringify({ writer: p.writer, seq: p.seq, ...r, a: { ...r.a, features: Array.from(r.a.features) }, b: { ...r.b, features: Array.from(r.b.features) } }));
      continue;
    }
    const cut = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 39)}…` : s);
    console.log(`${r.time} ${r.source.padEnd(7)} ${r.model}@${r.version} P(a>b)=${sigmoid(r.margin).toFixed(3)} margin=${r.margin.toFixed(3)} ` +
      `a=${cut(r.a.response)} b=${cut(r.b.response)} prompt=${cut(r.prompt)} images=${r.images.length} ${p.writer}#${p.seq}`);
  }
}
