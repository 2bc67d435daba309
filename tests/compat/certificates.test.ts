import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { simulatedBatchServer } from './pool-image.ts';

const notImplemented = (e: { statusCode?: number; body?: { code?: string; message?: unknown } }) => {
  return e.statusCode === 501 && e.body?.code === 'NotImplemented' && e.body.message !== undefined;
};

/** Certificates are not implemented: their root paths answer in the Batch envelope @azure/batch parses. */
describe('certificates', () => {
  const env = simulatedBatchServer();

  test('get and list are 501 NotImplemented in the Batch shape', async () => {
    await assert.rejects(env.batch.certificate.get('sha1', 'abc'), notImplemented);
    await assert.rejects(env.batch.certificate.list(), notImplemented);
    await assert.rejects(env.batch.certificate.deleteMethod('sha1', 'abc'), notImplemented);
  });
});
