import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SpecValidator } from './validator.ts';

const specs = new SpecValidator(fileURLToPath(new URL('../../../specs', import.meta.url)));
const BATCH_MGMT = 'batch/resource-manager/Microsoft.Batch/stable/2023-11-01/BatchManagement.json';
const ROLES =
  'authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json';
const RESOURCES = 'resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json';
const DATA_PLANE = 'batch/data-plane/Microsoft.Batch/stable/2022-10-01.16.0/BatchService.json';
const GALLERY = 'compute/resource-manager/Microsoft.Compute/GalleryRP/stable/2022-03-03/gallery.json';

test('Batch account create: missing location, bad enum (case-insensitive), valid', () => {
  assert.deepEqual(
    specs.validate(BATCH_MGMT, 'BatchAccountCreateParameters', { properties: {} })?.path,
    'location',
  );
  const bad = specs.validate(BATCH_MGMT, 'BatchAccountCreateParameters', {
    location: 'westeurope',
    properties: { poolAllocationMode: 'Nope' },
  });
  assert.ok(bad);
  assert.equal(bad.kind, 'invalid');
  assert.equal(bad.path, 'properties.poolAllocationMode');
  assert.match(bad.message, /BatchService/);
  assert.equal(
    specs.validate(BATCH_MGMT, 'BatchAccountCreateParameters', {
      location: 'westeurope',
      properties: { poolAllocationMode: 'batchservice' },
    }),
    undefined,
  );
});

test('role assignment missing principalId names the nested path', () => {
  const v = specs.validate(ROLES, 'RoleAssignmentCreateParameters', {
    properties: { roleDefinitionId: '/x' },
  });
  assert.ok(v);
  assert.equal(v.kind, 'missing');
  assert.equal(v.path, 'properties.principalId');
  assert.equal(v.property, 'principalId');
});

test('resource group requires location; tags must be strings', () => {
  assert.equal(specs.validate(RESOURCES, 'ResourceGroup', {})?.path, 'location');
  assert.equal(specs.validate(RESOURCES, 'ResourceGroup', { location: 'x', tags: { a: 1 } })?.path, 'tags.a');
});

test('data plane pool add: missing vmSize, wrong type', () => {
  assert.equal(specs.validate(DATA_PLANE, 'PoolAddParameter', { id: 'p' })?.path, 'vmSize');
  const v = specs.validate(DATA_PLANE, 'PoolAddParameter', {
    id: 'p',
    vmSize: 'standard_a1',
    targetDedicatedNodes: 'x',
  });
  assert.ok(v);
  assert.equal(v.path, 'targetDedicatedNodes');
  assert.equal(v.kind, 'invalid');
});

test('gallery image version resolves references into other files', () => {
  const v = specs.validate(GALLERY, 'GalleryImageVersion', { properties: { storageProfile: {} } });
  assert.ok(v);
  assert.equal(v.path, 'location');
  assert.equal(
    specs.validate(GALLERY, 'GalleryImageVersion', {
      location: 'westeurope',
      properties: { storageProfile: {} },
    }),
    undefined,
  );
});
