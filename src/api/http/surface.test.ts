import assert from 'node:assert/strict';
import { test } from 'node:test';
import { surfaceOf } from './surface.ts';

test('root Batch collections, also in OData key form, are the Batch surface; others ARM', () => {
  assert.equal(surfaceOf('/certificates'), 'batch');
  assert.equal(surfaceOf('/certificates(thumbprintAlgorithm=sha1,thumbprint=abc)?api-version=x'), 'batch');
  assert.equal(surfaceOf('/pools/p/nodes'), 'batch');
  assert.equal(surfaceOf('/subscriptions(x)'), 'arm');
  assert.equal(surfaceOf('/subscriptions'), 'arm');
});
