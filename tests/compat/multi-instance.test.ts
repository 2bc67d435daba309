import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { failsWith, sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Multi-instance tasks (issue 16 item 2, ADR 0038) with @azure/batch on real local nodes: a 3-node pool with
 * inter-node communication; every instance fetches the common resource files into AZ_BATCH_TASK_SHARED_DIR and runs
 * the coordination command line, which leaves a TCP service (busybox httpd) running in the background; the primary's
 * command line then reaches every address of AZ_BATCH_HOST_LIST and prints who answered.
 */

/** The coordination script, served to the nodes as a common resource file: publish who this instance is. */
const PEER_SCRIPT = [
  'mkdir -p "$AZ_BATCH_TASK_SHARED_DIR/www"',
  'echo "$(hostname) master=$AZ_BATCH_IS_CURRENT_NODE_MASTER" > "$AZ_BATCH_TASK_SHARED_DIR/www/id"',
  'httpd -p 6001 -h "$AZ_BATCH_TASK_SHARED_DIR/www"',
  '',
].join('\n');

/** The primary's command line: ask every node of the host list who it is (retrying while a listener starts). */
const RENDEZVOUS_SCRIPT =
  `for h in $(echo $AZ_BATCH_HOST_LIST | tr , " "); do ` +
  `ok=; for i in $(seq 50); do wget -q -O - http://$h:6001/id && ok=1 && break; sleep 0.1; done; ` +
  `[ -n "$ok" ] || exit 3; done; echo "master-node=$AZ_BATCH_MASTER_NODE"`;
const RENDEZVOUS = `/bin/sh -c '${RENDEZVOUS_SCRIPT}'`;

async function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream ?? []) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

/** A 3-node pool that runs multi-instance tasks, its job, and an HTTP server on the nodes' gateway. */
async function mpiPool(
  batch: BatchServiceClient,
): Promise<{ http: Server; scriptUrl: string; goUrl: string; asked: () => number; release: () => void }> {
  await batch.pool.add(tinyPoolSpec('mpi', 3, { taskSlotsPerNode: 1, enableInterNodeCommunication: true }));
  const nodes = await waitFor(
    () => batch.computeNode.list('mpi'),
    (ns) => ns.length === 3 && ns.every((n) => n.state === 'idle'),
    '3 idle nodes',
    300_000,
  );
  await batch.job.add({ id: 'mpijob', poolInfo: { poolId: 'mpi' } });
  const gateway = (nodes[0]?.ipAddress ?? '').replace(/\.\d+$/, '.1');
  // `/go` answers `wait` until the test releases it (the crash test's primary holds on it), and counts the asks.
  const gate = { released: false, asked: 0 };
  const http = createServer((req, res) => {
    if (req.url !== '/go') return res.end(PEER_SCRIPT);
    gate.asked++;
    return res.end(gate.released ? 'go' : 'wait');
  });
  await new Promise<void>((resolve) => http.listen(0, gateway, resolve));
  const address = http.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const base = `http://${gateway}:${String(port)}`;
  return {
    http,
    scriptUrl: `${base}/peer.sh`,
    goUrl: `${base}/go`,
    asked: () => gate.asked,
    release: () => {
      gate.released = true;
    },
  };
}

const rendezvousTask = (id: string, scriptUrl: string, numberOfInstances = 3) => ({
  id,
  commandLine: RENDEZVOUS,
  multiInstanceSettings: {
    numberOfInstances,
    coordinationCommandLine: '/bin/sh -c \'sh "$AZ_BATCH_TASK_SHARED_DIR/peer.sh"\'',
    commonResourceFiles: [{ httpUrl: scriptUrl, filePath: 'peer.sh' }],
  },
});

