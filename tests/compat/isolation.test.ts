import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { attackNames, attackScript, hostFacts } from '../../src/backends/local/node-attacks.fixture.ts';
import { startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Nodes as isolation boundaries (issue 13, ADR 0020), through @azure/batch on real local nodes: an admin start
 * task attacks the host (mounts, a host block device, /proc/sys, a module, /proc/1/root, host descriptors and
 * processes, the network) and is refused or sees only its node; a non-admin task cannot read root's 0600 file; a
 * fork bomb and a memory hog end their own task only while the server keeps answering /health.
 * Not attacked here: ptrace (the tiny image has no tool for it).
 */

const admin = { autoUser: { scope: 'pool' as const, elevationLevel: 'admin' as const } };
const nonadmin = { autoUser: { scope: 'pool' as const, elevationLevel: 'nonadmin' as const } };

async function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream ?? []) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

/** Runs a task to its end; its state, exit code and stdout. */
async function run(
  batch: BatchServiceClient,
  id: string,
  commandLine: string,
  extra: { nonadmin?: boolean; maxWallClockTime?: string } = {},
) {
  await batch.task.add('iso', {
    id,
    commandLine,
    userIdentity: extra.nonadmin === true ? nonadmin : admin,
    ...(extra.maxWallClockTime === undefined
      ? {}
      : { constraints: { maxWallClockTime: extra.maxWallClockTime } }),
  });
  const t = await waitFor(
    () => batch.task.get('iso', id),
    (t) => t.state === 'completed',
    `task ${id} completed`,
    120_000,
  );
  const node = t.nodeInfo?.nodeId ?? '';
  const out = await batch.file.getFromTask('iso', id, 'stdout.txt').catch(() => undefined);
  return { exitCode: t.executionInfo?.exitCode, node, stdout: await text(out?.readableStreamBody) };
}

/** Polls the server's /health while `work` runs; the number of polls and of failed ones. */
async function healthDuring<T>(
  server: TestServer,
  work: Promise<T>,
): Promise<{ result: T; polls: number; failed: number }> {
  const state = { done: false };
  let polls = 0;
  let failed = 0;
  const loop = (async () => {
    while (!state.done) {
      polls++;
      const ok = await fetch(`${server.connection.armEndpoint}/health`, {
        signal: AbortSignal.timeout(5000),
      })
        .then((r) => r.status === 200)
        .catch(() => false);
      if (!ok) failed++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return { result: await work, polls, failed };
  } finally {
    state.done = true;
    await loop;
  }
}

describe('nodes as isolation boundaries', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  test('an admin start task is refused everything of the host; tasks cannot reach root files, bombs end their own task', async () => {
    const server = await startServer();
    try {
      const batch = sharedKeyBatch(server);
      const facts = hostFacts(server.dataDir, basename(server.dataDir));
      await batch.pool.add(
        tinyPoolSpec('iso', 1, {
          startTask: { commandLine: attackScript(facts), userIdentity: admin, waitForSuccess: true },
        }),
      );
      const [node] = await waitFor(
        () => batch.computeNode.list('iso'),
        (ns) => ns.length === 1 && ns.every((n) => n.state === 'idle' || n.state === 'starttaskfailed'),
        'the node idle after its start task',
        300_000,
      );
      const nodeId = node?.id ?? '';
      assert.equal(node?.state, 'idle');
      const startOut = await batch.file.getFromComputeNode('iso', nodeId, 'startup/stdout.txt');
      const lines = (await text(startOut.readableStreamBody)).trim().split('\n');
      assert.deepEqual(
        lines,
        attackNames(facts).map((n) => `${n}: refused`),
      );

      await batch.job.add({ id: 'iso', poolInfo: { poolId: 'iso' } });
      const secret = await run(
        batch,
        'secret',
        '/bin/sh -c "umask 077; echo s3cret > $AZ_BATCH_NODE_SHARED_DIR/secret; ls -ln $AZ_BATCH_NODE_SHARED_DIR/secret"',
      );
      assert.equal(secret.exitCode, 0);
      assert.match(secret.stdout, /^-rw------- +1 0 +0 /);
      const peek = await run(
        batch,
        'peek',
        '/bin/sh -c "cat $AZ_BATCH_NODE_SHARED_DIR/secret || echo refused"',
        {
          nonadmin: true,
        },
      );
      assert.equal(peek.stdout, 'refused\n');

      const bombs = await healthDuring(
        server,
        Promise.all([
          run(batch, 'forkbomb', `/bin/sh -c 'b() { b | b; }; b'`, { maxWallClockTime: 'PT2S' }),
          run(batch, 'memhog', `/bin/sh -c 'awk "BEGIN { s = \\"x\\"; while (1) s = s s }"'`),
        ]),
      );
      const [bomb, hog] = bombs.result;
      assert.notEqual(bomb.exitCode, 0, 'the fork bomb ended (its time limit)');
      assert.equal(hog.exitCode, 137, 'the memory hog was killed by the OOM killer');
      assert.equal(bombs.failed, 0, `/health answered all ${String(bombs.polls)} polls`);
      assert.ok(bombs.polls > 0);
      const after = await run(batch, 'after', '/bin/sh -c "echo still here"');
      assert.deepEqual([after.exitCode, after.stdout, after.node], [0, 'still here\n', nodeId]);
    } finally {
      await server.stop();
    }
  });
});
