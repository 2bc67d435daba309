import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer } from './harness.ts';
import { failsWith, sharedKeyBatch, simulatedBatchServer, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Users inside nodes through @azure/batch (issue 17 item 1, issue 20 item 6, ADR 0026): a pool's userAccounts
 * run tasks as their uid, a user name the pool lacks is refused, passwords never come back on GET, task-scope
 * auto-users cannot read each other's files and every task may write the shared folder. The simulated backend
 * answers the same on the wire.
 */

const alice = {
  name: 'alice',
  password: 'correct horse battery',
  elevationLevel: 'nonadmin' as const,
  linuxUserConfiguration: { uid: 1234, gid: 1234 },
};
const taskScope = { autoUser: { scope: 'task' as const, elevationLevel: 'nonadmin' as const } };

async function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream ?? []) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

async function run(
  batch: BatchServiceClient,
  job: string,
  id: string,
  commandLine: string,
  userIdentity: object,
) {
  await batch.task.add(job, { id, commandLine, userIdentity });
  const t = await waitFor(
    () => batch.task.get(job, id),
    (t) => t.state === 'completed',
    `task ${id} completed`,
    120_000,
  );
  const out = await batch.file.getFromTask(job, id, 'stdout.txt').catch(() => undefined);
  return { exitCode: t.executionInfo?.exitCode, stdout: await text(out?.readableStreamBody) };
}

/** What every backend answers the same: validation, write-only passwords, unknown user names. */
async function wireChecks(batch: BatchServiceClient, pool: string): Promise<void> {
  const got = await batch.pool.get(pool);
  assert.deepEqual(
    got.userAccounts?.map((a) => [a.name, a.password, a.elevationLevel, a.linuxUserConfiguration?.uid]),
    [['alice', undefined, 'nonadmin', 1234]],
  );
  await assert.rejects(
    batch.pool.add(
      tinyPoolSpec(`${pool}-bad`, 0, {
        userAccounts: [{ name: 'eve', password: 'x', linuxUserConfiguration: { uid: 20005, gid: 20005 } }],
      }),
    ),
    failsWith(400, 'InvalidPropertyValue'),
  );
  await assert.rejects(
    batch.pool.add(
      tinyPoolSpec(`${pool}-dup`, 0, {
        userAccounts: [
          { name: 'eve', password: 'x' },
          { name: 'Eve', password: 'y' },
        ],
      }),
    ),
    failsWith(400, 'InvalidPropertyValue'),
  );
  await batch.job.add({ id: `${pool}-j`, poolInfo: { poolId: pool } });
  await assert.rejects(
    batch.task.add(`${pool}-j`, { id: 'ghost', commandLine: 'id -u', userIdentity: { userName: 'mallory' } }),
    (e: { statusCode?: number; body?: { code?: string; values?: { key?: string; value?: string }[] } }) =>
      failsWith(400, 'InvalidPropertyValue')(e) &&
      e.body?.values?.some((v) => v.key === 'PropertyName' && v.value === 'userIdentity.userName') === true,
  );
}

describe('users inside nodes on the simulated backend', () => {
  const env = simulatedBatchServer();
  test('accounts are kept without passwords, bad ones and unknown user names refused', async () => {
    await env.batch.pool.add(tinyPoolSpec('sim-users', 1, { userAccounts: [alice] }));
    await wireChecks(env.batch, 'sim-users');
    const t = await run(env.batch, 'sim-users-j', 'as-alice', 'id -u', { userName: 'alice' });
    assert.equal(t.exitCode, 0);
  });
});

describe('users inside local nodes', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  test('a task runs as its pool account (uid 1234); task-scope users keep their files to themselves', async () => {
    const server = await startServer();
    try {
      const batch = sharedKeyBatch(server);
      await batch.pool.add(tinyPoolSpec('users', 1, { userAccounts: [alice] }));
      await waitFor(
        () => batch.computeNode.list('users'),
        (ns) => ns.length === 1 && ns.every((n) => n.state === 'idle'),
        'the node idle',
        300_000,
      );
      await wireChecks(batch, 'users');
      const job = 'users-j';
      const asAlice = await run(
        batch,
        job,
        'as-alice',
        '/bin/sh -c "id -u; id -un; echo $AZ_BATCH_TASK_USER"',
        {
          userName: 'alice',
        },
      );
      assert.deepEqual([asAlice.exitCode, asAlice.stdout], [0, '1234\nalice\nalice\n']);

      const writer = await run(
        batch,
        job,
        'writer',
        '/bin/sh -c "umask 077; echo s3cret > $AZ_BATCH_NODE_SHARED_DIR/mine; id -u; echo $AZ_BATCH_TASK_USER_IDENTITY"',
        taskScope,
      );
      const [uid, identity] = writer.stdout.trim().split('\n');
      assert.equal(writer.exitCode, 0, 'a non-admin task writes the shared folder');
      assert.match(uid ?? '', /^20[0-5]\d\d$/, 'a task-scope uid');
      assert.equal(identity, 'TaskNonAdmin');
      const reader = await run(
        batch,
        job,
        'reader',
        '/bin/sh -c "id -u; cat $AZ_BATCH_NODE_SHARED_DIR/mine || echo refused"',
        taskScope,
      );
      const [other, verdict] = reader.stdout.trim().split('\n');
      assert.notEqual(other, uid, 'another task, another user');
      assert.equal(verdict, 'refused');
      const pooled = await run(
        batch,
        job,
        'pooled',
        '/bin/sh -c "cat $AZ_BATCH_NODE_SHARED_DIR/mine || echo refused"',
        {
          autoUser: { scope: 'pool', elevationLevel: 'nonadmin' },
        },
      );
      assert.equal(pooled.stdout, 'refused\n');
    } finally {
      await server.stop();
    }
  });
});
