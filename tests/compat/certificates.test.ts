import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch } from './pool-image.ts';

const notImplemented = (e: { statusCode?: number; body?: { code?: string; message?: unknown } }) => {
  return e.statusCode === 501 && e.body?.code === 'NotImplemented' && e.body.message !== undefined;
};

/** Certificates are not implemented: their root paths answer in the Batch envelope @azure/batch parses. */
describe('certificates', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    batch = sharedKeyBatch(server);
  });
  after(async () => {
    await server.stop();
  });

  test('get and list are 501 NotImplemented in the Batch shape', async () => {
    await assert.rejects(batch.certificate.get('sha1', 'abc'), notImplemented);
    await assert.rejects(batch.certificate.list(), notImplemented);
    await assert.rejects(batch.certificate.deleteMethod('sha1', 'abc'), notImplemented);
  });
});
