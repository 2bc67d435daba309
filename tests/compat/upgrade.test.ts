import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { REPO_ROOT, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, waitFor } from './pool-image.ts';

/**
 * Upgrade (issue 15): a data dir made by the previous release (`a5eb97b`, the last commit that landed before the
 * loops lease and shared secrets) is opened by this one: its migrations run, and what the old server acknowledged
 * reads back the same through @azure/batch. The fixture was made with that release's server on the simulated
 * backend: a pool `upgrade-pool` (metadata made-by=a5eb97b) resized to 0 after its work, a job `upgrade-job`
 * (priority 7) with tasks t1, t2 and t3 (completed; simulated nodes run no command, so each exited 0), and a job schedule `upgrade-schedule` not due before
 * 2030. Its sealing key is in the fixture, so the account key sealed by the old server must open.
 */
describe('a data dir of the previous release', () => {
  let dir: string;
  let server: TestServer;
  let batch: BatchServiceClient;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lazurite-upgrade-'));
    cpSync(join(REPO_ROOT, 'tests', 'fixtures', 'data-dir-a5eb97b'), dir, { recursive: true });
    for (const f of ['state/lazurite.db', 'identity/sealing.key', 'identity/signing-key.pem', 'agent-token'])
      chmodSync(join(dir, f), 0o600);
    server = await startServer(['--node-backend', 'simulated'], dir);
    batch = sharedKeyBatch(server);
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the pool, the job, its tasks and the schedule read back as the old server left them', async () => {
    const pool = await batch.pool.get('upgrade-pool');
    assert.deepEqual(pool.metadata, [{ name: 'made-by', value: 'a5eb97b' }]);
    assert.equal(pool.targetDedicatedNodes, 0);
    assert.equal(pool.taskSlotsPerNode, 2);
    const job = await batch.job.get('upgrade-job');
    assert.equal(job.priority, 7);
    assert.equal(job.poolInfo?.poolId, 'upgrade-pool');
    const tasks = (await batch.task.list('upgrade-job')).sort((a, b) =>
      String(a.id).localeCompare(String(b.id)),
    );
    assert.deepEqual(
      tasks.map((t) => [t.id, t.state, t.executionInfo?.exitCode, t.executionInfo?.result]),
      [
        ['t1', 'completed', 0, 'success'],
        ['t2', 'completed', 0, 'success'],
        ['t3', 'completed', 0, 'success'],
      ],
    );
    const schedule = await batch.jobSchedule.get('upgrade-schedule');
    assert.equal(schedule.schedule?.doNotRunUntil?.toISOString(), '2030-01-01T00:00:00.000Z');
  });

  test('the upgraded server runs new work on the old pool', async () => {
    await batch.pool.resize('upgrade-pool', { targetDedicatedNodes: 1 });
    await waitFor(
      () => batch.computeNode.list('upgrade-pool'),
      (ns) => ns.length === 1 && ns.every((n) => n.state === 'idle'),
      'one idle node',
      120_000,
    );
    await batch.task.add('upgrade-job', { id: 't4', commandLine: '/bin/sh -c "echo upgraded"' });
    const t4 = await waitFor(
      () => batch.task.get('upgrade-job', 't4'),
      (t) => t.state === 'completed',
      't4 completed',
      120_000,
    );
    assert.equal(t4.executionInfo?.exitCode, 0);
  });
});
