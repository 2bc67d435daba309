import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer, type TestServer } from './harness.ts';

/** `GET /agent/v1/blobs/{region}/{digest}`: what host agents without a shared file system pull images from. */
describe('agent blob downloads', () => {
  let server: TestServer;
  let token: string;
  let digest: string;
  let bytes: Buffer;

  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    token = readFileSync(join(server.dataDir, 'agent-token'), 'utf8').trim();
    // A blob of the tiny base image the server builds at start.
    const root = join(server.dataDir, 'regions', 'westeurope', 'blobs', 'sha256');
    const prefix = readdirSync(root)[0] ?? '';
    const hex = readdirSync(join(root, prefix))[0] ?? '';
    digest = `sha256:${hex}`;
    bytes = readFileSync(join(root, prefix, hex));
  });
  after(async () => {
    await server.stop();
  });

  const get = (path: string, auth = `Bearer ${token}`) =>
    fetch(new URL(path, server.connection.armEndpoint), { headers: { authorization: auth } });

  test('an agent gets the bytes of a blob, which match its digest', async () => {
    const res = await get(`/agent/v1/blobs/westeurope/${digest}`);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(`sha256:${createHash('sha256').update(body).digest('hex')}`, digest);
    assert.equal(body.length, bytes.length);
  });

  test('without the agent token, for an unknown blob or region, or a path that is no digest: refused', async () => {
    assert.equal((await get(`/agent/v1/blobs/westeurope/${digest}`, 'Bearer wrong')).status, 401);
    assert.equal((await get(`/agent/v1/blobs/westeurope/sha256:${'0'.repeat(64)}`)).status, 404);
    assert.equal((await get(`/agent/v1/blobs/nowhere/${digest}`)).status, 404);
    assert.equal((await get('/agent/v1/blobs/westeurope/..%2f..%2fagent-token')).status, 404);
  });
});
