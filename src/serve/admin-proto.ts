/**
 * mrm.v1.AdminService as loaded at run time, its message shapes (proto-loader
 * options as in proto.ts: camelCase, int64 as number) and a typed client for
 * `mrm models`, tests and benchmarks.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { RoundEventMsg } from './admin-rounds.js';
import { decodingAsValues, LOADER_OPTIONS } from './proto.js';

export const ADMIN_PROTO = 'mrm/v1/admin.proto';
export const ADMIN_SERVICE = 'mrm.v1.AdminService';

export function adminServiceDefinition(): grpc.ServiceDefinition {
  return decodingAsValues(protoLoader.loadSync(ADMIN_PROTO, LOADER_OPTIONS)[ADMIN_SERVICE] as grpc.ServiceDefinition, ADMIN_SERVICE);
}

export interface VersionSummaryMsg {
  version: number;
  active: boolean;
  serving: boolean;
  parent: number;
  createdAt: string;
  metrics: Record<string, number>;
  notes: string;
  error: string;
}

export interface ActivePointerMsg {
  version: number;
  previous: number;
  updatedAt: string;
  reason: string;
}

export interface SwapErrorMsg {
  version: number;
  kind: string;
  message: string;
  attempts: number;
  at: string;
  nextRetryAt: string;
}

export interface SwapStatusMsg {
  aspiredVersion: number;
  loadingVersion: number;
  loadingAttempt: number;
  lastError: SwapErrorMsg | null;
  swaps: number;
  failedLoads: number;
}

export interface ListModelsResponseMsg {
  model: string;
  versions: VersionSummaryMsg[];
  active: ActivePointerMsg | null;
  servingVersion: number;
  swap: SwapStatusMsg;
}

export interface GetModelResponseMsg {
  summary: VersionSummaryMsg;
  manifestJson: string;
}

export interface ActivateResponseMsg {
  model: string;
  servingVersion: number;
  previousVersion: number;
  changed: boolean;
  ms: number;
}

export interface LogStatsResponseMsg {
  enabled: boolean;
  statsJson: string;
}

export interface AdminRequests {
  listModels: [Record<string, never>, ListModelsResponseMsg];
  getModel: [{ version?: number }, GetModelResponseMsg];
  activate: [{ version?: number; reason?: string }, ActivateResponseMsg];
  rollback: [{ reason?: string }, ActivateResponseMsg];
  logStats: [Record<string, never>, LogStatsResponseMsg];
  getServerDetails: [Record<string, never>, { detailsJson: string }];
  triggerRound: [{ settingsJson?: string; resumeId?: string }, { roundId: string; pid: number }];
  getRound: [{ roundId: string }, { roundJson: string; reportPath: string }];
  listRounds: [Record<string, never>, { rounds: { roundId: string; model: string; status: string; createdAt: string; decision: string; version: number }[] }];
}
export type AdminMethod = keyof AdminRequests;

export interface AdminClient {
  readonly grpc: grpc.Client;
  call<M extends AdminMethod>(method: M, req: AdminRequests[M][0], opts?: grpc.CallOptions): Promise<AdminRequests[M][1]>;
  /** Every event of a round until it ends (server streaming). */
  watchRound(roundId: string, onEvent: (e: RoundEventMsg) => void): Promise<void>;
  close(): void;
}

/** A client that sends `authorization: Bearer <token>` on every call when a token is given. */
export function createAdminClient(address: string, opts: { token?: string; credentials?: grpc.ChannelCredentials; channelOptions?: grpc.ChannelOptions } = {}): AdminClient {
  const Ctor = grpc.makeClientConstructor(adminServiceDefinition(), 'AdminService');
  const client = new Ctor(address, opts.credentials ?? grpc.credentials.createInsecure(), opts.channelOptions ?? {}) as unknown as grpc.Client & Record<AdminMethod, unknown>;
  return {
    grpc: client,
    call: (method, req, callOpts = {}) => new Promise((resolve, reject) => {
      const meta = new grpc.Metadata();
      if (opts.token) meta.set('authorization', `Bearer ${opts.token}`);
      const fn = client[method] as (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: grpc.requestCallback<AdminRequests[typeof method][1]>) => void;
      fn.call(client, req, meta, callOpts, (err, res) => (err ? reject(err) : resolve(res!)));
    }),
    watchRound: (roundId, onEvent) => new Promise((resolve, reject) => {
      const meta = new grpc.Metadata();
      if (opts.token) meta.set('authorization', `Bearer ${opts.token}`);
      const stream = (client as unknown as { watchRound: (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<RoundEventMsg> }).watchRound({ roundId }, meta);
      stream.on('data', onEvent);
      stream.on('error', reject);
      stream.on('end', () => resolve());
    }),
    close: () => client.close(),
  };
}
