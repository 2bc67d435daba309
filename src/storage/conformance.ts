import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { batchStoreConformance } from './conformance-batch.ts';
import { clusterStoreConformance } from './conformance-cluster.ts';
import { jobStoreConformance } from './conformance-jobs.ts';
import { transactionConformance } from './conformance-tx.ts';
import type { Store } from './port.ts';
import type { BatchAccountRecord, ComputeResourceRecord, RoleAssignmentRecord } from './records.ts';

/**
 * The behaviour every Store adapter must show. Each adapter's test file calls this with a factory that
 * returns a fresh, empty store.
 */
export function storeConformance(name: string, open: () => Promise<Store>): void {
  const T = 't0000000-0000-4000-8000-000000000001';
  const S = 's0000000-0000-4000-8000-000000000001';
  const assignment = (n: string, scope: string, principal = 'p1'): RoleAssignmentRecord => ({
    name: n,
    scope,
    roleDefinitionName: 'r1',
    principalId: principal,
    principalType: 'ServicePrincipal',
    description: null,
    createdOn: '2026-01-01T00:00:00Z',
    updatedOn: '2026-01-01T00:00:00Z',
    createdBy: null,
  });
  const account = (n: string, group: string): BatchAccountRecord => ({
    subscriptionId: S,
    resourceGroup: group,
    name: n,
    location: 'westeurope',
    tags: { a: 'b' },
    poolAllocationMode: 'BatchService',
    publicNetworkAccess: 'Enabled',
    allowedAuthenticationModes: ['SharedKey'],
    extra: { autoStorage: { storageAccountId: 'x' } },
    primaryKey: 'k1',
    secondaryKey: 'k2',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
  });
  async function seeded(): Promise<Store> {
    const store = await open();
    await store.transaction(async (tx) => {
      await tx.putTenant({ id: T, displayName: 't', defaultDomain: 't.local' });
      await tx.putSubscription({ id: S, tenantId: T, displayName: 's', state: 'Enabled' });
      await tx.putResourceGroup({
        subscriptionId: S,
        name: 'My-RG',
        location: 'westeurope',
        tags: {},
        managedBy: null,
        createdAt: 'now',
      });
    });
    return store;
  }

  describe(`store conformance: ${name}`, () => {
    test('names are matched case-insensitively and keep their original case', async () => {
      const store = await seeded();
      const g = await store.transaction((tx) => tx.findResourceGroup(S.toUpperCase(), 'my-rg'));
      assert.equal(g?.name, 'My-RG');
      await store.transaction((tx) => tx.putBatchAccount(account('Acct1', 'my-rg')));
      const a = await store.transaction((tx) => tx.findBatchAccount(S, 'MY-RG', 'acct1'));
      assert.deepEqual(a?.extra, { autoStorage: { storageAccountId: 'x' } });
      assert.equal((await store.transaction((tx) => tx.findBatchAccountByName('ACCT1')))?.name, 'Acct1');
      await store.close();
    });

    test('principals are listed, and a secret hash is replaced only while it is the expected one', async () => {
      const store = await seeded();
      const principal = (appId: string) => ({
        objectId: `o-${appId}`,
        appId,
        tenantId: T,
        displayName: appId,
        secretSalt: 'salt',
        secretHash: 'h1',
        createdAt: 'now',
      });
      await store.transaction(async (tx) => {
        await tx.addPrincipal(principal('b-app'));
        await tx.addPrincipal(principal('a-app'));
      });
      const listed = await store.transaction((tx) => tx.listPrincipals());
      assert.deepEqual(
        listed.map((p) => p.appId),
        ['a-app', 'b-app'],
      );
      assert.equal(await store.transaction((tx) => tx.replacePrincipalSecretHash('b-APP', 'h1', 'h2')), true);
      assert.equal(
        await store.transaction((tx) => tx.replacePrincipalSecretHash('b-app', 'h1', 'h3')),
        false,
      );
      assert.equal(
        await store.transaction((tx) => tx.replacePrincipalSecretHash('nobody', 'h1', 'h3')),
        false,
      );
      assert.equal((await store.transaction((tx) => tx.findPrincipalByAppId('B-APP')))?.secretHash, 'h2');
      await store.close();
    });

    test('a failed transaction leaves nothing behind', async () => {
      const store = await seeded();
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.putBatchAccount(account('acct2', 'My-RG'));
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await store.transaction((tx) => tx.findBatchAccountByName('acct2')), undefined);
      await store.close();
    });

    test('role assignments are found at scopes, under a scope and by principal', async () => {
      const store = await seeded();
      await store.transaction(async (tx) => {
        await tx.putRoleAssignment(assignment('a1', `/subscriptions/${S}`));
        await tx.putRoleAssignment(assignment('a2', `/subscriptions/${S}/resourceGroups/My-RG`, 'p2'));
        await tx.putRoleAssignment(assignment('a3', `/subscriptions/${S}/resourceGroups/My-RG_2`));
      });
      const at = await store.transaction((tx) =>
        tx.listRoleAssignmentsAtScopes([`/subscriptions/${S.toUpperCase()}/`]),
      );
      assert.deepEqual(
        at.map((a) => a.name),
        ['a1'],
      );
      const under = await store.transaction((tx) =>
        tx.listRoleAssignmentsUnder(`/subscriptions/${S}/resourcegroups/my-rg`),
      );
      assert.deepEqual(
        under.map((a) => a.name),
        ['a2'],
        'a sibling whose name shares a prefix is not under the scope',
      );
      const mine = await store.transaction((tx) => tx.listRoleAssignmentsForPrincipal('P2'));
      assert.deepEqual(
        mine.map((a) => a.name),
        ['a2'],
      );
      assert.equal(await store.transaction((tx) => tx.deleteRoleAssignment('a1')), true);
      assert.equal(await store.transaction((tx) => tx.deleteRoleAssignment('a1')), false);
      await store.close();
    });

    test('deleting a resource group removes the role assignments under it and leaves Batch accounts to the domain', async () => {
      const store = await seeded();
      await store.transaction(async (tx) => {
        await tx.putBatchAccount(account('acct3', 'My-RG'));
        await tx.putRoleAssignment(
          assignment(
            'b1',
            `/subscriptions/${S}/resourceGroups/My-RG/providers/Microsoft.Batch/batchAccounts/acct3`,
          ),
        );
        await tx.putRoleAssignment(assignment('b2', `/subscriptions/${S}`));
      });
      assert.equal(await store.transaction((tx) => tx.deleteResourceGroupWithContents(S, 'my-rg')), true);
      assert.ok(
        await store.transaction((tx) => tx.findBatchAccountByName('acct3')),
        'deleted by the domain, not here',
      );
      assert.equal(await store.transaction((tx) => tx.findRoleAssignment('b1')), undefined);
      assert.ok(await store.transaction((tx) => tx.findRoleAssignment('b2')));
      assert.equal(await store.transaction((tx) => tx.deleteResourceGroupWithContents(S, 'my-rg')), false);
      await store.close();
    });

    test('accounts carry a provisioning state and are listed by it across subscriptions', async () => {
      const store = await seeded();
      await store.transaction(async (tx) => {
        await tx.putBatchAccount(account('acct4', 'My-RG'));
        await tx.putBatchAccount({ ...account('acct5', 'My-RG'), provisioningState: 'Deleting' });
      });
      const acct4 = await store.transaction((tx) => tx.findBatchAccountByName('acct4'));
      assert.equal(acct4?.provisioningState, 'Succeeded');
      const deleting = await store.transaction((tx) => tx.listBatchAccountsIn('Deleting'));
      assert.deepEqual(
        deleting.map((a) => a.name),
        ['acct5'],
      );
      await store.close();
    });

    test('provider registration is kept per subscription', async () => {
      const store = await seeded();
      await store.transaction((tx) =>
        tx.setProviderState({ subscriptionId: S, namespace: 'Microsoft.Batch', state: 'Registered' }),
      );
      await store.transaction((tx) =>
        tx.setProviderState({ subscriptionId: S, namespace: 'microsoft.batch', state: 'NotRegistered' }),
      );
      const states = await store.transaction((tx) => tx.listProviderStates(S));
      assert.deepEqual(
        states.map((s) => [s.namespace, s.state]),
        [['Microsoft.Batch', 'NotRegistered']],
      );
      await store.close();
    });

    test('compute resources with a reserved write are listed by type across subscriptions', async () => {
      const store = await seeded();
      const resource = (
        type: string,
        n: string,
        lineage: Record<string, unknown>,
      ): ComputeResourceRecord => ({
        id: `/subscriptions/${S}/resourceGroups/My-RG/providers/${type}/${n}`,
        subscriptionId: S,
        resourceGroup: 'My-RG',
        type,
        name: n,
        parentId: null,
        location: 'westeurope',
        tags: {},
        properties: {},
        sku: null,
        content: null,
        lineage,
        createdAt: 'now',
        updatedAt: 'now',
      });
      const pending = { pending: { operationId: 'o1', region: 'westeurope', plan: { kind: 'empty' } } };
      await store.transaction(async (tx) => {
        await tx.putComputeResource(resource('Microsoft.Compute/disks', 'busy', pending));
        await tx.putComputeResource(resource('Microsoft.Compute/disks', 'done', { baseImage: 'x' }));
        await tx.putComputeResource(resource('Microsoft.Compute/images', 'busy', pending));
        await tx.putComputeResource(resource('Microsoft.Compute/galleries', 'busy', pending));
      });
      const listed = await store.transaction((tx) =>
        tx.listPendingComputeResources(['microsoft.compute/DISKS', 'Microsoft.Compute/images']),
      );
      assert.deepEqual(
        listed.map((r) => `${r.type}/${r.name}`),
        ['Microsoft.Compute/disks/busy', 'Microsoft.Compute/images/busy'],
      );
      assert.deepEqual(await store.transaction((tx) => tx.listPendingComputeResources([])), []);
      await store.close();
    });

    batchStoreConformance(open);
    jobStoreConformance(open);
    transactionConformance(open);
    clusterStoreConformance(open);
  });
}
