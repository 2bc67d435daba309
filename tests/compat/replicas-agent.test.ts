import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { balancer } from './balancer.ts';
import { startThrowawayCluster, type ThrowawayCluster } from '../../src/storage/postgres/cluster.fixture.ts';
import { REPO_ROOT, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * The usual deployment of ADR 0033 with real nodes: two servers without nodes of their own (`--node-backend
 * remote`) on one PostgreSQL, behind a balancer, and one `lazurite agent` in another process that runs real
 * sandboxes on this host and pulls its images over HTTPS from whichever server the balancer picks. The server
 * holding the loops lease is killed with SIGKILL mid-run; the agent keeps its nodes, reconnects through the
 * balancer to the other server, and every task completes exactly once.
 */
describe('two servers, one database, a separate host agent with real nodes', () => {
  const TASKS = 60;
  const NODES = 2;
  let cluster: ThrowawayCluster;
  let work: string;
  let a: TestServer;
  let b: TestServer;
  let agent: ChildProcess;
  let agentLog = '';
  const lb = balancer();

  before(async () => {
    await new Promise<void>((r) => lb.server.listen(0, '127.0.0.1', r));
    cluster = startThrowawayCluster();
    const url = await cluster.newDatabase();
    work = mkdtempSync(join(tmpdir(), 'lazurite-replicas-agent-'));
    const keyFile = join(work, 'sealing.key');
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    const origin = `https://127.0.0.1:${String(lb.port())}`;
    const args = [
      ...['--node-backend', 'remote', '--database-url', url, '--sealing-key-file', keyFile],
      ...['--public-url', origin, '--node-network', '10.221.0.0/16'],
    ];
    a = await startServer(args, join(work, 'a'));
    b = await startServer(args, join(work, 'b'));
    lb.target.port = Number(new URL(a.connection.batchUrl).port);
    // The agent token and the CA come from the database, so either server's copy is the same.
    assert.equal(
      readFileSync(join(a.dataDir, 'agent-token'), 'utf8'),
      readFileSync(join(b.dataDir, 'agent-token'), 'utf8'),
      'one agent token',
    );
    agent = spawn(
      join(REPO_ROOT, 'bin', 'lazurite'),
      [
        ...['agent', '--server', origin, '--host-id', 'agent-host', '--node-backend', 'local'],
        ...['--pull-images', '--data-dir', join(work, 'agent'), '--ca', a.connection.caCertPath],
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          LAZURITE_AGENT_TOKEN: readFileSync(join(a.dataDir, 'agent-token'), 'utf8').trim(),
        },
      },
    );
    agent.stdout?.on('data', (d: Buffer) => (agentLog += d.toString()));
    agent.stderr?.on('data', (d: Buffer) => (agentLog += d.toString()));
  });
  after(async () => {
    if (agent.exitCode === null) {
      const exited = new Promise((r) => agent.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    await a.stop();
    await b.stop();
    cluster.stop();
    lb.server.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('nodes run on the agent; the leader is killed mid-run; the other server finishes every task once', async () => {
    const batchA = sharedKeyBatch(a);
    const batchB = sharedKeyBatch(b);
    await batchA.pool.add(tinyPoolSpec('agent-pool', NODES, { taskSlotsPerNode: 2 }));
    const nodes = await waitFor(
      () => batchB.computeNode.list('agent-pool'),
      (ns) => ns.length === NODES && ns.every((n) => n.state === 'idle'),
      `${String(NODES)} idle nodes on the agent (agent log: ${agentLog.slice(-2000)})`,
      300_000,
    );
    assert.equal(new Set(nodes.map((n) => n.ipAddress)).size, NODES, 'each node has its own address');
    await batchB.job.add({ id: 'agent-job', poolInfo: { poolId: 'agent-pool' } });
    const ids = Array.from({ length: TASKS }, (_, i) => `t${String(i).padStart(2, '0')}`);
    // Each task writes a file into the node's shared folder, so a second run of a task would be seen.
    const task = (id: string) => ({
      id,
      commandLine: `/bin/sh -c "sleep 1; echo ${id} >> $AZ_BATCH_NODE_SHARED_DIR/runs"`,
    });
    await batchA.task.addCollection('agent-job', ids.slice(0, TASKS / 2).map(task));
    await batchB.task.addCollection('agent-job', ids.slice(TASKS / 2).map(task));
    const atKill = await batchB.job.getTaskCounts('agent-job');
    assert.ok(atKill.taskCounts.completed < TASKS / 2, 'most tasks are still to run when the leader dies');
    a.process.kill('SIGKILL');
    lb.target.port = Number(new URL(b.connection.batchUrl).port);
    const counts = await waitFor(
      () => batchB.job.getTaskCounts('agent-job'),
      (c) => c.taskCounts.completed === TASKS,
      `${String(TASKS)} completed tasks through B`,
      300_000,
    );
    assert.equal(counts.taskCounts.succeeded, TASKS, 'every task succeeded');
    const listed = [];
    for (const t of await batchB.task.list('agent-job', { taskListOptions: { maxResults: 1000 } }))
      listed.push(t);
    assert.equal(new Set(listed.map((t) => t.id)).size, TASKS);
    assert.ok(listed.every((t) => t.executionInfo?.exitCode === 0 && t.executionInfo.retryCount === 0));
    // Every run, counted on the nodes themselves: each task ran exactly once.
    const runs: string[] = [];
    for (const n of await batchB.computeNode.list('agent-pool')) {
      const file = await batchB.file.getFromComputeNode('agent-pool', n.id ?? '', 'shared/runs');
      const text = await new Response(file.readableStreamBody as unknown as ReadableStream).text();
      runs.push(...text.split('\n').filter(Boolean));
    }
    assert.deepEqual(runs.sort(), [...ids].sort(), 'each task ran once, on the agent');
    assert.equal(agent.exitCode, null, 'the agent outlived the leader');
  });
});
