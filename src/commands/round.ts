/**
 * mrm round: the improvement loop from the command line.
 *
 *   run     run a round in this process (what the admin service's TriggerRound starts as a child)
 *   resume  finish a killed round in this process
 *   show    a round's state (--json) or the path of its report (--html)
 *   list    the rounds of the state directory
 *
 * start / watch go through a server's admin API (see `mrm round start --help`).
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { listRounds, RoundFolder } from '../rounds/folder.js';
import { createLogger } from '../serve/log.js';
import { parse, str, UsageError } from './args.js';
import { progressView } from './round-progress.js';

const ADMIN_HELP = `admin API: --admin HOST:PORT (default 127.0.0.1:50052), --token TOKEN or
  --token-file FILE (else MRM_ADMIN_TOKEN / MRM_ADMIN_TOKEN_FILE), --tls, --ca FILE,
  --cert FILE --key FILE, --server-name NAME (as for mrm models)`;
const STATE_HELP = "The state directory is --state-dir, else $MRM_STATE_DIR, else 'var'.";

const START_HELP = `usage: mrm round start [--wait] [--settings JSON] [--resume ID] [admin options]

TriggerRound on a server's admin API: the server starts the round as its own
process with its round settings (round.configFile) and --settings (a JSON
object of round settings) on top; --resume ID finishes a killed round instead.
--wait follows it (as watch does) and exits when it ends: 0 when it finished,
1 when it failed.
${ADMIN_HELP}`;
const WATCH_HELP = `usage: mrm round watch ID [admin options]

Follows a round's steps through the admin API until it ends.
${ADMIN_HELP}`;
const RUN_HELP = `usage: mrm round run [--config FILE] [--state-dir DIR] [--model NAME] [--judge-url URL] [--id ID]

One improvement round in this process: collect the logged pairs, label them
with the judge, DT2IT curation, fit, gate, register, activate if it passed.
--config is a JSON object of round settings (trainer/round/config.ts: base,
gate, t2i, judge, heldOutShare, gateMarginPts, ...); the flags override it.
The judge's API key comes from MRM_JUDGE_API_KEY or MRM_JUDGE_API_KEY_FILE.
Exit codes: 0 the round finished (activated, rejected or skipped: see its
outcome), 1 it failed, 2 usage, 3 another round of the model is running.
${STATE_HELP}`;
const RESUME_HELP = `usage: mrm round resume ID [--state-dir DIR]

Runs a killed round's unfinished steps with the settings it started with;
judge calls already made come from the judgment cache.
${STATE_HELP}`;
const SHOW_HELP = `usage: mrm round show ID [--state-dir DIR] [--json | --html]

A round's steps, counts and outcome; --json its round.json; --html the path of
its report.html.
${STATE_HELP}`;
const EXPORT_HELP = `usage: mrm round export ID --llamafactory DIR [--state-dir DIR] [--base-model NAME]

Writes the round's curated set in LLaMA-Factory's ranking format (train.json,
dataset_info.json, images/) and train_rm.yaml (stage rm, --base-model, default
Qwen/Qwen2-VL-7B-Instruct, DeepSpeed ZeRO-3) for \`llamafactory-cli train\`; the
model it trains comes back as a bundle through \`mrm models import\`.
${STATE_HELP}`;
const LIST_HELP = `usage: mrm round list [--state-dir DIR] [--json]

The rounds of the state directory, newest first.
${STATE_HELP}`;

const HELP = `usage: mrm round start  [--wait] [--settings JSON] [--resume ID] [admin options]
       mrm round watch  ID [admin options]
       mrm round run    [--config FILE] [--state-dir DIR] [--model NAME] [--judge-url URL] [--id ID]
       mrm round resume ID [--state-dir DIR]
       mrm round show   ID [--state-dir DIR] [--json | --html]
       mrm round list   [--state-dir DIR] [--json]
       mrm round export ID --llamafactory DIR [--state-dir DIR] [--base-model NAME]

  start, watch   through a server's admin API (TriggerRound, WatchRound)
  run, resume    a round in this process (what TriggerRound starts as a child)
  show, list     read rounds from the state directory
  export         a round's curated set for LLaMA-Factory (a full fine-tune elsewhere)
mrm round SUBCOMMAND --help for each one's options.`;

const stateDirOf = (v: Record<string, unknown>) => str(v, 'state-dir') ?? process.env.MRM_STATE_DIR ?? 'var';

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') return void parse(['--help'], {}, HELP);
  switch (sub) {
    case 'start': return start(rest);
    case 'watch': return watch(rest);
    case 'run': return runLocal(rest);
    case 'resume': return resume(rest);
    case 'show': return show(rest);
    case 'list': return list(rest);
    case 'export': return exportRound(rest);
    default: throw new UsageError(sub ? `unknown subcommand '${sub}'\n\n${HELP}` : HELP);
  }
}

async function runLocal(argv: string[]): Promise<void> {
  const { values } = parse(argv, { config: { type: 'string' }, 'state-dir': { type: 'string' }, model: { type: 'string' }, 'judge-url': { type: 'string' }, id: { type: 'string' } }, RUN_HELP);
  const { parseRoundConfig } = await import('../../trainer/round/config.js');
  const { judgeLabeler, startRound } = await import('../../trainer/round/main.js');
  const file = str(values, 'config');
  const fromFile = file ? JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> : {};
  const judge = { ...(fromFile.judge as Record<string, unknown> | undefined), ...(values['judge-url'] ? { baseURL: values['judge-url'] } : {}) };
  const cfg = parseRoundConfig({ ...fromFile, stateDir: values['state-dir'] ?? fromFile.stateDir ?? stateDirOf(values), model: values.model ?? fromFile.model ?? 'shapes-mrm', judge }, file ?? 'flags');
  await runWith((log, view) => startRound(cfg, { log, labeler: judgeLabeler, listen: (e) => view.event(e) }, str(values, 'id')));
}

async function resume(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { 'state-dir': { type: 'string' } }, RESUME_HELP);
  const id = positionals[0];
  if (!id) throw new UsageError('resume needs a round id (mrm round list)');
  const { judgeLabeler, resumeRound } = await import('../../trainer/round/main.js');
  await runWith((log, view) => resumeRound(stateDirOf(values), id, { log, labeler: judgeLabeler, listen: (e) => view.event(e) }));
}

async function runWith(go: (log: ReturnType<typeof createLogger>, view: ReturnType<typeof progressView>) => Promise<{ outcome: unknown }>): Promise<void> {
  const { RoundBusyError } = await import('../rounds/lock.js');
  const view = progressView();
  const log = createLogger({ level: 'warn' });
  try {
    const state = await go(log, view);
    view.stop();
    console.log(JSON.stringify(state.outcome));
  } catch (err) {
    view.stop();
    if (err instanceof RoundBusyError) {
      console.error(`mrm round: ${err.message}`);
      process.exit(3);
    }
    throw err;
  }
}

async function show(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { 'state-dir': { type: 'string' }, json: { type: 'boolean' }, html: { type: 'boolean' } }, SHOW_HELP);
  const id = positionals[0];
  if (!id) throw new UsageError('show needs a round id (mrm round list)');
  const folder = new RoundFolder(stateDirOf(values), id);
  const state = await folder.load().catch((cause) => { throw new UsageError(`no round ${id} in ${folder.dir} (${(cause as Error).message})`); });
  if (values.html) return void console.log(folder.path('report.html'));
  if (values.json) return void console.log(JSON.stringify(state, null, 2));
  console.log(`round ${state.id} of ${state.model}: ${state.status}, started ${state.createdAt}`);
  for (const s of state.steps) console.log(`  ${s.name.padEnd(10)} ${s.status.padEnd(8)} ${s.seconds ?? '-'} s  ${Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (state.outcome) console.log(`outcome: ${state.outcome.decision}${state.outcome.version !== null ? ` (version ${state.outcome.version})` : ''}\n  ${state.outcome.reasons.join('\n  ')}`);
  if (state.error) console.log(`error: ${state.error}`);
}

async function list(argv: string[]): Promise<void> {
  const { values } = parse(argv, { 'state-dir': { type: 'string' }, json: { type: 'boolean' } }, LIST_HELP);
  const rounds = await listRounds(stateDirOf(values));
  if (values.json) return void console.log(JSON.stringify(rounds.map(({ config: _c, ...r }) => r), null, 2));
  for (const r of rounds) console.log(`${r.id}  ${r.model}  ${r.status.padEnd(8)}  ${r.outcome?.decision ?? '-'}${r.outcome?.version ? ` v${r.outcome.version}` : ''}`);
}

const ADMIN_FLAGS = {
  admin: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' }, tls: { type: 'boolean' },
  ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, 'server-name': { type: 'string' },
} as const;

async function start(argv: string[]): Promise<void> {
  const { values } = parse(argv, { ...ADMIN_FLAGS, wait: { type: 'boolean' }, settings: { type: 'string' }, resume: { type: 'string' } }, START_HELP);
  const { connect } = await import('./models.js');
  const client = connect(values);
  try {
    const res = await client.call('triggerRound', { settingsJson: str(values, 'settings') ?? '', resumeId: str(values, 'resume') ?? '' }, { deadline: Date.now() + 60_000 });
    console.error(`round ${res.roundId} started (pid ${res.pid})`);
    if (!values.wait) return void console.log(res.roundId);
    await follow(client, res.roundId);
  } catch (err) {
    throw adminFailure(err);
  } finally {
    client.close();
  }
}

async function watch(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { ...ADMIN_FLAGS }, WATCH_HELP);
  const id = positionals[0];
  if (!id) throw new UsageError('watch needs a round id (mrm round list)');
  const { connect } = await import('./models.js');
  const client = connect(values);
  try {
    await follow(client, id);
  } catch (err) {
    throw adminFailure(err);
  } finally {
    client.close();
  }
}

/** Shows a round's events until it ends; a failed round exits 1. */
async function follow(client: import('../serve/admin-proto.js').AdminClient, id: string): Promise<void> {
  const { fromMsg } = await import('../serve/admin-rounds.js');
  const view = progressView();
  let failed: string | null = null;
  let outcome: unknown = null;
  await client.watchRound(id, (m) => {
    const e = fromMsg(m);
    view.event(e);
    if (e.type === 'round.failed') failed = e.error;
    if (e.type === 'round.done') outcome = e.outcome;
  });
  view.stop();
  if (failed) throw new Error(`round ${id} failed: ${failed}`);
  console.log(JSON.stringify(outcome));
}

function adminFailure(err: unknown): Error {
  const e = err as { code?: number; details?: string; message?: string };
  if (typeof e.code === 'number' && e.details !== undefined) return new Error(`admin API: ${e.details} (${GrpcStatus[e.code]})`, { cause: err });
  return err as Error;
}

async function exportRound(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { 'state-dir': { type: 'string' }, llamafactory: { type: 'string' }, 'base-model': { type: 'string' } }, EXPORT_HELP);
  const id = positionals[0];
  const out = str(values, 'llamafactory');
  if (!id) throw new UsageError('export needs a round id (mrm round list)');
  if (!out) throw new UsageError('export needs --llamafactory DIR: where to write the data set and train_rm.yaml');
  const { exportLlamaFactory } = await import('../../trainer/round/export.js');
  const r = await exportLlamaFactory(stateDirOf(values), id, out, { ...(values['base-model'] ? { baseModel: str(values, 'base-model')! } : {}) });
  console.log(`wrote ${out}/${r.dataFile}: ${r.pairs} pairs, ${r.images} images; ${r.yaml}`);
}
