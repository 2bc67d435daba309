import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BatchServiceClient } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import { balancer } from './balancer.ts';
import { startThrowawayCluster, type ThrowawayCluster } from '../../src/storage/postgres/cluster.fixture.ts';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Two servers on one PostgreSQL database (ADR 0033), simulated nodes: either answers any request, the one holding
 * the loops lease runs the sizer, the schedules and the host agent, and when it is killed with SIGKILL mid-run
 * the other takes the loops over and finishes the work.
 */
describe('two servers, one database', () => {
  const TASKS = 500;
  const NODES = 6;
  let cluster: ThrowawayCluster;
  let work: string;
  let a: TestServer;
  let b: TestServer;
  let args: string[];
  const lb = balancer();
  const viaBalancer = (c: TestServer['connection']) => ({
    ...c,
    authorityHost: `https://127.0.0.1:${String(lb.port())}`,
  });
  before(async () => {
    await new Promise<void>((r) => lb.server.listen(0, '127.0.0.1', r));
    cluster = startThrowawayCluster();
    const url = await cluster.newDatabase();
    work = mkdtempSync(join(tmpdir(), 'lazurite-replicas-'));
    const keyFile = join(work, 'sealing.key');
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    args = [
      ...['--node-backend', 'simulated', '--database-url', url, '--sealing-key-file', keyFile],
      ...['--public-url', `https://127.0.0.1:${String(lb.port())}`, '--node-network', '10.219.0.0/16'],
    ];
    a = await startServer(args, join(work, 'a'));
    b = await startServer(args, join(work, 'b'));
    lb.target.port = Number(new URL(a.connection.batchUrl).port);
  });
  after(async () => {
    await a.stop();
    await b.stop();
    cluster.stop();
    lb.server.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('both servers use one CA and one signing key: a token from A works on B', async () => {
    assert.equal(
      readFileSync(a.connection.caCertPath, 'utf8'),
      readFileSync(b.connection.caCertPath, 'utf8'),
      'one CA',
    );
    // The balancer sends the sign-in to A; the token is then used on B directly.
    const token = await credentialFor(viaBalancer(a.connection)).getToken(
      'https://batch.core.windows.net//.default',
    );
    assert.ok(token);
    const onB = new BatchServiceClient(
      new TokenCredentials(token.token),
      new URL(b.connection.batchUrl).origin,
    );
    const images = await onB.account.listSupportedImages();
    assert.ok(images.length > 0);
  });

  test('a server given another sealing key refuses to start on the database, naming the key', async () => {
    const otherKey = join(work, 'other.key');
    writeFileSync(otherKey, randomBytes(32), { mode: 0o600 });
    const wrong = args.map((v, i) => (args[i - 1] === '--sealing-key-file' ? otherKey : v));
    await assert.rejects(startServer(wrong, join(work, 'c')), /sealed with another sealing key/);
  });

  test('a token of a server on another database is refused', async () => {
    const other = await startServer(['--node-backend', 'simulated', '--in-memory']);
    try {
      const token = await credentialFor(other.connection).getToken(
        'https://batch.core.windows.net//.default',
      );
      assert.ok(token);
      const onB = new BatchServiceClient(
        new TokenCredentials(token.token),
        new URL(b.connection.batchUrl).origin,
      );
      await assert.rejects(onB.account.listSupportedImages(), (err: { statusCode?: number }) => {
        assert.equal(err.statusCode, 401);
        return true;
      });
    } finally {
      await other.stop();
    }
  });

  test('a pool made through A is read through B; tasks added through both; A killed; B finishes', async () => {
    const batchA = sharedKeyBatch(a);
    const batchB = sharedKeyBatch(b);
    await batchA.pool.add(tinyPoolSpec('shared-pool', NODES, { taskSlotsPerNode: 4 }));
    assert.equal((await batchB.pool.get('shared-pool')).targetDedicatedNodes, NODES);
    await batchB.job.add({ id: 'shared-job', poolInfo: { poolId: 'shared-pool' } });
    const ids = Array.from({ length: TASKS }, (_, i) => `t${String(i).padStart(3, '0')}`);
    const half = TASKS / 2;
    for (let i = 0; i < half; i += 100) {
      await batchA.task.addCollection(
        'shared-job',
        ids.slice(i, i + 100).map((id) => ({ id, commandLine: `/bin/sh -c "echo ${id}"` })),
      );
    }
    for (let i = half; i < TASKS; i += 100) {
      await batchB.task.addCollection(
        'shared-job',
        ids.slice(i, i + 100).map((id) => ({ id, commandLine: `/bin/sh -c "echo ${id}"` })),
      );
    }
    // A (the first to start, so the leader) dies while the pool is still being allocated.
    const before = await batchB.computeNode.list('shared-pool');
    assert.ok(
      before.length < NODES || before.some((n) => n.state !== 'idle'),
      'the resize is still under way',
    );
    a.process.kill('SIGKILL');
    lb.target.port = Number(new URL(b.connection.batchUrl).port);
    const nodes = await waitFor(
      () => batchB.computeNode.list('shared-pool'),
      (ns) => ns.length === NODES && ns.every((n) => n.state === 'idle'),
      `${String(NODES)} idle nodes through B`,
      180_000,
    );
    assert.equal(nodes.length, NODES);
    const counts = await waitFor(
      () => batchB.job.getTaskCounts('shared-job'),
      (c) => c.taskCounts.completed === TASKS,
      `${String(TASKS)} completed tasks`,
      180_000,
    );
    assert.equal(counts.taskCounts.succeeded, TASKS, 'every task succeeded');
    assert.equal(counts.taskCounts.failed, 0);
    const pool = await batchB.pool.get('shared-pool');
    assert.equal(pool.allocationState, 'steady');
    assert.deepEqual(pool.resizeErrors ?? [], []);
    const listed = [];
    for (const t of await batchB.task.list('shared-job', { taskListOptions: { maxResults: 1000 } }))
      listed.push(t);
    assert.equal(new Set(listed.map((t) => t.id)).size, TASKS, 'each task once');
    assert.ok(listed.every((t) => t.state === 'completed' && t.executionInfo?.exitCode === 0));
  });
});
