/**
 * The reward server's grpc.Server options, in one place so that the gRPC
 * floor's echo server (scripts/bench-cost/grpc-floor.ts) runs on exactly the
 * transport `mrm serve` runs on: whatever these cost per call is in the
 * floor, and nothing of ours is hidden in it.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ServeConfig } from './config.js';

export type TransportConfig = Pick<ServeConfig, 'maxMessageBytes' | 'connections' | 'shutdownGraceMs'>;

export function rewardServerOptions(config: TransportConfig): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': -1,
    'grpc.max_concurrent_streams': config.connections.maxConcurrentStreams,
    'grpc.keepalive_time_ms': config.connections.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': config.connections.keepaliveTimeoutMs,
    'grpc.max_connection_idle_ms': config.connections.maxIdleMs,
    'grpc.max_connection_age_ms': config.connections.maxAgeMs,
    // Calls in flight when a connection reaches its age get this long to finish.
    'grpc.max_connection_age_grace_ms': config.shutdownGraceMs,
  };
}
