import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Limits that hold (issue 20, ADR 0020 and 0025), through @azure/batch on real local nodes with 128 MiB disks
 * (`--node-disk-mb 128`): a fork bomb, a memory hog, a disk filler and a stdout flood each end their own task with
 * a failure; the server answers /health during every step; the host's disk loses at most the node's disk size
 * (the node's sparse image file never holds more); the node runs tasks again afterwards and the other pool's node
 * is untouched. The filler and the flood run as the non-admin auto-user, the way most tasks do.
 */

const DISK_MB = 128;
const MiB = 1024 * 1024;
/** Far more than the node's disk: without a limit this much would land on the host's. */
const FILL_MB = 2048;

const nonadmin = { autoUser: { scope: 'pool' as const, elevationLevel: 'nonadmin' as const } };

async function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream ?? []) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

/** Runs a task to its end: its exit code, node, stdout and stderr. */
async function run(
  batch: BatchServiceClient,
  job: string,
  id: string,
  commandLine: string,
  maxWallClockTime?: string,
) {
  await batch.task.add(job, {
    id,
    commandLine,
    userIdentity: nonadmin,
    ...(maxWallClockTime === undefined ? {} : { constraints: { maxWallClockTime } }),
  });
  const t = await waitFor(
    () => batch.task.get(job, id),
    (t) => t.state === 'completed',
    `task ${id} completed`,
    180_000,
  );
  const read = async (name: string) =>
    text((await batch.file.getFromTask(job, id, name).catch(() => undefined))?.readableStreamBody);
  return {
    exitCode: t.executionInfo?.exitCode,
    result: t.executionInfo?.result,
    node: t.nodeInfo?.nodeId ?? '',
    stdout: await read('stdout.txt'),
    stderr: await read('stderr.txt'),
  };
}

