import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SpecValidator } from './validator.ts';

// Real swagger files from specs/specification/.
const specs = new SpecValidator(fileURLToPath(new URL('../../../specs', import.meta.url)));
const BATCH_MGMT = 'batch/resource-manager/Microsoft.Batch/stable/2023-11-01/BatchManagement.json';
const ROLES =
  'authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json';
const RESOURCES = 'resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json';
const DATA_PLANE = 'batch/data-plane/Microsoft.Batch/stable/2022-10-01.16.0/BatchService.json';
const GALLERY = 'compute/resource-manager/Microsoft.Compute/GalleryRP/stable/2022-03-03/gallery.json';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `t${i}`, commandLine: 'echo' }));

describe('Batch management: BatchAccountCreateParameters (2023-11-01)', () => {
  const validate = (body: unknown) => specs.validate(BATCH_MGMT, 'BatchAccountCreateParameters', body);

  test('missing location', () => {
    assert.deepEqual(validate({ properties: {} }), {
      kind: 'missing',
      path: 'location',
      property: 'location',
      message: "The property 'location' is required.",
    });
  });

  test('poolAllocationMode outside the closed enum is invalid and lists the values', () => {
    assert.deepEqual(validate({ location: 'westeurope', properties: { poolAllocationMode: 'Nope' } }), {
      kind: 'invalid',
      path: 'properties.poolAllocationMode',
      property: 'poolAllocationMode',
      message: "The value of 'properties.poolAllocationMode' must be one of BatchService, UserSubscription.",
    });
  });

  test('valid bodies, closed enums compared case-insensitively', () => {
    assert.equal(validate({ location: 'westeurope' }), undefined);
    const body = {
      location: 'westeurope',
      tags: { env: 'test' },
      identity: { type: 'SystemAssigned' },
      properties: {
        poolAllocationMode: 'batchservice',
        autoStorage: { storageAccountId: '/subscriptions/x' },
      },
    };
    assert.equal(validate(body), undefined);
    assert.equal(validate({ ...body, properties: { poolAllocationMode: 'USERSUBSCRIPTION' } }), undefined);
  });

  test('nested required, tag values, unknown properties', () => {
    assert.equal(
      validate({ location: 'w', properties: { autoStorage: {} } })?.path,
      'properties.autoStorage.storageAccountId',
    );
    assert.equal(validate({ location: 'w', tags: { a: 1 } })?.path, 'tags.a');
    assert.equal(
      validate({ location: 'w', someFutureField: { x: 1 }, properties: { newer: true } }),
      undefined,
    );
  });

  test('the body itself must be an object', () => {
    assert.deepEqual(validate([]), {
      kind: 'invalid',
      path: '',
      property: '',
      message: 'The request body must be of type object.',
    });
  });
});

describe('Authorization: RoleAssignmentCreateParameters (2022-04-01)', () => {
  const validate = (body: unknown) => specs.validate(ROLES, 'RoleAssignmentCreateParameters', body);

  test('missing properties.principalId names the nested path', () => {
    assert.deepEqual(validate({ properties: { roleDefinitionId: '/x' } }), {
      kind: 'missing',
      path: 'properties.principalId',
      property: 'principalId',
      message: "The property 'properties.principalId' is required.",
    });
  });

  test('modelAsString enums accept any string; read-only properties accept anything', () => {
    const properties = { roleDefinitionId: '/x', principalId: 'p', principalType: 'SomethingNew', scope: 42 };
    assert.equal(validate({ properties }), undefined);
  });

  test('a required property sent as null counts as missing', () => {
    assert.equal(validate({ properties: { roleDefinitionId: '/x', principalId: null } })?.kind, 'missing');
  });
});

describe('Resources: ResourceGroup and GenericResource (2021-04-01)', () => {
  test('resource group requires location (also when null); nulls elsewhere are absent', () => {
    assert.equal(specs.validate(RESOURCES, 'ResourceGroup', {})?.path, 'location');
    assert.equal(specs.validate(RESOURCES, 'ResourceGroup', { location: null })?.kind, 'missing');
    assert.equal(
      specs.validate(RESOURCES, 'ResourceGroup', { location: 'w', tags: null, managedBy: null }),
      undefined,
    );
  });

  test('read-only fields echoed from a GET are accepted', () => {
    const body = { id: 5, name: 'rg', type: 'x', location: 'w', properties: { provisioningState: 7 } };
    assert.equal(specs.validate(RESOURCES, 'ResourceGroup', body), undefined);
  });

  test('map keys that contain dots are quoted in the path', () => {
    const v = specs.validate(RESOURCES, 'ResourceGroup', { location: 'w', tags: { 'a.b': 1 } });
    assert.equal(v?.path, 'tags["a.b"]');
    assert.equal(v.property, 'a.b');
  });

  test('patterns are enforced', () => {
    const v = specs.validate(RESOURCES, 'GenericResource', { location: 'w', kind: 'bad kind!' });
    assert.equal(v?.kind, 'invalid');
    assert.equal(v.path, 'kind');
    assert.match(v.message, /must match the pattern/);
    assert.equal(
      specs.validate(RESOURCES, 'GenericResource', { location: 'w', kind: 'good_kind' }),
      undefined,
    );
  });
});

