import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { download, DownloadError, redactUrl } from './download.ts';

describe('download (blobUri imports)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-download-'));
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/ok') res.end('hello world');
    else if (path === '/declared-big') res.writeHead(200, { 'content-length': '1000' }).end('x'.repeat(1000));
    else if (path === '/chunked-big') {
      res.writeHead(200);
      res.write('x'.repeat(600));
      res.end('x'.repeat(600));
    } else if (path === '/stall') {
      res.writeHead(200);
      res.write('partial');
      held.push(res); // never ends: only an abort or the idle timeout stops the client
    } else res.writeHead(404).end();
  });
  let origin = '';
  const limits = { connectTimeoutMs: 10_000, idleTimeoutMs: 10_000, maxBytes: 800 };
  const reason = (r: DownloadError['reason']) => (e: unknown) =>
    e instanceof DownloadError && e.reason === r && !e.message.includes('sig=secret');

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    server.close();
  });

  test('writes the body and counts its bytes', async () => {
    const file = join(dir, 'ok');
    assert.equal(await download(`${origin}/ok`, file, limits), 11);
    assert.equal(readFileSync(file, 'utf8'), 'hello world');
  });

  test('refuses a body over the cap, declared or streamed, and a failed status, never echoing the query', async () => {
    await assert.rejects(
      download(`${origin}/declared-big?sig=secret`, join(dir, 'a'), limits),
      reason('too-large'),
    );
    await assert.rejects(
      download(`${origin}/chunked-big?sig=secret`, join(dir, 'b'), limits),
      reason('too-large'),
    );
    await assert.rejects(download(`${origin}/missing?sig=secret`, join(dir, 'c'), limits), reason('status'));
    assert.equal(
      redactUrl('https://acct.blob.core.windows.net/c/b.vhd?sv=1&sig=x'),
      'https://acct.blob.core.windows.net/c/b.vhd',
    );
  });

  test('an abort signal stops a download that stalls', async () => {
    const controller = new AbortController();
    const pending = download(`${origin}/stall`, join(dir, 'd'), limits, controller.signal);
    while (held.length === 0) await new Promise((r) => setImmediate(r));
    controller.abort();
    await assert.rejects(pending, reason('aborted'));
  });

  test('a stalled body ends with the idle timeout', async () => {
    const quick = { ...limits, idleTimeoutMs: 20 };
    await assert.rejects(download(`${origin}/stall`, join(dir, 'e'), quick), reason('timeout'));
  });
});
