import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ResponseChecker } from './responses.ts';

const checker = new ResponseChecker(fileURLToPath(new URL('../../../specs', import.meta.url)));
const POOLS = '/batch/acct/pools?api-version=2024-02-01.19.0';

test('a body that breaks the response schema is named by operation, path and the finding', () => {
  const v = checker.check('GET', POOLS, 200, { value: [{ id: 5 }] });
  assert.equal(v?.operation, 'Pool_List');
  assert.equal(v.path, '/batch/acct/pools');
  assert.match(v.message, /value\[0\]\.id.*string/);
  assert.match(v.specFile, /2024-02-01\.19\.0\/BatchService\.json$/);
});

test('read-only properties are checked in responses (they are what the server writes)', () => {
  const v = checker.check('GET', '/pools/p?api-version=2024-02-01.19.0', 200, { id: 'p', state: 'bogus' });
  assert.equal(v?.operation, 'Pool_Get');
  assert.match(v.message, /state/);
});

test('a status the operation does not list is a violation; errors are checked against default', () => {
  assert.match(checker.check('GET', POOLS, 201, { value: [] })?.message ?? '', /status 201/);
  const error = checker.check('GET', '/pools/p?api-version=2024-02-01.19.0', 404, {
    code: 'X',
    message: 'x',
  });
  assert.match(error?.message ?? '', /message/);
  const good = { code: 'PoolNotFound', message: { lang: 'en-US', value: 'gone' } };
  assert.equal(checker.check('GET', '/pools/p?api-version=2024-02-01.19.0', 404, good), undefined);
});

test('matching bodies, unknown paths and generic by-id templates pass', () => {
  assert.equal(checker.check('GET', POOLS, 200, { value: [{ id: 'p' }] }), undefined);
  assert.equal(checker.check('GET', '/health', 200, { status: 'ok' }), undefined);
  // Only `/{resourceId}` and `/{roleId}` would match this path: those are not taken as its operation.
  const path =
    '/subscriptions/s/providers/Microsoft.Compute/locations/x/publishers/p/artifacttypes/vmimage/offers/o/skus';
  assert.equal(checker.check('GET', `${path}?api-version=2024-03-01`, 200, []), undefined);
});

test('ARM operations are found by api-version; an older or unknown version takes the nearest file', () => {
  const rg = '/subscriptions/s/resourcegroups/rg';
  assert.match(
    checker.check('GET', `${rg}?api-version=2021-04-01`, 200, { id: 'x' })?.message ?? '',
    /location/,
  );
  assert.equal(
    checker.check('GET', `${rg}?api-version=2021-04-01`, 200, { location: 'westeurope' }),
    undefined,
  );
  assert.equal(
    checker.check('GET', `${rg}?api-version=2099-01-01`, 200, { id: 'x' })?.specFile.includes('2024-03-01'),
    true,
  );
});

test("a provider's path with no operation in its own spec is not taken for Microsoft.Resources' generic one", () => {
  const path =
    '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a/operationResults/delete';
  assert.equal(checker.check('GET', `${path}?api-version=2023-11-01`, 202, undefined), undefined);
});
