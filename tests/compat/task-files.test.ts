import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchServiceClient } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import { startAzuriteBlob, type AzuriteBlob } from './azurite.ts';
import { computeClient, credentialFor, startServer, type TestServer } from './harness.ts';
import { buildToolImage, waitFor } from './pool-image.ts';

/**
 * The Batch workload on a pool from a gallery image: 200 tasks each read a resource file from an Azurite
 * container, run the program baked into the image and upload an output file (issue 5's main check).
 */

const COUNT = 200;

describe(
  'tasks with resource and output files in blob storage, on a gallery-image pool',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  () => {
    let server: TestServer;
    let blob: AzuriteBlob;
    let batch: BatchServiceClient;

    before(async () => {
      [server, blob] = await Promise.all([startServer(), startAzuriteBlob()]);
      const c = server.connection;
      const { versionId } = await buildToolImage(computeClient(c), c.resourceGroup, [
        { name: 'westeurope', regionalReplicaCount: 1 },
      ]);
      const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
      batch = new BatchServiceClient(new TokenCredentials(token.token), new URL(c.batchUrl).origin);
      await batch.pool.add({
        id: 'files',
        vmSize: 'standard_d2_v3',
        virtualMachineConfiguration: {
          imageReference: { virtualMachineImageId: versionId },
          nodeAgentSKUId: 'batch.node.lazurite tiny',
        },
        targetDedicatedNodes: 2,
        taskSlotsPerNode: 8,
      });
      const inputs = blob.serviceClient.getContainerClient('inputs');
      await inputs.create();
      await Promise.all(
        Array.from({ length: COUNT }, (_, i) =>
          inputs
            .getBlockBlobClient(`in/${String(i)}.txt`)
            .upload(`value-${String(i)}`, `value-${String(i)}`.length),
        ),
      );
      await blob.serviceClient.getContainerClient('outputs').create();
      await waitFor(
        () => batch.computeNode.list('files'),
        (ns) => ns.length === 2 && ns.every((n) => n.state === 'idle'),
        'two idle nodes',
        120_000,
      );
    });
    after(async () => {
      await Promise.all([server.stop(), blob.stop()]);
    });

    test('200 tasks fetch their input, run the baked-in program and upload their output', async () => {
      await batch.job.add({ id: 'work', poolInfo: { poolId: 'files' }, onAllTasksComplete: 'terminatejob' });
      const inputs = blob.containerSasUrl('inputs', 'rl');
      const outputs = blob.containerSasUrl('outputs', 'rcw');
      const tasks = Array.from({ length: COUNT }, (_, i) => ({
        id: `t${String(i)}`,
        commandLine: "/bin/sh -c '/opt/tool/run $(cat in/input.txt) > result.txt'",
        resourceFiles: [
          { storageContainerUrl: inputs, blobPrefix: `in/${String(i)}.txt`, fileMode: '0644' },
          // the same blob again, by its own URL, renamed
          {
            httpUrl: inputs.replace('?', `/in/${String(i)}.txt?`),
            filePath: 'in/input.txt',
          },
        ],
        outputFiles: [
          {
            filePattern: 'result.txt',
            destination: { container: { containerUrl: outputs, path: `results/${String(i)}.txt` } },
            uploadOptions: { uploadCondition: 'tasksuccess' as const },
          },
          {
            filePattern: '../std*.txt',
            destination: { container: { containerUrl: outputs, path: `logs/${String(i)}` } },
            uploadOptions: { uploadCondition: 'taskcompletion' as const },
          },
        ],
      }));
      for (let i = 0; i < COUNT; i += 100) {
        const r = await batch.task.addCollection('work', tasks.slice(i, i + 100));
        assert.ok(
          r.value?.every((v) => v.status === 'success'),
          JSON.stringify(r.value?.find((v) => v.status !== 'success')),
        );
      }
      const job = await waitFor(
        () => batch.job.get('work'),
        (j) => j.state === 'completed',
        'the job completed',
        240_000,
      );
      assert.equal(job.executionInfo?.terminateReason, 'AllTasksComplete');
      const counts = await batch.job.getTaskCounts('work');
      assert.deepEqual(
        { ...counts.taskCounts },
        { active: 0, running: 0, completed: COUNT, succeeded: COUNT, failed: 0 },
      );
      const out = blob.serviceClient.getContainerClient('outputs');
      for (let i = 0; i < COUNT; i++) {
        const body = await out.getBlobClient(`results/${String(i)}.txt`).downloadToBuffer();
        assert.equal(body.toString(), `tool-v1 value-${String(i)}\n`);
      }
      const logs: string[] = [];
      for await (const b of out.listBlobsFlat({ prefix: 'logs/7/' })) logs.push(b.name);
      assert.deepEqual(logs.sort(), ['logs/7/stderr.txt', 'logs/7/stdout.txt']);
    });

    test('a resource file that 404s and an upload without write permission fail the task with Batch codes', async () => {
      await batch.job.add({ id: 'broken', poolInfo: { poolId: 'files' } });
      const inputs = blob.containerSasUrl('inputs', 'rl');
      const readOnly = blob.containerSasUrl('outputs', 'rl');
      await batch.task.addCollection('broken', [
        {
          id: 'missing',
          commandLine: 'true',
          resourceFiles: [{ httpUrl: inputs.replace('?', '/in/nope.txt?'), filePath: 'x.txt' }],
        },
        {
          id: 'readonly',
          commandLine: "/bin/sh -c 'echo hi > out.txt'",
          outputFiles: [
            {
              filePattern: 'out.txt',
              destination: { container: { containerUrl: readOnly } },
              uploadOptions: { uploadCondition: 'taskcompletion' },
            },
          ],
        },
        { id: 'fine', commandLine: 'true' },
      ]);
      const done = (id: string) =>
        waitFor(
          () => batch.task.get('broken', id),
          (t) => t.state === 'completed',
          `${id} completed`,
        );
      const missing = await done('missing');
      assert.equal(missing.executionInfo?.result, 'failure');
      assert.equal(missing.executionInfo.failureInfo?.code, 'BlobNotFound');
      assert.equal(missing.executionInfo.failureInfo.category, 'usererror');
      assert.ok(!JSON.stringify(missing.executionInfo).includes('sig='), 'no SAS in the failure');
      const readonly = await done('readonly');
      assert.equal(readonly.executionInfo?.exitCode, 0);
      assert.equal(readonly.executionInfo.result, 'failure');
      assert.equal(readonly.executionInfo.failureInfo?.code, 'FileUploadMiscError');
      const fine = await done('fine');
      assert.equal(fine.executionInfo?.result, 'success');
    });
  },
);
