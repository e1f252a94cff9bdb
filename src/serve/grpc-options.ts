/**
 * The reward server's grpc.Server options, in one place so that the gRPC
 * floor's echo server (scripts/bench-cost/grpc-floor.ts) runs on exactly the
 * transport `mrm serve` runs on: whatever these cost per call is in the
 * floor, and nothing of ours is hidden in it.
 */
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
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
    // Nothing here serves channelz, and its per-call trackers (closures, a
    // Date.now() per message) were ~4% of the echo server's main-thread
    // samples at 64 single items in flight (grpc-floor.ts --cpu-prof; an
    // echo-against-echo A/B on the busy machine could not resolve it).
    'grpc.enable_channelz': 0,
  };
}

/**
 * The connection-level HTTP/2 receive window, raised from the protocol's
 * 64 KiB default (which Node keeps, and grpc-js offers no server option
 * for). Node returns connection window as it receives DATA, but the
 * WINDOW_UPDATE goes out only after the event-loop turn that read it: with
 * 64 KiB a client could send about two 28 KiB messages per turn of the
 * server's loop, so under load (turns of tens of ms) an admitted call's
 * message took seconds to follow its headers, shared round-robin with every
 * other open stream's. 1 MiB is ~36 such messages a turn. Memory stays
 * bounded by the per-stream windows (64 KiB each, unchanged) and
 * connections.maxConcurrentStreams, as before: the received bytes wait in
 * the streams either way.
 */
export const CONNECTION_WINDOW_BYTES = 1024 * 1024;

/**
 * The call's HTTP/2 session the first time one of its calls is seen, else
 * null: what is set up per connection (its window, its error listener) is
 * set up once. grpc-js exposes no session event to a server, so the first
 * call is where a connection is first reached.
 */
export function newSession(call: grpc.ServerInterceptingCallInterface, seen: WeakSet<http2.Http2Session>): http2.Http2Session | null {
  const session = (call as { stream?: Partial<http2.ServerHttp2Stream> }).stream?.session;
  if (!session || seen.has(session) || typeof session.setLocalWindowSize !== 'function' || session.destroyed) return null;
  seen.add(session);
  return session;
}

export function widenConnectionWindow(session: http2.Http2Session): void {
  session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
}

/** Hears a connection that Node's HTTP/2 layer ends with an error (the calls on it are reset with INTERNAL). */
export type SessionErrorListener = (err: Error, remote: string | undefined) => void;

/**
 * Listens for the session's own errors. grpc-js listens for none, so a
 * connection that Node destroyed (a peer's protocol error, too many invalid
 * frames or refused streams, a socket error) vanished from the logs while
 * its clients saw every open call reset with "RST_STREAM with error code 2".
 */
export function watchSessionErrors(session: http2.Http2Session, onError: SessionErrorListener): void {
  // Read now: by the time the session errs its socket is gone.
  const remote = session.socket?.remoteAddress;
  session.on('error', (err: Error) => onError(err, remote));
}

/**
 * An interceptor that only widens the connection window: the echo server's
 * (grpc-floor.ts), so its transport is the real server's, whose arrival gate
 * widens it on the first Score or Compare.
 */
export function connectionWindowInterceptor(): grpc.ServerInterceptor {
  const seen = new WeakSet<http2.Http2Session>();
  return (_method, call) => {
    const session = newSession(call, seen);
    if (session) widenConnectionWindow(session);
    return new grpc.ServerInterceptingCall(call);
  };
}
