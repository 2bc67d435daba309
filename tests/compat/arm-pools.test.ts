import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchManagementClient } from '@azure/arm-batch';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import type { BatchServiceClient } from '@azure/batch';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, waitFor } from './pool-image.ts';

type RestLike = { statusCode?: number; code?: string };

/** Issue 16 item 5: Microsoft.Batch pools through ARM with @azure/arm-batch, the same pools as the data plane. */
describe('pools through ARM (@azure/arm-batch)', () => {
  let server: TestServer;
  let arm: BatchManagementClient;
  let batch: BatchServiceClient;
  let rg: string;
  let account: string;

  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    arm = new BatchManagementClient(credentialFor(server.connection), server.connection.subscriptionId, {
      endpoint: server.connection.armEndpoint,
    });
    batch = sharedKeyBatch(server);
    rg = server.connection.resourceGroup;
    account = server.connection.batchAccountName;
  });
  after(async () => {
    await server.stop();
  });

  const tiny = {
    vmSize: 'STANDARD_A1_V2',
    deploymentConfiguration: {
      virtualMachineConfiguration: {
        imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
        nodeAgentSkuId: 'batch.node.lazurite tiny',
      },
    },
  };

  test('create, get and list through ARM; the data plane sees the pool and its nodes', async () => {
    const created = await arm.poolOperations.create(rg, account, 'armpool', {
      ...tiny,
      scaleSettings: { fixedScale: { targetDedicatedNodes: 2 } },
      metadata: [{ name: 'owner', value: 'bicep' }],
    });
    assert.equal(created.type, 'Microsoft.Batch/batchAccounts/pools');
    assert.equal(created.provisioningState, 'Succeeded');
    assert.equal(
      created.deploymentConfiguration?.virtualMachineConfiguration?.nodeAgentSkuId,
      'batch.node.lazurite tiny',
    );
    const dataPlane = await batch.pool.get('armpool');
    assert.equal(dataPlane.targetDedicatedNodes, 2);
    assert.deepEqual(dataPlane.metadata, [{ name: 'owner', value: 'bicep' }]);
    await waitFor(
      () => arm.poolOperations.get(rg, account, 'armpool'),
      (p) => p.currentDedicatedNodes === 2 && p.allocationState === 'Steady',
      'two nodes seen through ARM',
    );
    const listed = [];
    for await (const p of arm.poolOperations.listByBatchAccount(rg, account)) listed.push(p.name);
    assert.ok(listed.includes('armpool'));
  });

  test('a pool the data plane made is read through ARM; update changes scale and metadata, not the VM size', async () => {
    await batch.pool.add({
      id: 'dppool',
      vmSize: 'standard_a1_v2',
      virtualMachineConfiguration: {
        imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
        nodeAgentSKUId: 'batch.node.lazurite tiny',
      },
      targetDedicatedNodes: 0,
    });
    const got = await arm.poolOperations.get(rg, account, 'dppool');
    assert.deepEqual(got.scaleSettings?.fixedScale?.targetDedicatedNodes, 0);
    await arm.poolOperations.update(rg, account, 'dppool', {
      scaleSettings: { fixedScale: { targetDedicatedNodes: 1 } },
      metadata: [{ name: 'k', value: 'v' }],
    });
    const dp = await batch.pool.get('dppool');
    assert.equal(dp.targetDedicatedNodes, 1);
    assert.deepEqual(dp.metadata, [{ name: 'k', value: 'v' }]);
    await assert.rejects(
      arm.poolOperations.update(rg, account, 'dppool', { vmSize: 'STANDARD_D2S_V3' }),
      (e: RestLike) => e.statusCode === 400 && e.code === 'PropertyChangeNotAllowed',
    );
    await waitFor(
      () => arm.poolOperations.get(rg, account, 'dppool'),
      (p) => p.allocationState === 'Steady',
      'the resize to settle',
    );
    await arm.poolOperations.update(rg, account, 'dppool', {
      scaleSettings: { autoScale: { formula: '$TargetDedicatedNodes = 0;', evaluationInterval: 'PT5M' } },
    });
    assert.equal((await batch.pool.get('dppool')).enableAutoScale, true);
    await arm.poolOperations.disableAutoScale(rg, account, 'dppool');
    assert.equal((await batch.pool.get('dppool')).enableAutoScale, false);
  });

  test('bad input gets ARM errors naming the field; an unknown pool is 404', async () => {
    await assert.rejects(
      arm.poolOperations.create(rg, account, 'bad', {
        ...tiny,
        scaleSettings: {
          fixedScale: { targetDedicatedNodes: 1 },
          autoScale: { formula: '$TargetDedicatedNodes = 1;' },
        },
      }),
      (e: RestLike) => e.statusCode === 400 && e.code === 'InvalidRequestBody',
    );
    await assert.rejects(
      arm.poolOperations.create(rg, account, 'bad', { ...tiny, vmSize: 'Standard_Nope_v99' }),
      (e: RestLike) => e.statusCode === 400,
    );
    await assert.rejects(arm.poolOperations.get(rg, account, 'bad'), (e: RestLike) => e.statusCode === 404);
  });

  test('delete is a long-running operation the official poller follows to the pool being gone everywhere', async () => {
    await arm.poolOperations.beginDeleteAndWait(rg, account, 'armpool', { updateIntervalInMs: 100 });
    await assert.rejects(
      arm.poolOperations.get(rg, account, 'armpool'),
      (e: RestLike) => e.statusCode === 404,
    );
    await assert.rejects(batch.pool.get('armpool'), (e: RestLike) => e.statusCode === 404);
  });

  test('an ARM template declares a pool under the account; the deployment engine makes it', async () => {
    const c = server.connection;
    const deployments = new DeploymentsClient(credentialFor(c), c.subscriptionId, {
      endpoint: c.armEndpoint,
    });
    const template = {
      $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
      contentVersion: '1.0.0.0',
      parameters: { account: { type: 'string' } },
      resources: [
        {
          type: 'Microsoft.Batch/batchAccounts/pools',
          apiVersion: '2024-02-01',
          name: "[concat(parameters('account'), '/tmplpool')]",
          properties: { ...tiny, scaleSettings: { fixedScale: { targetDedicatedNodes: 1 } } },
        },
      ],
    };
    const result = await deployments.deployments.createOrUpdate(
      rg,
      'pool_deploy',
      { properties: { mode: 'Incremental', template, parameters: { account: { value: account } } } },
      { updateIntervalInMs: 100 },
    );
    assert.equal(result.properties?.provisioningState, 'Succeeded');
    assert.equal((await batch.pool.get('tmplpool')).targetDedicatedNodes, 1);
  });

  test('user accounts through ARM: passwords are write-only, and a PUT repeating them is no change (ADR 0026)', async () => {
    const body = {
      ...tiny,
      scaleSettings: { fixedScale: { targetDedicatedNodes: 0 } },
      userAccounts: [
        {
          name: 'ops',
          password: 'not-shown',
          elevationLevel: 'NonAdmin' as const,
          linuxUserConfiguration: { uid: 1234, gid: 1234 },
        },
      ],
    };
    const created = await arm.poolOperations.create(rg, account, 'userspool', body);
    assert.deepEqual(
      created.userAccounts?.map((a) => [a.name, a.password, a.linuxUserConfiguration?.uid]),
      [['ops', undefined, 1234]],
    );
    assert.ok(!JSON.stringify(await arm.poolOperations.get(rg, account, 'userspool')).includes('not-shown'));
    assert.ok(!JSON.stringify(await batch.pool.get('userspool')).includes('not-shown'));
    const again = await arm.poolOperations.create(rg, account, 'userspool', body);
    assert.equal(again.userAccounts?.length, 1);
  });
});
