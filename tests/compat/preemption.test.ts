import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { runCli, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Low-priority nodes taken back (issue 4: "preempted for low-priority"): `lazurite pools preempt` on a pool of
 * real sandboxes while a task runs; the node goes preempted and keeps counting, the task is requeued (not
 * retried), the node comes back fresh after the recovery delay and the task completes there once.
 */
describe('low-priority preemption', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  const previous = process.env.LAZURITE_PREEMPTION_RECOVERY_SECONDS;

  before(async () => {
    process.env.LAZURITE_PREEMPTION_RECOVERY_SECONDS = '2';
    server = await startServer();
    batch = sharedKeyBatch(server);
  });
  after(async () => {
    if (previous === undefined) delete process.env.LAZURITE_PREEMPTION_RECOVERY_SECONDS;
    else process.env.LAZURITE_PREEMPTION_RECOVERY_SECONDS = previous;
    await server.stop();
  });

  test('a preempted node requeues its task, returns, and the task completes once', async () => {
    await batch.pool.add(tinyPoolSpec('spot', 0, { targetLowPriorityNodes: 1 }));
    const [node] = (
      await waitFor(
        () => batch.computeNode.list('spot'),
        (ns) => ns.length === 1 && ns[0]?.state === 'idle',
        'one idle low-priority node',
      )
    ).map((n) => n.id ?? '');
    await batch.job.add({ id: 'spot-job', poolInfo: { poolId: 'spot' } });
    // Long enough that the preempt command (a separate process, slow to start on a loaded machine) lands while
    // the task still runs; a shorter task can finish first and then is never requeued.
    await batch.task.add('spot-job', { id: 't', commandLine: '/bin/sh -c "sleep 12; echo done"' });
    await waitFor(
      () => batch.task.get('spot-job', 't'),
      (t) => t.state === 'running',
      'task running',
    );

    const out = JSON.parse(
      await runCli(['pools', 'preempt', 'spot', '--json', '--data-dir', server.dataDir]),
    ) as { preempted: string[] };
    assert.deepEqual(out.preempted, [node]);
    const counts = await waitFor(
      () => batch.account.listPoolNodeCounts(),
      (c) => c.some((p) => p.poolId === 'spot' && (p.lowPriority?.preempted ?? 0) === 1),
      'one preempted low-priority node in nodecounts',
      10_000,
    );
    assert.equal(counts.find((p) => p.poolId === 'spot')?.lowPriority?.total, 1);
    const task = await waitFor(
      () => batch.task.get('spot-job', 't'),
      (t) => t.state === 'completed',
      'task completed after the node came back',
      90_000,
    );
    assert.deepEqual(
      [task.executionInfo?.result, task.executionInfo?.requeueCount, task.executionInfo?.retryCount],
      ['success', 1, 0],
    );
    const back = await batch.computeNode.get('spot', node ?? '');
    assert.ok(['idle', 'running'].includes(back.state ?? ''), `node is back: ${String(back.state)}`);
    const pool = await batch.pool.get('spot');
    assert.deepEqual([pool.allocationState, pool.currentLowPriorityNodes], ['steady', 1]);
  });

  test('dedicated nodes cannot be preempted: one line and a hint', async () => {
    await batch.pool.add(tinyPoolSpec('dedicated', 1));
    const [node] = await waitFor(
      () => batch.computeNode.list('dedicated'),
      (ns) => ns.length === 1 && ns[0]?.state === 'idle',
      'one idle dedicated node',
    );
    await assert.rejects(
      runCli(['pools', 'preempt', 'dedicated', '--node', node?.id ?? '', '--data-dir', server.dataDir]),
      /lazurite: Node '.*' cannot be preempted: it is a dedicated node.*\(InvalidPropertyValue\)\nhint: /,
    );
  });
});
