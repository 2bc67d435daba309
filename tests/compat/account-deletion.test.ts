import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BatchManagementClient } from '@azure/arm-batch';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { tinyPoolSpec, waitFor } from './pool-image.ts';

type RestLike = { statusCode?: number; code?: string };

const arm = (s: TestServer) =>
  new BatchManagementClient(credentialFor(s.connection), s.connection.subscriptionId, {
    endpoint: s.connection.armEndpoint,
  });

async function batchFor(s: TestServer, account: string): Promise<BatchServiceClient> {
  const keys = await arm(s).batchAccountOperations.getKeys(s.connection.resourceGroup, account);
  return new BatchServiceClient(
    new BatchSharedKeyCredentials(account, keys.primary ?? ''),
    new URL(s.connection.batchUrl).origin,
  );
}

/** Issue 18 item 5: deleting a Batch account stops and removes everything under it, also across a kill -9. */
describe('deleting a Batch account removes its pools, nodes, jobs and schedules', () => {
  test('delete is a long-running operation the official poller follows; a re-created account starts empty', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-account-delete-'));
    let server = await startServer(['--node-backend', 'simulated'], dataDir);
    try {
      const rg = server.connection.resourceGroup;
      await arm(server).batchAccountOperations.beginCreateAndWait(rg, 'delacct', {
        location: server.connection.location,
      });
      let batch = await batchFor(server, 'delacct');
      await batch.pool.add(tinyPoolSpec('p1', 3));
      await batch.job.add({ id: 'j1', poolInfo: { poolId: 'p1' } });
      await batch.task.add('j1', { id: 't1', commandLine: '/bin/sh -c "sleep 600"' });
      await batch.jobSchedule.add({
        id: 's1',
        schedule: { recurrenceInterval: 'PT1H' },
        jobSpecification: { poolInfo: { poolId: 'p1' } },
      });
      const nodes = await waitFor(
        () => batch.computeNode.list('p1'),
        (n) => n.length === 3,
        'three nodes',
      );
      // Simulated nodes say so in nodeAgentInfo, not as an error.
      assert.ok(
        nodes.every((n) => n.errors === undefined && /simulated/.test(n.nodeAgentInfo?.version ?? '')),
      );

      // Started, then the server is killed before the deletion can finish.
      const poller = await arm(server).batchAccountOperations.beginDelete(rg, 'delacct');
      const during = await arm(server).batchAccountOperations.get(rg, 'delacct');
      assert.equal(during.provisioningState, 'Deleting');
      await assert.rejects(batch.pool.list(), (e: RestLike) => {
        assert.equal(e.statusCode, 403);
        assert.equal(e.code, 'AccountIsDisabled');
        return true;
      });
      assert.equal(poller.isDone(), false);
      server.process.kill('SIGKILL');
      await new Promise((r) => server.process.once('exit', r));

      server = await startServer(['--node-backend', 'simulated'], dataDir);
      await waitFor(
        async () => {
          try {
            await arm(server).batchAccountOperations.get(rg, 'delacct');
            return 'still there';
          } catch (err) {
            return String((err as RestLike).statusCode);
          }
        },
        (v) => v === '404',
        'the account gone after the restart',
        60_000,
      );
      await arm(server).batchAccountOperations.beginCreateAndWait(rg, 'delacct', {
        location: server.connection.location,
      });
      batch = await batchFor(server, 'delacct');
      const pools = await batch.pool.list();
      const jobs = await batch.job.list();
      const schedules = await batch.jobSchedule.list();
      assert.deepEqual([pools.length, jobs.length, schedules.length], [0, 0, 0], 'nothing came back');

      // Without a crash the official poller follows the Location to the end.
      await batch.pool.add(tinyPoolSpec('p2', 1));
      await arm(server).batchAccountOperations.beginDeleteAndWait(rg, 'delacct', {
        updateIntervalInMs: 200,
      });
      await assert.rejects(arm(server).batchAccountOperations.get(rg, 'delacct'), (e: RestLike) => {
        assert.equal(e.statusCode, 404);
        return true;
      });
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
