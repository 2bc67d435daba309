/**
 * The negative suite on ARM (ADR 0032): bad bodies generated from the resource-manager swagger files
 * (Microsoft.Resources, Microsoft.Authorization, Microsoft.Batch management, Microsoft.Compute) for every
 * implemented PUT, PATCH and POST with a JSON body, plus bad If-Match values, against one server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { credentialFor, startServer, type TestServer } from '../compat/harness.ts';
import { assertAllRefused, caseNames, casesOf, stable, type FuzzOperation, type Reply } from './cases.ts';

const SEED = 20261205;
/** The swagger files the server checks ARM bodies against (specs/specification/…). */
const ARM_SPECS = {
  resources: 'resources/resource-manager/Microsoft.Resources/stable/2021-04-01/resources.json',
  roleAssignments:
    'authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json',
  batch: 'batch/resource-manager/Microsoft.Batch/stable/2023-11-01/BatchManagement.json',
};
const RG = 'base-rg';
const GALLERY = 'compute/resource-manager/Microsoft.Compute/GalleryRP/stable/2022-03-03/gallery.json';
const DISK = 'compute/resource-manager/Microsoft.Compute/DiskRP/stable/2022-07-02/disk.json';
const VM = 'compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2022-11-01/virtualMachine.json';
const READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
const POOL_PROPERTIES = {
  vmSize: 'standard_a1_v2',
  deploymentConfiguration: {
    virtualMachineConfiguration: {
      imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
      nodeAgentSkuId: 'batch.node.lazurite tiny',
    },
  },
  scaleSettings: { fixedScale: { targetDedicatedNodes: 0, resizeTimeout: 'PT15M' } },
  taskSlotsPerNode: 1,
  metadata: [{ name: 'a', value: 'b' }],
};
/** A role-assignment name for case n: a GUID, as ARM wants, recognisable by its `f2…` prefix. */
const guid = (n: number) =>
  n < 0 ? 'a0000000-0000-4000-8000-000000000001' : `f2000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function operations(sub: string): FuzzOperation[] {
  const rg = `${sub}/resourceGroups/${RG}`;
  const batch = `${rg}/providers/Microsoft.Batch/batchAccounts`;
  const compute = `${rg}/providers/Microsoft.Compute`;
  const v = (file: string) => `api-version=${file.split('/').at(-2) ?? ''}`;
  const name = (n: number) => (n < 0 ? 'okbaseline' : `fz${String(n)}`);
  return [
    {
      name: 'ResourceGroups_CreateOrUpdate',
      method: 'PUT',
      specFile: ARM_SPECS.resources,
      definition: 'ResourceGroup',
      path: (n) => `${sub}/resourcegroups/${name(n)}?${v(ARM_SPECS.resources)}`,
      baseline: { location: 'westeurope', tags: { a: 'b' } },
      stored: { list: `${sub}/resourcegroups?${v(ARM_SPECS.resources)}` },
    },
    {
      name: 'ResourceGroups_Update',
      method: 'PATCH',
      specFile: ARM_SPECS.resources,
      definition: 'ResourceGroupPatchable',
      path: () => `${rg}?${v(ARM_SPECS.resources)}`,
      baseline: { tags: { a: 'b' } },
      stored: { unchanged: `${rg}?${v(ARM_SPECS.resources)}` },
    },
    {
      name: 'RoleAssignments_Create',
      method: 'PUT',
      specFile: ARM_SPECS.roleAssignments,
      definition: 'RoleAssignmentCreateParameters',
      path: (n) =>
        `${rg}/providers/Microsoft.Authorization/roleAssignments/${guid(n)}?api-version=2022-04-01`,
      baseline: {
        properties: {
          roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
          principalId: '6c6f6361-6c00-4a7a-8000-0000000000b1',
          principalType: 'ServicePrincipal',
        },
      },
      stored: { list: `${rg}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01` },
    },
    {
      name: 'BatchAccount_Create',
      method: 'PUT',
      specFile: ARM_SPECS.batch,
      definition: 'BatchAccountCreateParameters',
      path: (n) => `${batch}/${name(n)}?${v(ARM_SPECS.batch)}`,
      baseline: {
        location: 'westeurope',
        tags: { a: 'b' },
        properties: { poolAllocationMode: 'BatchService', publicNetworkAccess: 'Enabled' },
      },
      stored: { list: `${batch}?${v(ARM_SPECS.batch)}` },
    },
    {
      name: 'BatchAccount_Update',
      method: 'PATCH',
      specFile: ARM_SPECS.batch,
      definition: 'BatchAccountUpdateParameters',
      path: () => `${batch}/baseacct?${v(ARM_SPECS.batch)}`,
      baseline: { tags: { a: 'b' } },
      stored: { unchanged: `${batch}/baseacct?${v(ARM_SPECS.batch)}` },
      etag: true,
    },
    {
      name: 'Pool_Create',
      method: 'PUT',
      specFile: ARM_SPECS.batch,
      definition: 'Pool',
      path: (n) => `${batch}/baseacct/pools/${name(n)}?${v(ARM_SPECS.batch)}`,
      baseline: { properties: POOL_PROPERTIES },
      stored: { list: `${batch}/baseacct/pools?${v(ARM_SPECS.batch)}` },
      etag: true,
    },
    {
      name: 'Pool_Update',
      method: 'PATCH',
      specFile: ARM_SPECS.batch,
      definition: 'Pool',
      path: () => `${batch}/baseacct/pools/armbase?${v(ARM_SPECS.batch)}`,
      baseline: { properties: { metadata: [{ name: 'a', value: 'b' }] } },
      stored: { unchanged: `${batch}/baseacct/pools/armbase?${v(ARM_SPECS.batch)}` },
      etag: true,
    },
    {
      name: 'Application_Create',
      method: 'PUT',
      specFile: ARM_SPECS.batch,
      definition: 'Application',
      path: (n) => `${batch}/baseacct/applications/${name(n)}?${v(ARM_SPECS.batch)}`,
      baseline: { properties: { displayName: 'Fuzz', allowUpdates: true } },
      stored: { list: `${batch}/baseacct/applications?${v(ARM_SPECS.batch)}` },
    },
    {
      name: 'Application_Update',
      method: 'PATCH',
      specFile: ARM_SPECS.batch,
      definition: 'Application',
      path: () => `${batch}/baseacct/applications/appbase?${v(ARM_SPECS.batch)}`,
      baseline: { properties: { displayName: 'Base', allowUpdates: false } },
      stored: { unchanged: `${batch}/baseacct/applications/appbase?${v(ARM_SPECS.batch)}` },
    },
    {
      name: 'Galleries_CreateOrUpdate',
      method: 'PUT',
      specFile: GALLERY,
      definition: 'Gallery',
      path: (n) => `${compute}/galleries/${name(n)}?${v(GALLERY)}`,
      baseline: { location: 'westeurope', tags: { a: 'b' }, properties: { description: 'fuzz' } },
      stored: { list: `${compute}/galleries?${v(GALLERY)}` },
      etag: true,
    },
    {
      name: 'GalleryImages_CreateOrUpdate',
      method: 'PUT',
      specFile: GALLERY,
      definition: 'GalleryImage',
      path: (n) => `${compute}/galleries/basegallery/images/${name(n)}?${v(GALLERY)}`,
      baseline: {
        location: 'westeurope',
        properties: {
          osType: 'Linux',
          osState: 'Generalized',
          hyperVGeneration: 'V2',
          identifier: { publisher: 'fz', offer: 'fz', sku: 'fz' },
          description: 'fuzz',
        },
      },
      stored: { list: `${compute}/galleries/basegallery/images?${v(GALLERY)}` },
    },
    {
      name: 'Disks_CreateOrUpdate',
      method: 'PUT',
      specFile: DISK,
      definition: 'Disk',
      path: (n) => `${compute}/disks/${name(n)}?${v(DISK)}`,
      baseline: {
        location: 'westeurope',
        sku: { name: 'Standard_LRS' },
        properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 },
      },
      stored: { list: `${compute}/disks?${v(DISK)}` },
      etag: true,
    },
    {
      name: 'VirtualMachines_CreateOrUpdate',
      method: 'PUT',
      specFile: VM,
      definition: 'VirtualMachine',
      path: (n) => `${compute}/virtualMachines/${name(n)}?${v(VM)}`,
      baseline: {
        location: 'westeurope',
        properties: {
          hardwareProfile: { vmSize: 'Standard_D2s_v3' },
          storageProfile: {
            imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox', version: 'latest' },
            osDisk: { createOption: 'FromImage', caching: 'ReadWrite' },
          },
          osProfile: { computerName: 'fuzz', adminUsername: 'azureuser' },
        },
      },
      stored: { list: `${compute}/virtualMachines?${v(VM)}` },
    },
  ];
}

describe('negative suite: ARM (bad bodies from the resource-manager swagger files)', () => {
  let server: TestServer;
  let base: string;
  let token: string;
  let OPERATIONS: FuzzOperation[];

  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
    } satisfies Reply;
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await send(method, path, body);
    assert.ok(r.status < 300, `${method} ${path} → ${String(r.status)} ${JSON.stringify(r.body ?? null)}`);
    return r;
  };

  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    const c = server.connection;
    base = c.armEndpoint;
    token = (await credentialFor(c).getToken('https://management.azure.com/.default')).token;
    const sub = `/subscriptions/${c.subscriptionId}`;
    OPERATIONS = operations(sub);
    const rg = `${sub}/resourceGroups/${RG}`;
    await ok('PUT', `${rg}?api-version=2021-04-01`, { location: 'westeurope' });
    const accounts = `${rg}/providers/Microsoft.Batch/batchAccounts`;
    await ok('PUT', `${accounts}/baseacct?api-version=2023-11-01`, { location: 'westeurope' });
    await ok('PUT', `${accounts}/baseacct/pools/armbase?api-version=2023-11-01`, {
      properties: POOL_PROPERTIES,
    });
    await ok('PUT', `${accounts}/baseacct/applications/appbase?api-version=2023-11-01`, {
      properties: { displayName: 'Base' },
    });
    await ok('PUT', `${rg}/providers/Microsoft.Compute/galleries/basegallery?api-version=2022-03-03`, {
      location: 'westeurope',
    });
  });
  after(async () => {
    await server.stop();
  });

  test('every baseline body is accepted (the generator starts from valid requests)', async () => {
    for (const o of OPERATIONS) await ok(o.method, o.path(-1), o.baseline);
  });

  test('every generated bad request → 4xx in the ARM envelope, and nothing is stored', async () => {
    const cases = casesOf(OPERATIONS, SEED);
    assert.ok(cases.length >= 250, `only ${String(cases.length)} cases`);
    const before = new Map<string, unknown>();
    for (const o of OPERATIONS)
      if ('unchanged' in o.stored) before.set(o.name, stable((await ok('GET', o.stored.unchanged)).body));
    await assertAllRefused('arm', cases, (c) => send(c.operation.method, c.path, c.body, c.headers));
    for (const o of OPERATIONS) {
      if ('list' in o.stored)
        assert.deepEqual(caseNames((await ok('GET', o.stored.list)).body), [], `${o.name} stored a case`);
      else assert.deepEqual(stable((await ok('GET', o.stored.unchanged)).body), before.get(o.name), o.name);
    }
    process.stdout.write(`# ${String(cases.length)} ARM cases\n`);
  });
});
