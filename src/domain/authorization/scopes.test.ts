import assert from 'node:assert/strict';
import { test } from 'node:test';
import { actionMatches, findBuiltInRole, roleDefinitionGuid, roleGrants } from './roles.ts';
import { scopeChain, scopeContains } from './scopes.ts';

test('scope chain walks from the root down to the resource', () => {
  assert.deepEqual(
    scopeChain('/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a/'),
    [
      '/',
      '/subscriptions/s1',
      '/subscriptions/s1/resourceGroups/rg',
      '/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a',
    ],
  );
  assert.deepEqual(
    scopeChain(
      '/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0',
    ),
    [
      '/',
      '/subscriptions/s1',
      '/subscriptions/s1/resourceGroups/rg',
      '/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/galleries/g',
      '/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d',
      '/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0',
    ],
  );
  assert.deepEqual(scopeChain('/'), ['/']);
});

test('scope containment ignores case and does not match name prefixes', () => {
  assert.equal(scopeContains('/subscriptions/S1', '/subscriptions/s1/resourcegroups/x'), true);
  assert.equal(
    scopeContains('/subscriptions/s1/resourceGroups/rg', '/subscriptions/s1/resourceGroups/rg2'),
    false,
  );
  assert.equal(scopeContains('/', '/subscriptions/s1'), true);
});

test('action wildcards and notActions follow Azure semantics', () => {
  assert.equal(actionMatches('*/read', 'Microsoft.Batch/batchAccounts/read'), true);
  assert.equal(actionMatches('*/read', 'Microsoft.Batch/batchAccounts/write'), false);
  assert.equal(
    actionMatches('Microsoft.Authorization/*/Write', 'microsoft.authorization/roleassignments/write'),
    true,
  );
  const contributor = findBuiltInRole('b24988ac-6180-42a0-ab88-20f7382dd24c');
  assert.ok(contributor);
  assert.equal(roleGrants(contributor, 'Microsoft.Batch/batchAccounts/write'), true);
  assert.equal(roleGrants(contributor, 'Microsoft.Authorization/roleAssignments/write'), false);
  const reader = findBuiltInRole('acdd72a7-3385-48ef-bd42-f606fba81ae7');
  assert.ok(reader);
  assert.equal(roleGrants(reader, 'Microsoft.Resources/subscriptions/resourceGroups/read'), true);
  assert.equal(roleGrants(reader, 'Microsoft.Resources/subscriptions/resourceGroups/write'), false);
});

test('role definition ids are accepted in tenant and subscription form', () => {
  const guid = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
  assert.equal(roleDefinitionGuid(`/providers/Microsoft.Authorization/roleDefinitions/${guid}`), guid);
  assert.equal(
    roleDefinitionGuid(
      `/subscriptions/s/providers/microsoft.authorization/roleDefinitions/${guid.toUpperCase()}`,
    ),
    guid,
  );
  assert.equal(
    roleDefinitionGuid('/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/nope'),
    undefined,
  );
});
