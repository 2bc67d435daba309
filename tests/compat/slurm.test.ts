import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { BatchServiceClient, type BatchServiceModels } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import {
  computeClient,
  credentialFor,
  runCli,
  startInProcessServer,
  type InProcessServer,
} from './harness.ts';
import { buildToolImage, waitFor } from './pool-image.ts';

const run = promisify(execFile);

interface Job {
  job_id: number;
  name: string;
  job_state: string;
  nodes: string;
  partition: string;
}

/** Server time that runs with the wall clock plus an offset the test moves forward (no sleeping on wall time). */
class ShiftedClock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

const HOSTS = ['lzh1', 'lzh2', 'lzh3'];
const TASKS = 300;
const LIVE = (j: Job) =>
  !['CANCELLED', 'COMPLETED', 'FAILED', 'NODE_FAIL', 'PREEMPTED'].includes(j.job_state);

/**
 * `--node-backend slurm` (issue 14) on a 3-host `lazurite cluster`, driven with @azure/batch (and @azure/arm-compute
 * for the image): each Batch node is a Slurm job whose step runs the node's agent on the host Slurm picked. The
 * server runs in this process so that its clock can be moved (the resize timeout). Every host pulls the gallery
 * image over HTTPS into its own cache.
 */
describe('the slurm node backend', () => {
  let base: string;
  let stateDir: string;
  let server: InProcessServer;
  let batch: BatchServiceClient;
  const clock = new ShiftedClock();
  const pool = 'slurmpool';
  const slurm = async (cmd: string, args: string[]) =>
    (
      await run(cmd, args, {
        env: { ...process.env, SLURM_CONF: join(stateDir, 'slurm.conf') },
        maxBuffer: 64 * 1024 * 1024,
      })
    ).stdout;
  const squeue = async (): Promise<Job[]> =>
    (JSON.parse(await slurm('squeue', ['--json'])) as { jobs: Job[] }).jobs;
  /** This server's jobs (named `lz-<tag>.<account>.<pool>.<node>`) of one pool. */
  const jobsOf = async (poolId: string) => (await squeue()).filter((j) => j.name.includes(`.${poolId}.`));
  /** Batch node id → Slurm host, from the running jobs. */
  const hostsOfNodes = async (poolId = pool) =>
    new Map(
      (await jobsOf(poolId))
        .filter((j) => j.job_state === 'RUNNING')
        .map((j) => [j.name.split('.').at(-1) ?? '', j.nodes] as const),
    );
  const text = async (poolId: string, nodeId: string, path: string) => {
    const file = await batch.file.getFromComputeNode(poolId, nodeId, path);
    return new Response(file.readableStreamBody as unknown as ReadableStream).text();
  };
  let versionId: string;

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
    server = await startInProcessServer(info.serverArgs, clock, {
      LAZURITE_PREEMPTION_RECOVERY_SECONDS: '2',
    });
    const c = server.connection;
    ({ versionId } = await buildToolImage(computeClient(c), c.resourceGroup, [{ name: 'westeurope' }]));
    // Pools from gallery images need an Entra token (SharedKey is refused once Compute resources are linked).
    const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
    batch = new BatchServiceClient(new TokenCredentials(token.token), new URL(c.batchUrl).origin);
  });
  after(async () => {
    await server.stop();
    await runCli(['cluster', 'down', '--state-dir', stateDir]);
    rmSync(base, { recursive: true, force: true });
  });

  test('a 9-node pool from a gallery image is 9 Slurm jobs on the three hosts; every start task reads its data', async () => {
    await batch.pool.add({
      id: pool,
      vmSize: 'standard_a1_v2',
      virtualMachineConfiguration: {
        imageReference: { virtualMachineImageId: versionId },
        nodeAgentSKUId: 'batch.node.lazurite tiny',
      },
      targetDedicatedNodes: 9,
      taskSlotsPerNode: 2,
      startTask: {
        commandLine: "/bin/sh -c '/opt/tool/run node; cat /opt/data/ref.txt /datadrive/ref.txt'",
        userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'admin' } },
        waitForSuccess: true,
      },
    });
    const nodes = await waitFor(
      async () => batch.computeNode.list(pool),
      (list) =>
        list.length === 9 &&
        list.every((n) => ['idle', 'starttaskfailed', 'unusable'].includes(n.state ?? '')),
      '9 started nodes',
      240_000,
    );
    assert.deepEqual(
      nodes.map((n) => [n.state, n.errors]),
      nodes.map(() => ['idle', undefined]),
    );
    const hosts = await hostsOfNodes();
    assert.equal(hosts.size, 9);
    assert.deepEqual(new Set(nodes.map((n) => hosts.get(n.id ?? ''))), new Set(HOSTS));
    for (const n of nodes)
      assert.equal(
        await text(pool, n.id ?? '', 'startup/stdout.txt'),
        'tool-v1 node\nos-disk-data-7\nreference-data-42\n',
      );
    // No shared file system for images: each host pulled the image's blobs over HTTPS into its own cache, from the
    // replica in the account's region (westeurope) and from no other.
    for (const h of HOSTS) {
      const regions = join(stateDir, 'hosts', h, 'agent', 'regions');
      assert.deepEqual(readdirSync(regions), ['westeurope'], `${h} pulled from the account's region only`);
      assert.ok(
        readdirSync(join(regions, 'westeurope', 'blobs', 'sha256')).length > 0,
        `${h} holds the blobs`,
      );
    }
  });

  test('300 tasks run on every host; killing a host makes its nodes unusable and every task completes once', async () => {
    await batch.job.add({ id: 'sj', poolInfo: { poolId: pool } });
    const ids = Array.from({ length: TASKS }, (_, i) => `t${String(i)}`);
    for (let i = 0; i < ids.length; i += 100)
      await batch.task.addCollection(
        'sj',
        ids.slice(i, i + 100).map((id) => ({
          id,
          // The marker is written after the work: a run killed halfway leaves none.
          commandLine: '/bin/sh -c "sleep 2 && echo $AZ_BATCH_TASK_ID >> $AZ_BATCH_NODE_SHARED_DIR/done"',
        })),
      );
    const hosts = await hostsOfNodes();
    const killed = [...hosts].filter(([, h]) => h === 'lzh2').map(([id]) => id);
    assert.equal(killed.length, 3);
    // Once a third of the tasks are done and some run on lzh2, pull its plug: slurmd and all it runs die at once.
    await waitFor(
      async () => batch.task.list('sj'),
      (list) =>
        list.filter((t) => t.state === 'completed').length >= TASKS / 3 &&
        list.some((t) => t.state === 'running' && killed.includes(t.nodeInfo?.nodeId ?? '')),
      'tasks running on lzh2 after a third completed',
      240_000,
    );
    await runCli(['cluster', 'kill-host', 'lzh2', '--state-dir', stateDir]);
    // Nothing completes on lzh2 from now on: what it completed before is in this list.
    const afterKill = new Map((await batch.task.list('sj')).map((t) => [t.id ?? '', t]));
    const nodes = await waitFor(
      async () => batch.computeNode.list(pool),
      (list) => killed.every((id) => list.find((n) => n.id === id)?.state === 'unusable'),
      "lzh2's nodes unusable",
      120_000,
    );
    for (const id of killed) {
      const errors = nodes.find((n) => n.id === id)?.errors ?? [];
      assert.equal(errors[0]?.code, 'NodeAllocationLost', `node ${id} says why it is unusable`);
      assert.match(errors[0].message ?? '', /allocation \d+ ended \(NODE_FAIL/);
    }
    const tasks = await waitFor(
      async () => batch.task.list('sj'),
      (list) => list.length === TASKS && list.every((t) => t.state === 'completed'),
      'every task completed',
      300_000,
    );
    const counts = await batch.job.getTaskCounts('sj');
    assert.deepEqual(
      [counts.taskCounts.completed, counts.taskCounts.succeeded, counts.taskCounts.failed],
      [TASKS, TASKS, 0],
    );
    // Every run that completed on a surviving node left one marker there: each task's last run, and no other.
    const markers = new Map<string, string[]>();
    for (const n of nodes.filter((x) => !killed.includes(x.id ?? ''))) {
      // A node that never completed a task has no marker file.
      const file = await text(pool, n.id ?? '', 'shared/done').catch((e: unknown) => {
        if ((e as { statusCode?: number }).statusCode === 404) return '';
        throw e;
      });
      const done = file.split('\n').filter((l) => l !== '');
      for (const id of done) markers.set(id, [...(markers.get(id) ?? []), n.id ?? '']);
    }
    let moved = 0;
    for (const t of tasks) {
      const id = t.id ?? '';
      const node = t.nodeInfo?.nodeId ?? '';
      assert.equal(t.executionInfo?.exitCode, 0, `task ${id}`);
      assert.equal(t.executionInfo.retryCount, 0, `task ${id} never failed`);
      if (killed.includes(node)) {
        // It completed on lzh2 before the kill, and never ran again.
        assert.equal(afterKill.get(id)?.state, 'completed', `task ${id} completed on lzh2 after the kill`);
        assert.equal(markers.get(id), undefined, `task ${id} ran again after it completed`);
      } else {
        assert.deepEqual(markers.get(id), [node], `task ${id} completed exactly once, on ${node}`);
      }
      const was = afterKill.get(id);
      if (was?.state === 'running' && killed.includes(was.nodeInfo?.nodeId ?? '')) {
        // Running on lzh2 when it died: requeued (not a retry), and completed once elsewhere.
        assert.equal(killed.includes(node), false);
        assert.ok(t.executionInfo.requeueCount >= 1, `task ${id} was requeued`);
        moved++;
      }
    }
    assert.ok(moved > 0, 'tasks running on lzh2 when it died finished elsewhere');
    const ran = new Set(tasks.map((t) => hosts.get(t.nodeInfo?.nodeId ?? '')));
    assert.deepEqual([...ran].sort(), HOSTS, 'tasks completed on every host');
  });

  test('a resize beyond the cluster ends AllocationTimedout after resizeTimeout: running nodes kept, pending jobs cancelled', async () => {
    // lzh2 is down: the 6 cores of lzh1 and lzh3 hold the 6 usable nodes, so 2 more can only wait in the queue.
    const before = await batch.computeNode.list(pool);
    await batch.pool.resize(pool, { targetDedicatedNodes: before.length + 2, resizeTimeout: 'PT5M' });
    await waitFor(
      async () => ({
        pending: (await jobsOf(pool)).filter((j) => j.job_state === 'PENDING').length,
        creating: (await batch.computeNode.list(pool)).filter((n) => n.state === 'creating').length,
      }),
      (v) => v.creating > 0 && v.pending === v.creating,
      'a pending job for each new node',
      60_000,
    );
    assert.equal((await batch.pool.get(pool)).allocationState, 'resizing');
    clock.offsetMs += 6 * 60_000; // the server's clock passes resizeTimeout; nobody sleeps
    const p = await waitFor(
      async () => batch.pool.get(pool),
      (x) => x.allocationState === 'steady',
      'the pool steady again',
      60_000,
    );
    assert.deepEqual(
      p.resizeErrors?.map((e) => e.code),
      ['AllocationTimedout'],
    );
    const key = (list: BatchServiceModels.ComputeNode[]) =>
      JSON.stringify(list.map((n) => [n.id, n.state]).sort());
    // The nodes that were there are kept; the ones that never got a host leave.
    await waitFor(
      async () => batch.computeNode.list(pool),
      (list) => key(list) === key(before),
      'the nodes before the resize, and only those',
      60_000,
    );
    await waitFor(
      async () => (await jobsOf(pool)).filter((j) => j.job_state === 'PENDING').length,
      (n) => n === 0,
      'the pending jobs cancelled',
      30_000,
    );
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
      async () => (await jobsOf(pool)).filter(LIVE),
      (live) => live.length === 0,
      'no live Slurm job',
      60_000,
    );
  });

  test('a Slurm preemption of a low-priority node makes it preempted; its task is requeued and it comes back', async () => {
    const low = 'lowpool';
    await batch.pool.add({
      id: low,
      vmSize: 'standard_a1_v2',
      virtualMachineConfiguration: {
        imageReference: { virtualMachineImageId: versionId },
        nodeAgentSKUId: 'batch.node.lazurite tiny',
      },
      targetDedicatedNodes: 0,
      targetLowPriorityNodes: 2,
    });
    await waitFor(
      async () => batch.computeNode.list(low),
      (list) => list.length === 2 && list.every((n) => n.state === 'idle'),
      '2 idle low-priority nodes',
      120_000,
    );
    assert.deepEqual(
      (await jobsOf(low)).map((j) => j.partition),
      ['preemptible', 'preemptible'],
    );
    await batch.job.add({ id: 'lj', poolInfo: { poolId: low } });
    await batch.task.add('lj', { id: 'long', commandLine: '/bin/sh -c "sleep 8"' });
    const running = await waitFor(
      async () => batch.task.get('lj', 'long'),
      (t) => t.state === 'running',
      'the task running',
      60_000,
    );
    const victim = running.nodeInfo?.nodeId ?? '';
    const host = (await hostsOfNodes(low)).get(victim) ?? '';
    // Higher-priority work (the batch partition) wants all of that host's cores: Slurm cancels the
    // low-priority job there (PREEMPTED).
    await slurm('sbatch', [
      '-p',
      'batch',
      '-w',
      host,
      '-c',
      '3',
      '-J',
      'urgent',
      '-o',
      '/dev/null',
      '--wrap',
      'sleep 600',
    ]);
    // The urgent job is cancelled whatever happens here, so it cannot hold a host's cores for the next tests.
    try {
      const preempted = await waitFor(
        async () => batch.computeNode.get(low, victim),
        (n) => n.state !== 'idle' && n.state !== 'running',
        'the node preempted',
        60_000,
      );
      assert.equal(preempted.state, 'preempted');
      assert.deepEqual(preempted.errors ?? [], []);
      assert.ok(
        (await jobsOf(low)).some((j) => j.job_state === 'PREEMPTED' && j.name.endsWith(`.${victim}`)),
      );
      const done = await waitFor(
        async () => batch.task.get('lj', 'long'),
        (t) => t.state === 'completed',
        'the task completed',
        120_000,
      );
      assert.equal(done.executionInfo?.exitCode, 0);
      assert.ok(done.executionInfo.requeueCount >= 1, 'the task was requeued, not failed');
      // The capacity comes back (the sizer's recovery delay): the node gets a new job, on a host with room.
      await waitFor(
        async () => batch.computeNode.get(low, victim),
        (n) => n.state === 'idle',
        'the preempted node back',
        120_000,
      );
    } finally {
      const urgent = (await squeue()).filter((j) => j.name === 'urgent');
      await slurm(
        'scancel',
        urgent.map((j) => String(j.job_id)),
      );
    }
    await batch.pool.deleteMethod(low);
    await waitFor(
      async () => (await jobsOf(low)).filter(LIVE),
      (live) => live.length === 0,
      'no live Slurm job of the low-priority pool',
      120_000,
    );
  });
  test("a host that cannot pull the image makes its nodes unusable with a pull error; the other host's come up", async () => {
    // lzh3's image cache is broken (its regions folder is a file: no store can open there); lzh1's is warm.
    const regions = join(stateDir, 'hosts', 'lzh3', 'agent', 'regions');
    rmSync(regions, { recursive: true, force: true });
    writeFileSync(regions, 'not a folder\n');
    const bad = 'pullpool';
    // 6 one-core nodes fill lzh1 and lzh3 (lzh2 is down): three land on each.
    await batch.pool.add({
      id: bad,
      vmSize: 'standard_a1_v2',
      virtualMachineConfiguration: {
        imageReference: { virtualMachineImageId: versionId },
        nodeAgentSKUId: 'batch.node.lazurite tiny',
      },
      targetDedicatedNodes: 6,
    });
    const nodes = await waitFor(
      async () => batch.computeNode.list(bad),
      (list) => list.length === 6 && list.every((n) => n.state === 'idle' || n.state === 'unusable'),
      '6 nodes idle or unusable',
      180_000,
    );
    const hosts = await hostsOfNodes(bad);
    for (const n of nodes) {
      const host = hosts.get(n.id ?? '');
      if (host === 'lzh3') {
        assert.equal(n.state, 'unusable', `${String(n.id)} on lzh3`);
        assert.equal(n.errors?.[0]?.code, 'ContainerInvalidImage');
        assert.match(
          n.errors[0].message ?? '',
          /could not be pulled from the replica in region 'westeurope'/,
        );
      } else {
        assert.deepEqual([host, n.state], ['lzh1', 'idle']);
      }
    }
    assert.equal([...hosts.values()].filter((h) => h === 'lzh3').length, 3);
    await batch.pool.deleteMethod(bad);
    await waitFor(
      async () => (await jobsOf(bad)).filter(LIVE),
      (live) => live.length === 0,
      'no live Slurm job of the pool',
      120_000,
    );
  });
});
