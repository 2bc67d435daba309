import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { runCli, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

const run = promisify(execFile);

interface Job {
  job_id: number;
  name: string;
  job_state: string;
  nodes: string;
}

/**
 * `--node-backend slurm` (issue 14, slice 2) on a 3-host `lazurite cluster`: each Batch node is a Slurm job whose
 * step runs the node's agent on the host Slurm picked; @azure/batch drives the server.
 */
describe('the slurm node backend', () => {
  let base: string;
  let stateDir: string;
  let server: TestServer;
  let batch: BatchServiceClient;
  const pool = 'slurmpool';
  const squeue = async (): Promise<Job[]> => {
    const { stdout } = await run('squeue', ['--json'], {
      env: { ...process.env, SLURM_CONF: join(stateDir, 'slurm.conf') },
      maxBuffer: 64 * 1024 * 1024,
    });
    return (JSON.parse(stdout) as { jobs: Job[] }).jobs;
  };
  /** Batch node id → Slurm host, from the running jobs (named `lz-<tag>.<account>.<pool>.<node>`). */
  const hostsOfNodes = async () =>
    new Map(
      (await squeue())
        .filter((j) => j.job_state === 'RUNNING')
        .map((j) => [j.name.split('.').at(-1) ?? '', j.nodes] as const),
    );

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'lazurite-slurm-'));
    stateDir = join(base, 'cluster');
    // 3 CPUs per host: at most three 1-core nodes (standard_a1_v2) per host, so 9 nodes need all three hosts.
    const info = JSON.parse(
      await runCli([
        'cluster',
        'up',
        '--hosts',
        '3',
        '--cpus-per-host',
        '3',
        '--state-dir',
        stateDir,
        '--network',
        '10.252.9.0/24',
        '--controller-port',
        '6837',
        '--json',
      ]),
    ) as { serverArgs: string[] };
    server = await startServer(info.serverArgs);
    batch = sharedKeyBatch(server);
  });
  after(async () => {
    await server.stop();
    await runCli(['cluster', 'down', '--state-dir', stateDir]);
    rmSync(base, { recursive: true, force: true });
  });

  test('a 9-node pool is 9 Slurm jobs on the three hosts, and every node comes up idle', async () => {
    await batch.pool.add(
      tinyPoolSpec(pool, 9, {
        startTask: {
          commandLine: '/bin/sh -c "hostname > $AZ_BATCH_NODE_SHARED_DIR/started"',
          waitForSuccess: true,
        },
      }),
    );
    const nodes = await waitFor(
      async () => batch.computeNode.list(pool),
      (list) => list.length === 9 && list.every((n) => n.state === 'idle'),
      '9 idle nodes',
      180_000,
    );
    const hosts = await hostsOfNodes();
    assert.equal(hosts.size, 9);
    assert.deepEqual(
      new Set(nodes.map((n) => hosts.get(n.id ?? '')).sort()),
      new Set(['lzh1', 'lzh2', 'lzh3']),
    );

    // No shared file system for images: each host pulled the image's blobs over HTTPS into its own cache.
    for (const h of ['lzh1', 'lzh2', 'lzh3']) {
      const blobs = join(stateDir, 'hosts', h, 'agent', 'regions', 'westeurope', 'blobs', 'sha256');
      assert.ok(readdirSync(blobs).length > 0, `${h} holds the image's blobs`);
    }
  });

  test('tasks run on every host; killing a host makes its nodes unusable and every task still completes', async () => {
    await batch.job.add({ id: 'sj', poolInfo: { poolId: pool } });
    const count = 36;
    await batch.task.addCollection(
      'sj',
      Array.from({ length: count }, (_, i) => ({ id: `t${String(i)}`, commandLine: '/bin/sh -c "sleep 6"' })),
    );
    const hosts = await hostsOfNodes();
    // Wait until tasks run on lzh2's nodes, then pull its plug: slurmd and everything it runs die at once.
    await waitFor(
      async () => batch.task.list('sj'),
      (list) => list.some((t) => t.state === 'running' && hosts.get(t.nodeInfo?.nodeId ?? '') === 'lzh2'),
      'a task running on lzh2',
      120_000,
    );
    const atKill = await batch.task.list('sj');
    await runCli(['cluster', 'kill-host', 'lzh2', '--state-dir', stateDir]);
    const killed = [...hosts].filter(([, h]) => h === 'lzh2').map(([id]) => id);
    assert.equal(killed.length, 3);
    const nodes = await waitFor(
      async () => batch.computeNode.list(pool),
      (list) => killed.every((id) => list.find((n) => n.id === id)?.state === 'unusable'),
      "lzh2's nodes unusable",
      120_000,
    );
    for (const id of killed) {
      const errors = nodes.find((n) => n.id === id)?.errors ?? [];
      assert.ok(errors.length > 0, `node ${id} says why it is unusable`);
      assert.match(errors[0]?.message ?? '', /allocation/);
    }
    const tasks = await waitFor(
      async () => batch.task.list('sj'),
      (list) => list.length === count && list.every((t) => t.state === 'completed'),
      'every task completed',
      240_000,
    );
    const before = new Map(atKill.map((t) => [t.id ?? '', t]));
    const ran = new Set<string>();
    let moved = 0;
    for (const t of tasks) {
      assert.equal(t.executionInfo?.exitCode, 0, `task ${t.id ?? ''}`);
      const was = before.get(t.id ?? '');
      const onKilled = killed.includes(t.nodeInfo?.nodeId ?? '');
      // A task ends on a node of the killed host only if it had completed there before the kill.
      if (onKilled)
        assert.equal(was?.state, 'completed', `task ${t.id ?? ''} completed on lzh2 after the kill`);
      if (was?.state === 'running' && killed.includes(was.nodeInfo?.nodeId ?? '')) {
        // Running on the lost host: requeued once, and completed elsewhere.
        assert.equal(onKilled, false);
        assert.ok(t.executionInfo.requeueCount >= 1, `task ${String(t.id)} was requeued`);
        moved++;
      }
      ran.add(hosts.get(t.nodeInfo?.nodeId ?? '') ?? '');
    }
    assert.ok(moved > 0, 'some tasks ran on lzh2 when it died and finished elsewhere');
    // Tasks ran on every host: lzh2's were running there when it died.
    for (const t of atKill) if (t.state !== 'active') ran.add(hosts.get(t.nodeInfo?.nodeId ?? '') ?? '');
    assert.deepEqual([...ran].sort(), ['lzh1', 'lzh2', 'lzh3']);
  });

  test('deleting the pool cancels every job', async () => {
    await batch.pool.deleteMethod(pool);
    await waitFor(
      async () => (await batch.pool.list()).filter((p) => p.id === pool).length,
      (n) => n === 0,
      'the pool gone',
      120_000,
    );
    await waitFor(
      async () =>
        (await squeue()).filter(
          (j) => !['CANCELLED', 'COMPLETED', 'FAILED', 'NODE_FAIL'].includes(j.job_state),
        ),
      (live) => live.length === 0,
      'no live Slurm job',
      60_000,
    );
  });
});
