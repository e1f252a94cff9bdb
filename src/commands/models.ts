/** mrm models: the registry's versions through a running server's admin API (mrm.v1.AdminService). */
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { createAdminClient, type ActivateResponseMsg, type AdminClient, type ListModelsResponseMsg } from '../serve/admin-proto.js';
import { clientCredentials } from '../serve/tls.js';
import { num, parse, str, UsageError } from './args.js';

const HELP = `usage: mrm models <list|show|activate|rollback> [options]

  list                 every version, the active pointer, what the server serves,
                       and its swap state (a failed load shows its reason)
  show [VERSION]       one version and its manifest (default: the active one)
  activate VERSION     load and check VERSION on the server, then make it active;
                       every replica on the same state directory follows
  rollback             make the previous active version active again
  import DIR           register a bundle built elsewhere as the next version, after
                       the checks every bundle gets: files, sha256, inputs and
                       outputs, a warm-up. Local, no server: --state-dir DIR
                       ($MRM_STATE_DIR, else var) and --model NAME (default:
                       the bundle's manifest name). Then activate it.

options
  --admin HOST:PORT    the server's admin address (default 127.0.0.1:50052)
  --token TOKEN        bearer token (prefer the environment: MRM_ADMIN_TOKEN)
  --token-file FILE    read the bearer token from FILE
  --reason TEXT        recorded in the pointer (activate, rollback)
  --timeout S          deadline per call in seconds (default 120)
  --json               print the answer as JSON
TLS (when the server has tls.cert/tls.key)
  --tls                connect with TLS (implied by --ca and --cert)
  --ca FILE            CA that signed the server's certificate (default: system roots)
  --cert FILE --key FILE   client certificate, for admin.clientCa (mutual TLS)
  --server-name NAME   name to check in the server's certificate (default: the host)`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    admin: { type: 'string' },
    token: { type: 'string' },
    'token-file': { type: 'string' },
    reason: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    tls: { type: 'boolean' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'server-name': { type: 'string' },
    'state-dir': { type: 'string' },
    model: { type: 'string' },
  }, HELP);
  const v = values as Record<string, unknown>;
  const [sub, arg, ...extra] = positionals;
  if (!sub || !['list', 'show', 'activate', 'rollback', 'import'].includes(sub)) throw new UsageError(`expected list, show, activate, rollback or import${sub ? `, got '${sub}'` : ''}\n\n${HELP}`);
  if (extra.length > 0 || (arg !== undefined && !['show', 'activate', 'import'].includes(sub))) throw new UsageError(`unexpected argument '${extra[0] ?? arg}'\n\n${HELP}`);
  if (sub === 'import') return importBundle(v, arg);
  const client = connect(v);
  const json = Boolean(v.json);
  const deadline = () => ({ deadline: Date.now() + num(v, 'timeout', 120, { min: 0.001 }) * 1000 });
  try {
    if (sub === 'list') {
      const res = await call(client.call('listModels', {}, deadline()));
      console.log(json ? JSON.stringify(res, null, 2) : listTable(res));
    } else if (sub === 'show') {
      const version = arg === undefined ? 0 : versionArg(arg);
      const res = await call(client.call('getModel', { version }, deadline()));
      if (json) console.log(JSON.stringify({ ...res.summary, manifest: JSON.parse(res.manifestJson || 'null') }, null, 2));
      else console.log(`version ${res.summary.version}${res.summary.active ? ' (active)' : ''}${res.summary.serving ? ' (served here)' : ''}\n${res.manifestJson}`);
    } else if (sub === 'activate') {
      if (arg === undefined) throw new UsageError(`activate needs a VERSION\n\n${HELP}`);
      const res = await call(client.call('activate', { version: versionArg(arg), reason: str(v, 'reason', '')! }, deadline()));
      console.log(json ? JSON.stringify(res) : switched(res));
    } else {
      const res = await call(client.call('rollback', { reason: str(v, 'reason', '')! }, deadline()));
      console.log(json ? JSON.stringify(res) : switched(res));
    }
  } finally {
    client.close();
  }
}