/** Runs `work` while polling /health every 100 ms; throws unless every poll answered 200. */
async function healthy<T>(server: TestServer, work: () => Promise<T>): Promise<T> {
  const state = { done: false, polls: 0, failed: 0 };
  const loop = (async () => {
    while (!state.done) {
      state.polls++;
      const ok = await fetch(`${server.connection.armEndpoint}/health`, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.status === 200)
        .catch(() => false);
      if (!ok) state.failed++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return await work();
  } finally {
    state.done = true;
    await loop;
    assert.equal(state.failed, 0, `/health answered all ${String(state.polls)} polls`);
    assert.ok(state.polls > 0);
  }
}

/** Free bytes of the host file system that holds the data dir. */
const hostFree = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

describe('limits that hold', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  test('a fork bomb, a memory hog, a disk filler and a stdout flood end their own task only', async () => {
    const server = await startServer(['--node-disk-mb', String(DISK_MB)]);
    try {
      const batch = sharedKeyBatch(server);
      await batch.pool.add(tinyPoolSpec('lim', 1));
      await batch.pool.add(tinyPoolSpec('other', 1));
      const nodes = async (pool: string) =>
        waitFor(
          () => batch.computeNode.list(pool),
          (ns) => ns.length === 1 && ns.every((n) => n.state === 'idle'),
          `the ${pool} node idle`,
          300_000,
        );
      const nodeId = (await nodes('lim'))[0]?.id ?? '';
      const otherId = (await nodes('other'))[0]?.id ?? '';
      await batch.job.add({ id: 'lim', poolInfo: { poolId: 'lim' } });
      await batch.job.add({ id: 'other', poolInfo: { poolId: 'other' } });
      const image = statSync(join(server.dataDir, 'node-disks', `${nodeId}.ext4`));
      assert.equal(image.size, DISK_MB * MiB, "the node's disk is a file of its size");

      // df in the node shows its own disk, not the host's.
      const df = await run(batch, 'lim', 'df', `/bin/sh -c 'df -k / $AZ_BATCH_NODE_ROOT_DIR | tail -2'`);
      for (const line of df.stdout.trim().split('\n')) {
        const kb = Number(line.split(/\s+/)[1]);
        assert.ok(kb > (DISK_MB - 16) * 1024 && kb <= DISK_MB * 1024, `df: ${df.stdout}`);
      }

      const bombs = await healthy(server, () =>
        Promise.all([
          run(batch, 'lim', 'forkbomb', `/bin/sh -c 'b() { b | b; }; b'`, 'PT2S'),
          run(batch, 'lim', 'memhog', `/bin/sh -c 'awk "BEGIN { s = \\"x\\"; while (1) s = s s }"'`),
        ]),
      );
      assert.notEqual(bombs[0].exitCode, 0, 'the fork bomb ended (its time limit)');
      assert.equal(bombs[1].exitCode, 137, 'the memory hog was killed by the OOM killer');

      // The filler keeps a MiB of ballast it frees at the end, so its stderr has room for dd's message.
      const freeBefore = hostFree(server.dataDir);
      const filler = await healthy(server, () =>
        run(
          batch,
          'lim',
          'filler',
          `/bin/sh -c 'dd if=/dev/zero of=ballast bs=1M count=1 && dd if=/dev/zero of=fill bs=1M count=${String(FILL_MB)} 2>/dev/shm/dd.err; rc=$?; rm ballast; cat /dev/shm/dd.err >&2; exit $rc'`,
          'PT5M',
        ),
      );
      assert.notEqual(filler.exitCode, 0);
      assert.equal(filler.result, 'failure');
      assert.match(filler.stderr, /No space left on device/);
      const taken = freeBefore - hostFree(server.dataDir);
      const held = statSync(join(server.dataDir, 'node-disks', `${nodeId}.ext4`)).blocks * 512;
      assert.ok(held <= DISK_MB * MiB, `the node's image holds ${String(held)} bytes, at most its size`);
      // Other helpers share this host's disk: the bound leaves them room, but is far below what was written.
      assert.ok(taken < DISK_MB * MiB + 512 * MiB, `the host lost ${String(taken)} bytes`);

      // The filler's file goes through the Batch file API; a stdout flood then fills the disk the same way. Through
      // cat: busybox's yes keeps writing after ENOSPC (the kernel refuses every write; only the time limit ends it).
      await batch.file.deleteFromTask('lim', 'filler', 'wd/fill');
      const flood = await healthy(server, () =>
        run(batch, 'lim', 'flood', `/bin/sh -c 'yes flood | cat'`, 'PT5M'),
      );
      assert.notEqual(flood.exitCode, 0, 'the flood ended with the disk full');
      const stdoutSize = (await batch.file.getPropertiesFromTask('lim', 'flood', 'stdout.txt')).contentLength;
      assert.ok(stdoutSize > (DISK_MB / 2) * MiB && stdoutSize <= DISK_MB * MiB);
      assert.ok(freeBefore - hostFree(server.dataDir) < DISK_MB * MiB + 512 * MiB);

      // The other pool's node was not touched, and this node runs tasks again once its disk has room.
      const other = await run(batch, 'other', 'other', `/bin/sh -c 'df -k / | tail -1; echo fine'`);
      assert.equal(other.exitCode, 0);
      assert.equal(other.node, otherId);
      assert.ok(
        Number(other.stdout.split(/\s+/)[2]) < 8 * 1024,
        `the other node's disk is nearly empty: ${other.stdout}`,
      );
      await batch.file.deleteFromTask('lim', 'flood', 'stdout.txt');
      const after = await run(batch, 'lim', 'after', '/bin/sh -c "echo still here"');
      assert.deepEqual([after.exitCode, after.stdout, after.node], [0, 'still here\n', nodeId]);

      // Deleting a pool removes its nodes' disks: the image file goes, and no loop device is left on it.
      const otherImage = join(server.dataDir, 'node-disks', `${otherId}.ext4`);
      assert.ok(existsSync(otherImage));
      await batch.pool.deleteMethod('other');
      await waitFor(
        () => Promise.resolve(existsSync(otherImage)),
        (exists) => !exists,
        "the deleted pool's node disk gone",
        120_000,
      );
      assert.equal(execFileSync('losetup', ['-j', otherImage], { encoding: 'utf8' }).trim(), '');
    } finally {
      await server.stop();
    }
  });
});
