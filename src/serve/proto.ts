/**
 * The API as loaded at run time (proto-loader; no generated code to keep in
 * sync) and the TypeScript shapes of its messages. The loader options fix
 * those shapes: camelCase fields, int64 as number (versions are small),
 * defaults filled in on decode, and `source` naming the set member of
 * Image's oneof. Request fields are optional because clients build them.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
export const REWARD_PROTO = 'mrm/v1/reward.proto';
export const REWARD_SERVICE = 'mrm.v1.RewardService';
const require = createRequire(import.meta.url);
/** The official health proto the health implementation serves, so reflection describes exactly that. */
export const HEALTH_PROTO: string = require('grpc-health-check').protoPath;
/** The reflection service's own protos (shipped in @grpc/reflection), so it lists itself like other servers do. */
const REFLECTION_PROTOS = ['v1', 'v1alpha'].map((v) => join(dirname(require.resolve('@grpc/reflection')), `../proto/grpc/reflection/${v}/reflection.proto`));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** Every API the server serves (reward, health, reflection) in one package definition, for reflection. */
export function loadPackage(): protoLoader.PackageDefinition {
  return protoLoader.loadSync([REWARD_PROTO, HEALTH_PROTO, ...REFLECTION_PROTOS], LOADER_OPTIONS);
}

/**
 * A request whose bytes do not decode as its message type. grpc-js answers a
 * deserializer that throws with INTERNAL ("Error deserializing request"),
 * which tells the caller the server broke; the bytes are the caller's, so
 * the reward service's deserializers return this value instead and the
 * handler answers INVALID_ARGUMENT with protobuf's reason (service.ts).
 */
export class UndecodableMessage {
  constructor(readonly type: string, readonly reason: string) {}

  get message(): string {
    return `not a valid ${this.type} message (protobuf: ${this.reason})`;
  }
}

export function rewardServiceDefinition(pkg: protoLoader.PackageDefinition): grpc.ServiceDefinition {
  return decodingAsValues(pkg[REWARD_SERVICE] as grpc.ServiceDefinition, REWARD_SERVICE);
}

/** The service with deserializers that return an UndecodableMessage instead of throwing. */
export function decodingAsValues(service: grpc.ServiceDefinition, serviceName: string): grpc.ServiceDefinition {
  const pkgName = serviceName.slice(0, serviceName.lastIndexOf('.'));
  return Object.fromEntries(Object.entries(service).map(([name, method]) => {
    const decode = method.requestDeserialize;
    const type = `${pkgName}.${(method as { requestType?: { type?: { name?: string } } }).requestType?.type?.name ?? `${name}Request`}`;
    const requestDeserialize = (bytes: Buffer): unknown => {
      try {
        return decode(bytes);
      } catch (err) {
        return new UndecodableMessage(type, err instanceof Error ? err.message : String(err));
      }
    };
    return [name, { ...method, requestDeserialize }];
  })) as grpc.ServiceDefinition;
}

export interface ImageMsg {
  data?: Uint8Array | null;
  sha256?: string;
  source?: 'data' | 'sha256';
}

export interface ItemMsg {
  images?: ImageMsg[];
  system?: string;
  prompt?: string;
  response?: string;
  reference?: string;
  id?: string;
}

export interface GroupMsg {
  images?: ImageMsg[];
  system?: string;
  prompt?: string;
  reference?: string;
  responses?: string[];
  id?: string;
}

export interface ScoreRequestMsg {
  items?: ItemMsg[];
  groups?: GroupMsg[];
  requestId?: string;
}

export interface PairMsg {
  images?: ImageMsg[];
  system?: string;
  prompt?: string;
  reference?: string;
  responseA?: string;
  responseB?: string;
  id?: string;
}

export interface CompareRequestMsg {
  pairs?: PairMsg[];
  requestId?: string;
}

export interface ModelVersionMsg {
  name: string;
  version: number;
}

export interface ResultMsg {
  reward: number;
  normalizedReward: number;
  spread: number;
  cached: boolean;
  truncated: boolean;
  id: string;
}

export interface GroupResultMsg {
  id: string;
  responses: ResultMsg[];
}

export interface ErrorMsg {
  code: number;
  message: string;
}

export interface ScoreResponseMsg {
  requestId: string;
  model: ModelVersionMsg | null;
  items: ResultMsg[];
  groups: GroupResultMsg[];
  error: ErrorMsg | null;
}

export interface PairResultMsg {
  id: string;
  probabilityA: number;
  margin: number;
  a: ResultMsg;
  b: ResultMsg;
}

export interface CompareResponseMsg {
  requestId: string;
  model: ModelVersionMsg;
  pairs: PairResultMsg[];
}

/** A typed client of RewardService (tests, `mrm score`, the benchmark). */
export interface RewardClient extends grpc.Client {
  score(req: ScoreRequestMsg, meta: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<ScoreResponseMsg>): grpc.ClientUnaryCall;
  compare(req: CompareRequestMsg, meta: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<CompareResponseMsg>): grpc.ClientUnaryCall;
  scoreStream(meta: grpc.Metadata, opts: grpc.CallOptions): grpc.ClientDuplexStream<ScoreRequestMsg, ScoreResponseMsg>;
}

export function createRewardClient(address: string, options: grpc.ChannelOptions = {}, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()): RewardClient {
  const pkg = protoLoader.loadSync(REWARD_PROTO, LOADER_OPTIONS);
  const Ctor = grpc.makeClientConstructor(rewardServiceDefinition(pkg), 'RewardService');
  return new Ctor(address, credentials, {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
    ...options,
  }) as unknown as RewardClient;
}

/** Promise form of a unary call; rejects with the grpc ServiceError. */
export function unary<Req, Res>(
  call: (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall,
  req: Req,
  opts: grpc.CallOptions = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    call(req, new grpc.Metadata(), opts, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}
