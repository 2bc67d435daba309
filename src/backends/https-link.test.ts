import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ensureTlsMaterial } from '../platform/tls.ts';
import type { SyncRequest } from '../protocol/agent-protocol.ts';
import { httpsAgentLink, LinkHttpError, type LinkOptions } from './https-link.ts';

type Handler = (n: number, req: IncomingMessage, res: ServerResponse) => void;

const SYNC: SyncRequest = { hostId: 'h1', kind: 'test', reports: [] };
const ANSWER = JSON.stringify({ nodes: [] });
const ok: Handler = (_n, _req, res) => res.end(ANSWER);
const status =
  (code: number, headers: Record<string, string> = {}): Handler =>
  (_n, _req, res) => {
    res.writeHead(code, headers).end('busy');
  };

/** The agent's HTTPS link against a local server with a throwaway certificate, its clock and sleep injected. */
describe('https agent link', () => {
  const dir = mkdtempSync(join(tmpdir(), 'https-link-'));
  const tls = ensureTlsMaterial(dir, undefined, new Date());
  let server: Server;
  let url = '';
  let handlers: Handler[] = [];
  let requests = 0;
  let connections = 0;
  let sleeps: number[] = [];
  const hung: ServerResponse[] = [];
  const link = (options: LinkOptions = {}) =>
    httpsAgentLink(url, 'tok', tls.caCertPem, {
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      random: () => 0.5,
      now: () => Date.parse('2026-01-01T00:00:00Z'),
      ...options,
    });

  before(async () => {
    server = createHttpsServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
      req.resume();
      req.on('end', () => {
        const n = requests++;
        assert.equal(req.headers.authorization, 'Bearer tok');
        (handlers[n] ?? handlers.at(-1) ?? ok)(n, req, res);
      });
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    url = `https://127.0.0.1:${String(typeof addr === 'object' && addr ? addr.port : 0)}`;
  });
  beforeEach(() => {
    requests = 0;
    connections = 0;
    sleeps = [];
    handlers = [];
  });
  after(() => {
    for (const res of hung) res.destroy();
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a sync that fails twice (503, then a dropped connection) is retried with jittered backoff, then answers', async () => {
    handlers = [status(503), (_n, req) => req.socket.destroy(), ok];
    assert.deepEqual(await link().sync(SYNC), { nodes: [] });
    assert.equal(requests, 3);
    // Full jitter at 0.5 of a ceiling of 500 ms, then 1,000 ms.
    assert.deepEqual(sleeps, [250, 500]);
  });

  test('Retry-After is honoured, in seconds and as a date (capped at the longest delay)', async () => {
    handlers = [
      status(503, { 'retry-after': '3' }),
      status(502, { 'retry-after': 'Thu, 01 Jan 2026 00:00:07 GMT' }),
      status(504, { 'retry-after': '3600' }),
      ok,
    ];
    await link({ maxDelayMs: 20_000 }).sync(SYNC);
    assert.deepEqual(sleeps, [3000, 7000, 20_000]);
  });

  test('a 4xx (or 500) is never retried', async () => {
    for (const code of [400, 401, 404, 409, 429, 500]) {
      requests = 0;
      handlers = [status(code), ok];
      await assert.rejects(link().sync(SYNC), (e) => e instanceof LinkHttpError && e.status === code);
      assert.equal(requests, 1, String(code));
    }
    assert.deepEqual(sleeps, []);
  });

  test('retries are bounded: the last failure is reported after 1 + retries attempts', async () => {
    handlers = [status(503)];
    await assert.rejects(
      link({ retries: 3, random: () => 0.999, baseDelayMs: 100, maxDelayMs: 250 }).sync(SYNC),
      (e) => e instanceof LinkHttpError && e.status === 503,
    );
    assert.equal(requests, 4);
    assert.deepEqual(sleeps, [99, 199, 249]);
  });

  test('file answers are not retried', async () => {
    handlers = [status(503), ok];
    await assert.rejects(
      link().fileResult?.('f1', { error: { notFound: true, message: 'x' } }) ?? Promise.resolve(),
      LinkHttpError,
    );
    assert.equal(requests, 1);
  });

  test('one keep-alive connection carries successive calls', async () => {
    const l = link();
    await l.sync(SYNC);
    await l.sync(SYNC);
    await l.sync(SYNC);
    assert.equal(requests, 3);
    assert.equal(connections, 1);
  });

  test('a request with no answer times out (overall), and is retried as a network error', async () => {
    handlers = [(_n, _req, res) => hung.push(res), ok];
    const held = hung.length;
    assert.deepEqual(await link({ requestTimeoutMs: 300 }).sync(SYNC), { nodes: [] });
    // The first request was held unanswered until the link gave up on it, then retried once.
    assert.equal(hung.length, held + 1);
    assert.equal(requests, 2);
    assert.equal(sleeps.length, 1);
    handlers = [(_n, _req, res) => hung.push(res)];
    await assert.rejects(link({ requestTimeoutMs: 200, retries: 0 }).sync(SYNC), /timed out after 200 ms/);
  });

  test('a server that accepts TCP but never completes TLS hits the connect timeout', async () => {
    const sockets: Socket[] = [];
    const silent: TcpServer = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const addr = silent.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    try {
      const l = httpsAgentLink(`https://127.0.0.1:${String(port)}`, 'tok', tls.caCertPem, {
        connectTimeoutMs: 200,
        requestTimeoutMs: 60_000,
        retries: 1,
        sleep: (ms) => {
          sleeps.push(ms);
          return Promise.resolve();
        },
      });
      await assert.rejects(l.sync(SYNC), /no connection within 200 ms/);
      assert.equal(sockets.length, 2);
      assert.equal(sleeps.length, 1);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