/** An admin client from the shared flags (--admin, --token, --token-file, TLS); MRM_ADMIN_TOKEN or MRM_ADMIN_TOKEN_FILE otherwise. */
export function connect(v: Record<string, unknown>): AdminClient {
  const read = (flag: string): Buffer | undefined => {
    const p = str(v, flag);
    if (p === undefined) return undefined;
    try {
      return readFileSync(p);
    } catch (cause) {
      throw new UsageError(`--${flag}: cannot read ${p}: ${(cause as Error).message}`, { cause });
    }
  };
  let token = str(v, 'token') ?? process.env.MRM_ADMIN_TOKEN;
  if (v['token-file'] === undefined && !token && process.env.MRM_ADMIN_TOKEN_FILE) v = { ...v, 'token-file': process.env.MRM_ADMIN_TOKEN_FILE };
  const tokenFile = read('token-file');
  if (tokenFile) token = tokenFile.toString('utf8').trim();
  const ca = read('ca');
  const cert = read('cert');
  const key = read('key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together');
  const tls = Boolean(v.tls) || ca !== undefined || cert !== undefined;
  const serverName = str(v, 'server-name');
  const address = str(v, 'admin', '127.0.0.1:50052')!;
  return createAdminClient(address, {
    ...(token ? { token } : {}),
    credentials: clientCredentials(tls ? { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) } : null),
    ...(serverName ? { channelOptions: { 'grpc.ssl_target_name_override': serverName } } : {}),
  });
}

function versionArg(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`VERSION: expected an integer >= 1, got '${s}'`);
  return n;
}

/** The server's status and message, never the token. */
async function call<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const e = err as ServiceError;
    throw new Error(`${Status[e.code] ?? 'error'}: ${e.details ?? e.message}`, { cause: err });
  }
}

function switched(r: ActivateResponseMsg): string {
  if (!r.changed) return `${r.model} version ${r.servingVersion} was already active (served here)`;
  return `${r.model}: version ${r.previousVersion || '-'} -> ${r.servingVersion}, served here after ${r.ms} ms; replicas on the same state directory follow`;
}

function listTable(r: ListModelsResponseMsg): string {
  const rows = [`${'version'.padStart(7)}  ${'state'.padEnd(16)} ${'parent'.padStart(6)}  ${'created'.padEnd(24)} metrics / error`];
  for (const x of r.versions) {
    const state = [x.active ? 'active' : '', x.serving ? 'served' : ''].filter(Boolean).join(',');
    const metrics = x.error || Object.entries(x.metrics).map(([k, val]) => `${k}=${val.toFixed(3)}`).join(' ');
    rows.push(`${String(x.version).padStart(7)}  ${state.padEnd(16)} ${String(x.parent || '-').padStart(6)}  ${x.createdAt.padEnd(24)} ${metrics}`);
  }
  const p = r.active;
  rows.push('', `model ${r.model}; pointer: ${p ? `version ${p.version} (previous ${p.previous || '-'}, ${p.updatedAt}, ${JSON.stringify(p.reason)})` : 'none'}; served here: ${r.servingVersion || 'none'}`);
  const s = r.swap;
  if (s.loadingVersion) rows.push(`loading version ${s.loadingVersion} (attempt ${s.loadingAttempt})`);
  if (s.lastError) rows.push(`last failed load: version ${s.lastError.version}, ${s.lastError.attempts} attempt(s), next retry ${s.lastError.nextRetryAt}: ${s.lastError.message}`);
  return rows.join('\n');
}

/** Loads and checks the bundle exactly as a server would, then registers it as the next version. */
async function importBundle(v: Record<string, unknown>, dir: string | undefined): Promise<void> {
  if (!dir) throw new UsageError('import needs the bundle directory');
  const { loadBundle } = await import('../model/bundle.js');
  const { Registry } = await import('../model/registry.js');
  const { runtime, manifest } = await loadBundle(dir);
  await runtime.release();
  const model = str(v, 'model') ?? manifest.name;
  if (model !== manifest.name) throw new UsageError(`${dir}: the bundle is model '${manifest.name}', not '${model}'`);
  const registry = new Registry(str(v, 'state-dir') ?? process.env.MRM_STATE_DIR ?? 'var', model);
  const version = await registry.register(dir);
  console.log(`registered ${dir} as ${model} version ${version} in ${registry.modelDir} (not active: mrm models activate ${version})`);
}