describe('Batch data plane: PoolAddParameter, TaskAddCollectionParameter (2022-10-01.16.0)', () => {
  const pool = (extra: Record<string, unknown>) =>
    specs.validate(DATA_PLANE, 'PoolAddParameter', { id: 'p', vmSize: 'standard_d2s_v3', ...extra });

  test('missing vmSize', () => {
    assert.deepEqual(specs.validate(DATA_PLANE, 'PoolAddParameter', { id: 'p' }), {
      kind: 'missing',
      path: 'vmSize',
      property: 'vmSize',
      message: "The property 'vmSize' is required.",
    });
  });

  test('integers: strings and fractions are invalid', () => {
    assert.deepEqual(pool({ targetDedicatedNodes: 'x' }), {
      kind: 'invalid',
      path: 'targetDedicatedNodes',
      property: 'targetDedicatedNodes',
      message: "The value of 'targetDedicatedNodes' must be of type integer.",
    });
    assert.equal(pool({ targetDedicatedNodes: 1.5 })?.path, 'targetDedicatedNodes');
    assert.equal(pool({ targetDedicatedNodes: 2, enableAutoScale: false }), undefined);
    assert.equal(
      pool({ enableAutoScale: 'yes' })?.message,
      "The value of 'enableAutoScale' must be of type boolean.",
    );
  });

  test('a missing property is preferred over other errors', () => {
    const v = pool({ targetDedicatedNodes: 'x', virtualMachineConfiguration: { imageReference: {} } });
    assert.equal(v?.kind, 'missing');
    assert.equal(v.path, 'virtualMachineConfiguration.nodeAgentSKUId');
  });

  test('closed enums of the data plane', () => {
    assert.equal(pool({ taskSchedulingPolicy: { nodeFillType: 'Pack' } }), undefined);
    const v = pool({ taskSchedulingPolicy: { nodeFillType: 'Packed' } });
    assert.equal(v?.message, "The value of 'taskSchedulingPolicy.nodeFillType' must be one of spread, pack.");
  });

  test('array items: paths carry the index', () => {
    const v = pool({ metadata: [{ name: 'a', value: 'b' }, { name: 'c' }] });
    assert.equal(v?.path, 'metadata[1].value');
    assert.equal(pool({ metadata: [{ name: 'a', value: 'b' }, null] })?.path, 'metadata[1]');
  });

  test('task collections: maxItems 100 and per-task required fields', () => {
    assert.equal(specs.validate(DATA_PLANE, 'TaskAddCollectionParameter', { value: tasks(100) }), undefined);
    assert.deepEqual(specs.validate(DATA_PLANE, 'TaskAddCollectionParameter', { value: tasks(101) }), {
      kind: 'invalid',
      path: 'value',
      property: 'value',
      message: "The value of 'value' must contain at most 100 items.",
    });
    const value = [...tasks(3), { commandLine: 'echo' }];
    const v = specs.validate(DATA_PLANE, 'TaskAddCollectionParameter', { value });
    assert.equal(v?.path, 'value[3].id');
    assert.equal(v.property, 'id');
  });
});

describe('Compute gallery: GalleryImageVersion (2022-03-03), refs into ../../../common-types', () => {
  const validate = (body: unknown) => specs.validate(GALLERY, 'GalleryImageVersion', body);

  test('location is required by Resource in compute common-types/v1/common.json', () => {
    assert.equal(validate({ properties: { storageProfile: {} } })?.path, 'location');
    assert.equal(validate({ location: 'westeurope', properties: { storageProfile: {} } }), undefined);
  });

  test('required storageProfile, enums, read-only provisioningState', () => {
    assert.equal(validate({ location: 'w', properties: {} })?.path, 'properties.storageProfile');
    const disk = (hostCaching: string) => ({
      location: 'w',
      properties: { provisioningState: 42, storageProfile: { osDiskImage: { hostCaching } } },
    });
    assert.equal(validate(disk('readwrite')), undefined);
    assert.equal(validate(disk('Sometimes'))?.path, 'properties.storageProfile.osDiskImage.hostCaching');
  });
});

describe('lookups', () => {
  test('an unknown definition or spec file is reported as unknown-type', () => {
    assert.equal(specs.validate(RESOURCES, 'NoSuchDefinition', {})?.kind, 'unknown-type');
    assert.equal(specs.validate('nope/none.json', 'X', {})?.kind, 'unknown-type');
  });

  test('spec files outside specs/specification are refused', () => {
    assert.throws(() => specs.validate('../../package.json', 'X', {}), /outside/);
  });

  test('compiled validators are reused', () => {
    const own = new SpecValidator(fileURLToPath(new URL('../../../specs', import.meta.url)));
    const ajv = (own as unknown as { ajv: { compile: (...args: unknown[]) => unknown } }).ajv;
    const compile = ajv.compile.bind(ajv);
    let compiles = 0;
    ajv.compile = (...args: unknown[]) => {
      compiles++;
      return compile(...args);
    };
    for (let i = 0; i < 200; i++) own.validate(DATA_PLANE, 'PoolAddParameter', { id: 'p', vmSize: 'v' });
    assert.equal(compiles, 1);
  });
});

describe('limits the Batch swagger states only in prose', () => {
  test('a display name over "a maximum length of 1024" is invalid; 1024 is fine', () => {
    const task = (displayName: string) => ({ id: 't', commandLine: 'true', displayName });
    assert.equal(specs.validate(DATA_PLANE, 'TaskAddParameter', task('x'.repeat(1024))), undefined);
    assert.deepEqual(specs.validate(DATA_PLANE, 'TaskAddParameter', task('x'.repeat(1025))), {
      kind: 'invalid',
      path: 'displayName',
      property: 'displayName',
      message: "The value of 'displayName' must be at most 1024 characters long.",
    });
  });
});
