import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BatchManagementClient } from '@azure/arm-batch';
import { openSqliteStore } from '../../src/storage/sqlite/open.ts';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { failsWith, sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

const QUOTAS = [
  '--node-backend',
  'simulated',
  '--account-quotas',
  'lazurite.dedicatedCores=6,lazurite.lowPriorityCores=2,lazurite.pools=3,lazurite.activeJobsAndSchedules=2',
];

/** Account quotas through @azure/arm-batch and @azure/batch, and a restart on a store holding an absurd pool. */
describe('account quotas', () => {
  test('the quotas ARM reports are the ones enforced: pools, active jobs and schedules, cores as resize errors', async () => {
    const server = await startServer(QUOTAS);
    try {
      const c = server.connection;
      const arm = new BatchManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
      const account = await arm.batchAccountOperations.get(c.resourceGroup, c.batchAccountName);
      assert.equal(account.dedicatedCoreQuota, 6);
      assert.equal(account.lowPriorityCoreQuota, 2);
      assert.equal(account.poolQuota, 3);
      assert.equal(account.activeJobAndJobScheduleQuota, 2);

      const batch = sharedKeyBatch(server);
      await batch.pool.add(tinyPoolSpec('huge', 1_000_000_000, { targetLowPriorityNodes: 1_000_000_000 }));
      const huge = await waitFor(
        () => batch.pool.get('huge'),
        (p) => p.allocationState === 'steady',
        'the billion-node pool settled',
      );
      assert.equal(huge.targetDedicatedNodes, 1_000_000_000);
      assert.equal(huge.currentDedicatedNodes, 6);
      assert.equal(huge.currentLowPriorityNodes, 2);
      assert.deepEqual(
        (huge.resizeErrors ?? []).map((e) => e.code),
        ['AccountCoreQuotaReached', 'AccountLowPriorityCoreQuotaReached'],
      );
      await batch.pool.add(tinyPoolSpec('p2', 0));
      await batch.pool.add(tinyPoolSpec('p3', 0));
      await assert.rejects(batch.pool.add(tinyPoolSpec('p4', 0)), failsWith(409, 'PoolQuotaReached'));

      await batch.job.add({ id: 'j1', poolInfo: { poolId: 'p2' } });
      await batch.jobSchedule.add({
        id: 's1',
        schedule: { recurrenceInterval: 'PT1H' },
        jobSpecification: { poolInfo: { poolId: 'p2' } },
      });
      await assert.rejects(
        batch.job.add({ id: 'j2', poolInfo: { poolId: 'p2' } }),
        failsWith(409, 'ActiveJobAndScheduleQuotaReached'),
      );
    } finally {
      await server.stop();
    }
  });

  test('a store holding a pool with an absurd target (written past the quota): the server starts, answers /health and settles the pool', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-quota-restart-'));
    let server: TestServer | undefined;
    try {
      server = await startServer(['--node-backend', 'simulated'], dataDir);
      await sharedKeyBatch(server).pool.add(tinyPoolSpec('absurd', 0));
      await server.stop();
      server = undefined;
      const store = await openSqliteStore(join(dataDir, 'state', 'lazurite.db'));
      await store.transaction(async (tx) => {
        const pool = await tx.findPool('lazurite', 'absurd');
        assert.ok(pool);
        await tx.putPool({
          ...pool,
          targetDedicatedNodes: 2_000_000_000,
          targetLowPriorityNodes: Number.MAX_SAFE_INTEGER,
          allocationState: 'resizing',
        });
      });
      await store.close();

      server = await startServer(
        ['--node-backend', 'simulated', '--account-quotas', '*.dedicatedCores=40'],
        dataDir,
      );
      const health = await fetch(`${server.connection.armEndpoint}/health`);
      assert.equal(health.status, 200);
      const batch = sharedKeyBatch(server);
      const pool = await waitFor(
        () => batch.pool.get('absurd'),
        (p) => p.allocationState === 'steady',
        'the absurd pool settled',
      );
      assert.equal(pool.currentDedicatedNodes, 40);
      assert.equal(pool.currentLowPriorityNodes, 500);
      assert.deepEqual(
        (pool.resizeErrors ?? []).map((e) => e.code),
        ['AccountCoreQuotaReached', 'AccountLowPriorityCoreQuotaReached'],
      );
      assert.equal((await fetch(`${server.connection.armEndpoint}/health`)).status, 200);
    } finally {
      await server?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