describe(
  'multi-instance tasks with @azure/batch (real local nodes)',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  () => {
    let server: TestServer;
    let batch: BatchServiceClient;
    let http: Server | undefined;
    let scriptUrl = '';

    before(async () => {
      server = await startServer();
      batch = sharedKeyBatch(server);
      ({ http, scriptUrl } = await mpiPool(batch));
    });
    after(async () => {
      http?.close();
      await server.stop();
    });

    const completed = (taskId: string) =>
      waitFor(
        () => batch.task.get('mpijob', taskId),
        (t) => t.state === 'completed',
        `task ${taskId} to complete`,
        120_000,
      );

    test('three instances on three nodes: the primary reaches every node of AZ_BATCH_HOST_LIST', async () => {
      await batch.task.add('mpijob', rendezvousTask('rdv', scriptUrl));
      const t = await completed('rdv');
      assert.equal(t.executionInfo?.exitCode, 0, JSON.stringify(t.executionInfo));
      assert.equal(t.executionInfo.result, 'success');
      const out = await text(
        (await batch.file.getFromTask('mpijob', 'rdv', 'stdout.txt')).readableStreamBody,
      );
      const nodes = await batch.computeNode.list('mpi');
      const lines = out.trim().split('\n');
      const answers = lines.filter((l) => !l.startsWith('master-node='));
      assert.equal(answers.length, 3, out);
      assert.deepEqual(
        answers.map((l) => l.split(' ')[0]).sort(),
        nodes.map((n) => n.id).sort(),
        'three different nodes answered',
      );
      const primary = nodes.find((n) => n.id === t.nodeInfo?.nodeId);
      assert.deepEqual(
        answers.filter((l) => l.endsWith('master=true')).map((l) => l.split(' ')[0]),
        [primary?.id],
        'only the primary is the master',
      );
      assert.equal(lines.at(-1), `master-node=${primary?.ipAddress ?? '?'}:6000`);

      const subtasks = await batch.task.listSubtasks('mpijob', 'rdv');
      const infos = subtasks.value ?? [];
      assert.deepEqual(
        infos.map((s) => s.id),
        [1, 2],
      );
      assert.deepEqual(
        [...infos.map((s) => s.nodeInfo?.nodeId), primary?.id].sort(),
        nodes.map((n) => n.id).sort(),
        'the subtasks ran on the two other nodes',
      );
      for (const s of infos) {
        assert.equal(s.state, 'completed');
        assert.equal(s.exitCode, 0);
        assert.equal(s.nodeInfo?.taskRootDirectory, `workitems/mpijob/job-1/rdv/${String(s.id)}`);
      }
      // Nodes are free again: every node is idle once the coordination services are gone.
      await waitFor(
        () => batch.computeNode.list('mpi'),
        (ns) => ns.every((n) => n.state === 'idle'),
        'the nodes to be idle again',
      );
    });

    test('gang scheduling: two 2-node tasks on a 3-node pool run one after the other, never half-held', async () => {
      await batch.task.addCollection('mpijob', [
        rendezvousTask('pair-a', scriptUrl, 2),
        rendezvousTask('pair-b', scriptUrl, 2),
      ]);
      const [a, b] = [await completed('pair-a'), await completed('pair-b')];
      for (const t of [a, b]) assert.equal(t.executionInfo?.exitCode, 0, JSON.stringify(t.executionInfo));
      const aEnd = Date.parse(String(a.executionInfo?.endTime));
      const bStart = Date.parse(String(b.executionInfo?.startTime));
      const bEnd = Date.parse(String(b.executionInfo?.endTime));
      const aStart = Date.parse(String(a.executionInfo?.startTime));
      assert.ok(aEnd <= bStart || bEnd <= aStart, 'the two tasks did not overlap (4 nodes were never held)');
    });

    test('a task wanting more instances than the pool has nodes stays active; an ordinary task still runs', async () => {
      await batch.task.add('mpijob', rendezvousTask('too-big', scriptUrl, 4));
      await batch.task.add('mpijob', { id: 'plain', commandLine: '/bin/sh -c "echo plain"' });
      const plain = await completed('plain');
      assert.equal(plain.executionInfo?.exitCode, 0);
      assert.equal((await batch.task.get('mpijob', 'too-big')).state, 'active');
      assert.deepEqual((await batch.task.listSubtasks('mpijob', 'too-big')).value, []);
      await batch.task.deleteMethod('mpijob', 'too-big');
    });

    test('a subtask whose coordination command fails fails the task, with the exit code and failureInfo', async () => {
      await batch.task.add('mpijob', {
        id: 'coord-fails',
        commandLine: '/bin/sh -c "echo should-not-run"',
        multiInstanceSettings: {
          numberOfInstances: 2,
          coordinationCommandLine: '/bin/sh -c \'[ "$AZ_BATCH_IS_CURRENT_NODE_MASTER" = true ] || exit 7\'',
        },
      });
      const t = await completed('coord-fails');
      assert.equal(t.executionInfo?.result, 'failure');
      assert.equal(t.executionInfo.exitCode, 7);
      assert.equal(t.executionInfo.failureInfo?.code, 'FailureExitCode');
      const [sub] = (await batch.task.listSubtasks('mpijob', 'coord-fails')).value ?? [];
      assert.equal(sub?.state, 'completed');
      assert.equal(sub.exitCode, 7);
    });

    test('bad multiInstanceSettings are refused with the property named', async () => {
      await assert.rejects(
        batch.task.add('mpijob', {
          id: 'zero',
          commandLine: 'true',
          multiInstanceSettings: { numberOfInstances: 0, coordinationCommandLine: 'true' },
        }),
        failsWith(400, 'InvalidPropertyValue'),
      );
      await assert.rejects(
        batch.task.add('mpijob', {
          id: 'slots',
          commandLine: 'true',
          requiredSlots: 2,
          multiInstanceSettings: { numberOfInstances: 2, coordinationCommandLine: 'true' },
        }),
        failsWith(400, 'InvalidPropertyValue'),
      );
      await assert.rejects(
        batch.task.add('mpijob', {
          id: 'blank',
          commandLine: 'true',
          multiInstanceSettings: { numberOfInstances: 2, coordinationCommandLine: ' ' },
        }),
        failsWith(400, 'MissingRequiredProperty'),
      );
      // An ordinary task has no subtasks.
      await batch.task.add('mpijob', { id: 'single', commandLine: 'true' });
      assert.deepEqual((await batch.task.listSubtasks('mpijob', 'single')).value, []);
    });
  },
);

