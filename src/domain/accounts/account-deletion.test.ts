import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WELL_KNOWN } from '../environment/well-known.ts';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';
import { BatchAccountService } from './batch-accounts.ts';
import { finishAccountDeletions } from './account-deletion.ts';

const owner = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const ids = [WELL_KNOWN.subscriptionId, WELL_KNOWN.resourceGroup, WELL_KNOWN.batchAccountName] as const;

test('deleting an account removes its jobs and schedules at once, its pools and nodes, then the account', async () => {
  const w = await world();
  const accounts = new BatchAccountService(w.ctx);
  await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p1', 2));
  await w.settle();
  await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j1', poolInfo: { poolId: 'p1' } });
  await w.tasks.add(w.account.name, 'j1', { id: 't1', commandLine: 'sleep 100' });
  await w.settle(3);
  assert.equal((await w.pools.get(w.account, 'p1')).nodes.length, 2);

  assert.equal(await accounts.delete(owner, ...ids), 'deleting');
  const deleting = await accounts.findByName(WELL_KNOWN.batchAccountName);
  assert.equal(deleting?.provisioningState, 'Deleting');
  const inStore = await w.ctx.store.transaction(async (tx) => ({
    jobs: await tx.listJobs(WELL_KNOWN.batchAccountName),
    pool: await tx.findPool(WELL_KNOWN.batchAccountName, 'p1'),
  }));
  assert.deepEqual(inStore.jobs, [], 'jobs (and their tasks) go in the same transaction');
  assert.equal(inStore.pool?.state, 'deleting');
  await assert.rejects(
    accounts.createOrUpdate(owner, ...ids, { location: 'westeurope' }),
    (e: unknown) => e instanceof DomainError && e.code === 'AccountBeingDeleted',
    'a Deleting account cannot be re-created or updated',
  );
  assert.equal(await finishAccountDeletions(w.ctx), false, 'not while a pool is left');

  await w.settle();
  assert.equal(
    await w.ctx.store.transaction((tx) => tx.findPool(WELL_KNOWN.batchAccountName, 'p1')),
    undefined,
  );
  assert.deepEqual(await w.executor.list(), [], 'every node sandbox is gone');
  assert.equal(await finishAccountDeletions(w.ctx), true);
  assert.equal(await accounts.findByName(WELL_KNOWN.batchAccountName), undefined);

  const again = await accounts.createOrUpdate(owner, ...ids, { location: 'westeurope' });
  assert.equal(again.created, true);
  const fresh = await w.ctx.store.transaction(async (tx) => ({
    pools: await tx.listPools(WELL_KNOWN.batchAccountName),
    jobs: await tx.listJobs(WELL_KNOWN.batchAccountName),
  }));
  assert.deepEqual(fresh, { pools: [], jobs: [] }, 'a re-created account starts empty');
});

test('an account without pools is deleted at once', async () => {
  const w = await world();
  const accounts = new BatchAccountService(w.ctx);
  await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j1', poolInfo: { poolId: 'nowhere' } });
  assert.equal(await accounts.delete(owner, ...ids), 'deleted');
  assert.equal(await accounts.findByName(WELL_KNOWN.batchAccountName), undefined);
  assert.deepEqual(await w.ctx.store.transaction((tx) => tx.listJobs(WELL_KNOWN.batchAccountName)), []);
  assert.equal(await accounts.delete(owner, ...ids), 'absent');
});
