import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { failsWith, sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/** disablescheduling / enablescheduling through @azure/batch. */
describe('node scheduling', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    batch = sharedKeyBatch(server);
    await batch.pool.add(tinyPoolSpec('ns', 1));
  });
  after(async () => {
    await server.stop();
  });

  test('a disabled node goes offline and takes no task until enabled', async () => {
    const [node] = await waitFor(
      () => batch.computeNode.list('ns'),
      (nodes) => nodes.length === 1 && nodes[0]?.state === 'idle',
      'an idle node',
    );
    const id = node?.id ?? '';
    await batch.computeNode.disableScheduling('ns', id, { nodeDisableSchedulingOption: 'taskcompletion' });
    const off = await waitFor(
      () => batch.computeNode.get('ns', id),
      (n) => n.state === 'offline',
      'offline',
    );
    assert.equal(off.schedulingState, 'disabled');
    await assert.rejects(
      batch.computeNode.disableScheduling('ns', id),
      failsWith(409, 'NodeAlreadyInTargetSchedulingState'),
    );
    await batch.job.add({ id: 'j', poolInfo: { poolId: 'ns' } });
    await batch.task.add('j', { id: 't', commandLine: '/bin/true' });
    // (That it stays queued across agent syncs is checked on the manual clock in node-scheduling.test.ts.)
    assert.equal((await batch.task.get('j', 't')).state, 'active');
    await batch.computeNode.enableScheduling('ns', id);
    await waitFor(
      () => batch.task.get('j', 't'),
      (t) => t.state === 'completed',
      'the task runs',
    );
    const back = await batch.computeNode.get('ns', id);
    assert.equal(back.schedulingState, 'enabled');
    const counts = await batch.account.listPoolNodeCounts();
    assert.equal(counts[0]?.dedicated?.offline, 0);
  });
});