describe(
  'multi-instance tasks survive kill -9 of the server',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  () => {
    test('a running 3-instance task completes once after a restart, its coordination services still up', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-mpi-crash-'));
      let server = await startServer([], dataDir);
      let http: Server | undefined;
      try {
        let batch = sharedKeyBatch(server);
        const pool = await mpiPool(batch);
        http = pool.http;
        // The primary holds until the test's HTTP server says `go`, so the server is killed while all three
        // instances run; it counts its starts in `wd/starts`.
        const hold = `echo start >> starts; until [ "$(wget -q -O - ${pool.goUrl})" = go ]; do sleep 0.1; done`;
        await batch.task.add('mpijob', {
          ...rendezvousTask('crash', pool.scriptUrl),
          commandLine: `/bin/sh -c '${hold}; ${RENDEZVOUS_SCRIPT} && echo run >> runs'`,
        });
        await waitFor(
          () => Promise.resolve(pool.asked()),
          (n) => n > 0,
          'the primary to hold',
        );
        const running = await batch.task.listSubtasks('mpijob', 'crash');
        assert.deepEqual(
          (running.value ?? []).map((s) => s.state),
          ['running', 'running'],
        );
        server.process.kill('SIGKILL');
        await new Promise((r) => server.process.once('exit', r));

        server = await startServer([], dataDir);
        batch = sharedKeyBatch(server);
        pool.release();
        const done = await waitFor(
          () => batch.task.get('mpijob', 'crash'),
          (x) => x.state === 'completed',
          'the task to complete after the restart',
          120_000,
        );
        assert.equal(done.executionInfo?.exitCode, 0, JSON.stringify(done.executionInfo));
        const out = await text(
          (await batch.file.getFromTask('mpijob', 'crash', 'stdout.txt')).readableStreamBody,
        );
        assert.equal(out.split('\n').filter((l) => / master=/.test(l)).length, 3, out);
        const runs = await text(
          (await batch.file.getFromTask('mpijob', 'crash', 'wd/runs')).readableStreamBody,
        );
        assert.equal(runs, 'run\n', 'the primary ran its command line once');
        const starts = await text(
          (await batch.file.getFromTask('mpijob', 'crash', 'wd/starts')).readableStreamBody,
        );
        assert.equal(
          starts,
          'start\n',
          'the restarted server attached to the running command, never started it again',
        );
        const subtasks = (await batch.task.listSubtasks('mpijob', 'crash')).value ?? [];
        assert.deepEqual(
          subtasks.map((s) => s.state),
          ['completed', 'completed'],
        );
      } finally {
        http?.close();
        await server.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  },
);
