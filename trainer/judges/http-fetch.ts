/**
 * A `fetch` for the openai client when the judge is a plain-http endpoint
 * (the simulated judge, a vLLM on the next machine): node:http with a
 * keep-alive agent instead of the global fetch (undici).
 *
 * Why: measured with the simulated judge on this machine, the global
 * fetch's machinery (Request objects, web streams for a string body, abort
 * signal plumbing) was most of the client's CPU per call, about twice the
 * judge's own work per answer; a round makes 40,000 calls over 20,000 logged
 * pairs. The openai package still builds every request, reads every
 * response and raises its own errors (status, Retry-After headers,
 * timeouts), so the protocol seen on the wire and the errors seen here do
 * not change. https endpoints keep the global fetch.
 */
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * `maxSockets`: connections kept to the endpoint. The client's concurrency
 * limit already bounds calls in flight; this only has to be no smaller.
 */
export function httpFetch(maxSockets: number): Fetch {
  // keepAlive: a call reuses a connection instead of paying a TCP handshake
  // per call; the simulated judge keeps idle sockets for 65 s.
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : new URL(input.url);
      if (url.protocol !== 'http:') {
        reject(new TypeError(`httpFetch serves http: URLs only, got ${url.protocol}`));
        return;
      }
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const body = init.body;
      if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        reject(new TypeError('httpFetch sends string or byte bodies only'));
        return;
      }
      const headers = outgoing(init.headers);
      if (body !== undefined && body !== null) headers['content-length'] = Buffer.byteLength(body);
      const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          signal?.removeEventListener('abort', onAbort);
          const status = res.statusCode ?? 0;
          const noBody = status === 204 || status === 205 || status === 304 || (init.method ?? 'GET') === 'HEAD';
          try {
            resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: incoming(res.headers) }));
          } catch (err) {
            reject(err);
          }
        });
      });
      function fail(err: Error): void {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      }
      function onAbort(): void {
        const err = abortError(signal!);
        req.destroy(err);
        reject(err);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', fail);
      req.end(body ?? undefined);
    });
}

/** What fetch rejects with on abort: the openai client reads the name 'AbortError' as a timeout when its own timer fired. */
function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException(reason instanceof Error ? reason.message : 'This operation was aborted', 'AbortError');
}

function outgoing(h: RequestInit['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  if (h === undefined) return out;
  if (h instanceof Headers || Array.isArray(h)) {
    for (const [k, v] of h instanceof Headers ? h.entries() : h) out[k.toLowerCase()] = v;
  } else {
    for (const [k, v] of Object.entries(h)) if (v !== undefined && v !== null) out[k.toLowerCase()] = String(v);
  }
  return out;
}

function incoming(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.append(k, x);
  }
  return out;
}
