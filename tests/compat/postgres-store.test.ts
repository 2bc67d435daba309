import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startThrowawayCluster, type ThrowawayCluster } from '../../src/storage/postgres/cluster.fixture.ts';
import { startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * The server on PostgreSQL (ADR 0029): `--database-url` on a throw-away cluster, simulated nodes, driven by
 * @azure/batch; the state survives a restart because it lives in the database, not in the data dir.
 */
describe('the server on PostgreSQL (--database-url)', () => {
  const TASKS = 50;
  let cluster: ThrowawayCluster;
  let url: string;
  let dataDir: string;
  let server: TestServer | undefined;
  let batch: BatchServiceClient;
  const start = async () => {
    server = await startServer(['--node-backend', 'simulated', '--database-url', url], dataDir);
    batch = sharedKeyBatch(server);
  };
  before(async () => {
    cluster = startThrowawayCluster();
    url = await cluster.newDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'lazurite-pg-'));
    await start();
  });
  after(async () => {
    await server?.stop();
    cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const taskIds = Array.from({ length: TASKS }, (_, i) => `task-${String(i).padStart(2, '0')}`);
  const completed = async () =>
    waitFor(
      async () => {
        const tasks = [];
        for await (const t of listAll(batch)) tasks.push(t);
        return tasks;
      },
      (ts) => ts.length === TASKS && ts.every((t) => t.state === 'completed'),
      `${String(TASKS)} completed tasks`,
      180_000,
    );

  test('a pool, a job and 50 tasks are created, run and read back', async () => {
    await batch.pool.add(tinyPoolSpec('pg-pool', 2, { taskSlotsPerNode: 4 }));
    await batch.job.add({ id: 'pg-job', poolInfo: { poolId: 'pg-pool' } });
    await batch.task.addCollection(
      'pg-job',
      taskIds.map((id) => ({ id, commandLine: `/bin/sh -c "echo ${id}"` })),
    );
    const tasks = await completed();
    assert.deepEqual(tasks.map((t) => t.id).sort(), taskIds);
    assert.ok(tasks.every((t) => t.executionInfo?.exitCode === 0));
    assert.equal((await batch.pool.get('pg-pool')).targetDedicatedNodes, 2);
    assert.equal(existsSync(join(dataDir, 'state', 'lazurite.db')), false, 'no SQLite state in the data dir');
  });

  test('after a restart the pool, the job and every task are read back the same', async () => {
    await server?.stop();
    server = undefined;
    await start();
    assert.equal((await batch.pool.get('pg-pool')).id, 'pg-pool');
    assert.equal((await batch.job.get('pg-job')).poolInfo?.poolId, 'pg-pool');
    const tasks = await completed();
    assert.deepEqual(tasks.map((t) => t.id).sort(), taskIds);
    const one = await batch.task.get('pg-job', 'task-07');
    assert.equal(one.commandLine, '/bin/sh -c "echo task-07"');
    assert.equal(one.executionInfo?.exitCode, 0);
  });
});

/** Every task of the job, following odata.nextLink pages. */
async function* listAll(batch: BatchServiceClient) {
  let page = await batch.task.list('pg-job');
  yield* page;
  while (page.odatanextLink) {
    page = await batch.task.listNext(page.odatanextLink);
    yield* page;
  }
}
