/**
 * The node:http fetch the openai client uses for plain-http judges: to the
 * client it must look like the global fetch (bodies, statuses, headers,
 * aborts read as timeouts), and it must keep its connections alive.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { APIConnectionTimeoutError, APIError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { httpFetch } from '../../../trainer/judges/http-fetch.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

/** A chat-completions endpoint that echoes what it got; `?` answers per the first message's text. */
async function start(): Promise<{ baseURL: string; connections: () => number }> {
  let connections = 0;
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messages: { content: string }[] };
      const text = body.messages[0]!.content;
      if (text === 'slow') return void setTimeout(() => res.end('{}'), 2000);
      if (text === 'limit') {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '1234' });
        return void res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_exceeded', code: 'rate_limit_exceeded', param: null } }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'x', object: 'chat.completion', created: 0, model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: `${req.headers.authorization} ${text} ${req.headers['content-length']}` }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      }));
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, connections: () => connections };
}

const ask = (c: OpenAI, text: string) => c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: text }] });

describe('httpFetch under the openai client', () => {
  it('gives the same answers as the global fetch, over one kept-alive connection', async () => {
    const { baseURL, connections } = await start();
    const lean = new OpenAI({ baseURL, apiKey: 'k1', maxRetries: 0, fetch: httpFetch(4) });
    const plain = new OpenAI({ baseURL, apiKey: 'k1', maxRetries: 0 });
    // Non-ASCII text: content-length must count bytes, not characters.
    const a = await ask(lean, 'héllo ✓');
    const b = await ask(plain, 'héllo ✓');
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
    expect(a.choices[0]!.message.content).toMatch(/^Bearer k1 héllo ✓ \d+$/);
    expect(a.usage?.total_tokens).toBe(3);
    const before = connections();
    for (let i = 0; i < 10; i++) await ask(lean, `call ${i}`);
    expect(connections() - before).toBe(0);
  });

  it('an error status reaches the client with its headers; its timeout reads as a timeout', async () => {
    const { baseURL } = await start();
    const lean = new OpenAI({ baseURL, apiKey: 'k', maxRetries: 0, timeout: 200, fetch: httpFetch(2) });
    const err = await ask(lean, 'limit').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(429);
    expect((err as APIError).headers?.get('retry-after-ms')).toBe('1234');
    const t0 = Date.now();
    await expect(ask(lean, 'slow')).rejects.toBeInstanceOf(APIConnectionTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1500);
    // The connection the timed-out call held is gone; the next call gets another.
    expect((await ask(lean, 'after')).choices[0]!.message.content).toMatch(/after/);
  });
});
