import assert from 'node:assert/strict';
import { readFileSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { failsWith, sharedKeyBatch, tinyPool, waitFor, type BatchFailure } from './pool-image.ts';

/**
 * Node and task files through `@azure/batch` on a pool of real sandboxes: a 3 GiB stdout served whole and by
 * range while the server's resident memory stays small (issue 20 item 2, issue 18 item 8), HEAD, the time
 * conditions, a range past the end, and File_DeleteFromTask / File_DeleteFromComputeNode (issue 18).
 */

const GIB = 1024 ** 3;
const BIG = 3 * GIB;
const RSS_LIMIT = 400 * 1024 * 1024;

let server: TestServer;
let batch: BatchServiceClient;
let nodeId = '';

/** The server process's resident set (VmRSS) in bytes. */
function serverRss(): number {
  const status = readFileSync(`/proc/${String(server.process.pid)}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return Number(kb) * 1024;
}

/** Counts a download's bytes as they arrive (nothing kept), sampling the server's RSS as it goes. */
async function drain(body: NodeJS.ReadableStream | undefined): Promise<{ bytes: number; maxRss: number }> {
  assert.ok(body, 'a body');
  let bytes = 0;
  let maxRss = serverRss();
  let nextSample = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes >= nextSample) {
      maxRss = Math.max(maxRss, serverRss());
      nextSample = bytes + 32 * 1024 * 1024;
    }
  }
  return { bytes, maxRss: Math.max(maxRss, serverRss()) };
}

async function completed(jobId: string, taskId: string) {
  return waitFor(
    () => batch.task.get(jobId, taskId),
    (t) => t.state === 'completed',
    `task ${taskId} completed`,
    300_000,
  );
}

/**
 * The status of a failed file GET or HEAD: @azure/batch does not parse the error body of a streamed answer (and
 * HEAD has none), so only the status is seen there; deletes and listings are checked with their codes.
 */
const status = (code: number) => (e: BatchFailure) => e.statusCode === code;

const enoughDisk = () => {
  const fs = statfsSync(tmpdir());
  return fs.bavail * fs.bsize > BIG + 4 * GIB;
};

describe(
  'node and task files: streaming, ranges, conditions, delete',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  () => {
    before(async () => {
      server = await startServer();
      batch = sharedKeyBatch(server);
      await tinyPool(batch, 'files', 1, { vmSize: 'standard_d2_v3', taskSlotsPerNode: 2 });
      await batch.job.add({ id: 'fj', poolInfo: { poolId: 'files' } });
    });
    after(async () => {
      await server.stop();
    });

    test('a 3 GiB stdout is served whole and by range, the server staying under 400 MB', async (t) => {
      if (!enoughDisk()) {
        t.skip('less than 7 GiB free under the temp dir');
        return;
      }
      await batch.task.add('fj', { id: 'big', commandLine: 'dd if=/dev/zero bs=1M count=3072' });
      const task = await completed('fj', 'big');
      assert.equal(task.executionInfo?.exitCode, 0);
      nodeId = task.nodeInfo?.nodeId ?? '';
      const props = await batch.file.getPropertiesFromTask('fj', 'big', 'stdout.txt');
      assert.equal(props.contentLength, BIG);
      assert.ok(serverRss() < RSS_LIMIT, 'HEAD reads no content');

      const whole = await batch.file.getFromTask('fj', 'big', 'stdout.txt');
      assert.equal(whole.contentLength, BIG);
      const all = await drain(whole.readableStreamBody);
      assert.equal(all.bytes, BIG);
      assert.ok(all.maxRss < RSS_LIMIT, `server RSS peaked at ${String(all.maxRss >> 20)} MiB`);
      t.diagnostic(`server RSS peaked at ${String(all.maxRss >> 20)} MiB while serving 3 GiB`);

      // Across the 2 GiB mark (where reading whole files used to abort the server) and the last bytes.
      for (const [start, end] of [
        [2 * GIB - 100, 2 * GIB + 99],
        [BIG - 472, BIG - 1],
      ] as const) {
        const part = await batch.file.getFromComputeNode(
          'files',
          nodeId,
          'workitems/fj/job-1/big/stdout.txt',
          { fileGetFromComputeNodeOptions: { ocpRange: `bytes=${String(start)}-${String(end)}` } },
        );
        assert.equal((await drain(part.readableStreamBody)).bytes, end - start + 1);
      }
      const tail = await batch.file.getFromTask('fj', 'big', 'stdout.txt', {
        fileGetFromTaskOptions: { ocpRange: `bytes=${String(BIG - 10)}-` },
      });
      assert.equal((await drain(tail.readableStreamBody)).bytes, 10);
      await assert.rejects(
        batch.file.getFromTask('fj', 'big', 'stdout.txt', {
          fileGetFromTaskOptions: { ocpRange: `bytes=${String(BIG)}-` },
        }),
        status(416),
      );

      await batch.file.deleteFromTask('fj', 'big', 'stdout.txt');
      await assert.rejects(batch.file.getPropertiesFromTask('fj', 'big', 'stdout.txt'), status(404));
    });

    test('If-Modified-Since answers 304 and If-Unmodified-Since 412 on file reads', async () => {
      await batch.task.add('fj', { id: 'small', commandLine: 'echo hello' });
      await completed('fj', 'small');
      const later = new Date(Date.now() + 3_600_000);
      const earlier = new Date(Date.now() - 3_600_000);
      const ok = await batch.file.getFromTask('fj', 'small', 'stdout.txt', {
        fileGetFromTaskOptions: { ifModifiedSince: earlier },
      });
      assert.equal((await drain(ok.readableStreamBody)).bytes, 'hello\n'.length);
      const unchanged = await batch.file.getFromTask('fj', 'small', 'stdout.txt', {
        fileGetFromTaskOptions: { ifUnmodifiedSince: later },
      });
      assert.equal((await drain(unchanged.readableStreamBody)).bytes, 'hello\n'.length);
      // Batch takes one condition header per request.
      await assert.rejects(
        batch.file.getFromTask('fj', 'small', 'stdout.txt', {
          fileGetFromTaskOptions: { ifModifiedSince: earlier, ifUnmodifiedSince: later },
        }),
        status(400),
      );
      await assert.rejects(
        batch.file.getPropertiesFromTask('fj', 'small', 'stdout.txt', {
          fileGetPropertiesFromTaskOptions: { ifModifiedSince: later },
        }),
        status(304),
      );
      await assert.rejects(
        batch.file.getFromTask('fj', 'small', 'stdout.txt', {
          fileGetFromTaskOptions: { ifUnmodifiedSince: earlier },
        }),
        status(412),
      );
    });

    test('deleteFromTask and deleteFromComputeNode remove files and folders (recursive)', async () => {
      await batch.task.add('fj', {
        id: 'dirs',
        commandLine: "/bin/sh -c 'mkdir -p sub/deeper && echo x > sub/deeper/f && echo y > sub/g'",
      });
      const task = await completed('fj', 'dirs');
      assert.equal(task.executionInfo?.exitCode, 0);
      const node = task.nodeInfo?.nodeId ?? '';
      await assert.rejects(
        batch.file.deleteFromTask('fj', 'dirs', 'wd/sub', { recursive: false }),
        failsWith(409, 'OperationInvalidForCurrentState'),
      );
      await batch.file.deleteFromTask('fj', 'dirs', 'wd/sub/g');
      await batch.file.deleteFromTask('fj', 'dirs', 'wd/sub', { recursive: true });
      const names = (await batch.file.listFromTask('fj', 'dirs', { recursive: true })).map((f) => f.name);
      assert.ok(names.includes('wd') && !names.some((n) => n?.startsWith('wd/sub')), names.join());
      await assert.rejects(batch.file.deleteFromTask('fj', 'dirs', 'wd/sub'), failsWith(404, 'FileNotFound'));

      await batch.file.deleteFromComputeNode('files', node, 'workitems/fj/job-1/dirs/stderr.txt');
      await assert.rejects(
        batch.file.getPropertiesFromComputeNode('files', node, 'workitems/fj/job-1/dirs/stderr.txt'),
        status(404),
      );
      await batch.file.deleteFromComputeNode('files', node, 'workitems/fj/job-1/dirs', { recursive: true });
      await assert.rejects(batch.file.listFromTask('fj', 'dirs'), failsWith(404, 'FileNotFound'));
      await assert.rejects(
        batch.file.deleteFromComputeNode('files', node, '../../etc/passwd'),
        failsWith(404, 'FileNotFound'),
      );
    });

    test('deleting a task or its job, and retention running out, remove the task folder from the node', async () => {
      const onNode = async () =>
        (await batch.file.listFromComputeNode('files', nodeId, { recursive: true })).map((f) => f.name ?? '');
      const gone = (folder: string) =>
        waitFor(onNode, (names) => !names.some((n) => n.startsWith(folder)), `${folder} removed`, 60_000);
      await batch.task.add('fj', { id: 'del', commandLine: 'echo x' });
      await batch.task.add('fj', {
        id: 'brief',
        commandLine: 'echo y',
        constraints: { retentionTime: 'PT2S' },
      });
      await completed('fj', 'del');
      nodeId = (await completed('fj', 'brief')).nodeInfo?.nodeId ?? '';
      assert.ok((await onNode()).includes('workitems/fj/job-1/del/stdout.txt'));
      await batch.task.deleteMethod('fj', 'del');
      await gone('workitems/fj/job-1/del');
      await gone('workitems/fj/job-1/brief');
      await assert.rejects(batch.file.listFromTask('fj', 'brief'), failsWith(409, 'TaskFilesCleanedup'));
      assert.equal((await batch.task.get('fj', 'brief')).state, 'completed', 'the task itself stays');

      await batch.job.add({ id: 'dj', poolInfo: { poolId: 'files' } });
      await batch.task.add('dj', { id: 'one', commandLine: 'echo z' });
      await completed('dj', 'one');
      assert.ok((await onNode()).includes('workitems/dj/job-1/one/stdout.txt'));
      await batch.job.deleteMethod('dj');
      await gone('workitems/dj/job-1/one');

      await assert.rejects(
        batch.task.add('fj', { id: 'neg', commandLine: 'x', constraints: { retentionTime: 'P-1D' } }),
        (e: BatchFailure) =>
          e.statusCode === 400 &&
          e.body?.code === 'InvalidPropertyValue' &&
          (e.body.values ?? []).some(
            (v) => v.key === 'PropertyName' && v.value === 'constraints.retentionTime',
          ),
      );
    });
  },
);
