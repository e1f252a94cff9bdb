/**
 * The arrival gate: admission (admission.ts) at a unary call's HEADERS, as a
 * grpc-js server interceptor. Refusals are answered at once (trailers, then
 * RST_STREAM); the event-loop time they take is measured per turn of the
 * loop and kept out of admission's drain rate, which is about how fast the
 * admitted work drains: counted as drain time, a flood's refusal storm made
 * the drain factor 23-30 and the wait bound refused nearly everything for
 * seconds after the storm (idle machine, 2026-12-01: 23 OK of 10,000).
 */
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import type { Admission } from './admission.js';
import { newSession, type SessionErrorListener, watchSessionErrors, widenConnectionWindow } from './grpc-options.js';

/**
 * Measures the event-loop time of refusals, for admission's drain rate: from
 * the first refused call's headers in a turn of the loop to the end of the
 * last refusal answered in it. The span takes in grpc-js's and Node's work
 * on each refused call between our callbacks (HTTP/2 frames, call setup),
 * which no callback of ours sees; a flood's HEADERS arrive hundreds per
 * turn, so that is most of a refusal storm's cost. `onLoopTime` hears each
 * turn's span once the turn is over.
 */
export class RefusalTurns {
  private start: number | null = null;
  private end = 0;

  constructor(
    private readonly onLoopTime: (ms: number) => void,
    private readonly later: (fn: () => void) => void = setImmediate,
  ) {}

  /** A call whose headers came at `headerAt` (performance.now()) was refused; its answer is sent. */
  refused(headerAt: number): void {
    if (this.start === null) {
      this.start = headerAt;
      this.later(() => {
        this.onLoopTime(this.end - this.start!);
        this.start = null;
      });
    }
    this.end = performance.now();
  }
}

/**
 * The arrival gate as a grpc-js server interceptor on the unary `paths`
 * (Score, Compare): a refused call gets RESOURCE_EXHAUSTED with the pushback
 * trailer before its handler runs. Streams are gated per request instead.
 */
export function arrivalGate(admission: Admission, paths: ReadonlySet<string>, onSessionError?: SessionErrorListener): grpc.ServerInterceptor {
  const timing = admission.timing;
  const turns = new RefusalTurns((ms) => admission.refusalLoopTime(ms));
  const seen = new WeakSet<http2.Http2Session>();
  return (method, call) => {
    if (!paths.has(method.path)) return new grpc.ServerInterceptingCall(call);
    const session = newSession(call, seen);
    if (session) {
      widenConnectionWindow(session);
      if (onSessionError) watchSessionErrors(session, onSessionError);
    }
    let release: (() => void) | null = null;
    let headerAt = 0;
    let messageAt = 0;
    const done = () => {
      release?.();
      release = null;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (md, mdNext) => {
          headerAt = performance.now();
          const left = msLeft(call.getDeadline());
          timing.header(left);
          const admitted = admission.admitArrival(left);
          if (typeof admitted !== 'function') {
            // Answered at once, in the turn that read the headers: the RST_STREAM
            // after it stops the client sending this call's message, and every
            // refused message still on the way delays the admitted calls'
            // messages on the same connection. (Answering in slices of the loop,
            // tried on 2026-12-01, let refusals wait behind reads of more HEADERS
            // on a starved machine, past their 5 s deadlines.)
            const trailer = new grpc.Metadata();
            trailer.set('grpc-retry-pushback-ms', String(admitted.retryAfterMs));
            call.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: admitted.message, metadata: trailer });
            stopRequestBody(call);
            timing.refusedAtHeader(performance.now() - headerAt);
            turns.refused(headerAt);
            return;
          }
          release = admitted;
          timing.admittedAtHeader();
          mdNext(md);
        },
        onReceiveMessage: (msg, msgNext) => {
          messageAt = performance.now();
          timing.message(messageAt - headerAt);
          done();
          msgNext(msg);
        },
        onCancel: done,
      }),
      sendStatus: (status, next) => {
        done();
        if (status.code === grpc.status.OK && messageAt > 0) {
          const now = performance.now();
          timing.answeredOk(now - headerAt, now - messageAt);
        }
        next(status);
      },
    });
  };
}

/**
 * After a refusal at the headers, tell the client to stop sending the
 * request's message: RST_STREAM with NO_ERROR after the complete response,
 * as HTTP/2 allows (RFC 9113 section 8.1). Without it the client goes on
 * sending every refused call's message (a flood's: 10,000 x 28 KiB) through
 * the connection's flow-control window, where the messages of the calls that
 * were admitted queue behind them for seconds (measured: headers -> message
 * p50 13.5 s). grpc-js leaves the stream half-open (it pauses its readable
 * side, which keeps Node from closing it the way it does for a plain HTTP/2
 * server), and offers no API for this, so it is reached on the call the
 * first interceptor wraps; Node sends the RST_STREAM only once the trailers
 * are written. Absent (another grpc-js layout), the refusal still stands and
 * only the message's bytes are wasted.
 */
function stopRequestBody(call: grpc.ServerInterceptingCallInterface): void {
  const stream = (call as { stream?: Partial<http2.ServerHttp2Stream> }).stream;
  if (typeof stream?.close === 'function' && stream.closed === false && stream.destroyed === false) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

function msLeft(deadline: grpc.Deadline): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}
