import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchManagementClient } from '@azure/arm-batch';
import type { BatchServiceClient } from '@azure/batch';
import { BlockBlobClient } from '@azure/storage-blob';
import { storedZip } from '../../src/backends/zip.fixture.ts';
import { knowStorageAccount, startAzuriteBlob, type AzuriteBlob } from './azurite.ts';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Application packages on nodes (issue 16 item 3, ADR 0040): a zip holding a shell script, uploaded through the
 * storageUrl `@azure/arm-batch` hands out and activated, is installed on a local node for the pool's start task
 * and for a task, which runs the script through AZ_BATCH_APP_PACKAGE_*; unusable references fail with Batch's
 * codes (the pool add with 409, the task with a pre-processing error).
 */
describe('application packages on nodes', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  let server: TestServer;
  let blob: AzuriteBlob;
  let arm: BatchManagementClient;
  let batch: BatchServiceClient;
  let forgetStorageAccount: () => void = () => undefined;

  before(async () => {
    blob = await startAzuriteBlob();
    forgetStorageAccount = knowStorageAccount(blob);
    server = await startServer();
    const c = server.connection;
    const [rg, account] = [c.resourceGroup, c.batchAccountName];
    arm = new BatchManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
    batch = sharedKeyBatch(server);
    const storageAccountId = `/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/${blob.accountName}`;
    await arm.batchAccountOperations.update(rg, account, { autoStorage: { storageAccountId } });
    await arm.applicationOperations.create(rg, account, 'tool');
    const pending = await arm.applicationPackageOperations.create(rg, account, 'tool', '1.0');
    const zip = storedZip([
      { name: 'bin/', content: '' },
      { name: 'bin/run.sh', content: '#!/bin/sh\necho "from-package $1"\n', mode: 0o755 },
    ]);
    await new BlockBlobClient(pending.storageUrl ?? '').upload(zip, zip.length);
    await arm.applicationPackageOperations.activate(rg, account, 'tool', '1.0', { format: 'zip' });
    await arm.applicationPackageOperations.create(rg, account, 'tool', '2.0');
    await arm.applicationOperations.update(rg, account, 'tool', { defaultVersion: '1.0' });
  });
  after(async () => {
    forgetStorageAccount();
    await server.stop();
    await blob.stop();
  });

  const finished = (id: string) =>
    waitFor(
      () => batch.task.get('apps-job', id),
      (t) => t.state === 'completed',
      `task ${id} completed`,
      120_000,
    );

  test('a pool naming a missing application or an inactive version is refused with 409', async () => {
    for (const refs of [[{ applicationId: 'nothing' }], [{ applicationId: 'tool', version: '2.0' }]]) {
      await assert.rejects(
        batch.pool.add({ ...tinyPoolSpec('refused', 1), applicationPackageReferences: refs }),
        (e: { statusCode?: number; code?: string }) =>
          e.statusCode === 409 && e.code === 'InvalidApplicationPackageReferences',
      );
    }
  });

  test("the pool's package is there for its start task, a task's through its versioned variable", async () => {
    await batch.pool.add({
      ...tinyPoolSpec('apps', 1),
      applicationPackageReferences: [{ applicationId: 'tool' }],
      startTask: {
        commandLine: '/bin/sh -c "$AZ_BATCH_APP_PACKAGE_tool/bin/run.sh start"',
        waitForSuccess: true,
      },
    });
    const [node] = await waitFor(
      () => batch.computeNode.list('apps'),
      (ns) => ns.length === 1 && ns.every((n) => n.state === 'idle' || n.state === 'starttaskfailed'),
      'the node past its start task',
      300_000,
    );
    assert.equal(node?.state, 'idle', JSON.stringify(node?.startTaskInfo));
    const out = await batch.file.getFromComputeNode('apps', node.id ?? '', 'startup/stdout.txt');
    const started = await new Response(out.readableStreamBody as unknown as ReadableStream).text();
    assert.equal(started, 'from-package start\n');

    await batch.job.add({ id: 'apps-job', poolInfo: { poolId: 'apps' } });
    await batch.task.add('apps-job', {
      id: 'uses',
      commandLine:
        '/bin/sh -c "$AZ_BATCH_APP_PACKAGE_tool_1_0/bin/run.sh task; echo $AZ_BATCH_APP_PACKAGE_tool_1_0"',
      applicationPackageReferences: [{ applicationId: 'tool', version: '1.0' }],
    });
    const t = await finished('uses');
    assert.deepEqual([t.executionInfo?.result, t.executionInfo?.exitCode], ['success', 0]);
    const file = await batch.file.getFromTask('apps-job', 'uses', 'stdout.txt');
    const text = await new Response(file.readableStreamBody as unknown as ReadableStream).text();
    assert.equal(text, 'from-package task\n/mnt/batch/tasks/applications/tool/1.0\n');
  });

  test("a job preparation task gets the pool's package too", async () => {
    await batch.job.add({
      id: 'prep-job',
      poolInfo: { poolId: 'apps' },
      jobPreparationTask: { commandLine: '/bin/sh -c "$AZ_BATCH_APP_PACKAGE_tool/bin/run.sh prep"' },
    });
    await batch.task.add('prep-job', { id: 'after-prep', commandLine: '/bin/sh -c "echo ok"' });
    await waitFor(
      () => batch.task.get('prep-job', 'after-prep'),
      (t) => t.state === 'completed',
      'task after-prep completed',
      120_000,
    );
    const [status] = await batch.job.listPreparationAndReleaseTaskStatus('prep-job');
    const prep = status?.jobPreparationTaskExecutionInfo;
    assert.deepEqual([prep?.result, prep?.exitCode], ['success', 0], JSON.stringify(prep));
    const out = await batch.file.getFromComputeNode(
      'apps',
      status?.nodeId ?? '',
      'workitems/prep-job/job-1/jobpreparation/stdout.txt',
    );
    assert.equal(
      await new Response(out.readableStreamBody as unknown as ReadableStream).text(),
      'from-package prep\n',
    );
  });

  test('a task naming an inactive version or an unknown application fails before its command', async () => {
    for (const [id, ref] of [
      ['inactive', { applicationId: 'tool', version: '2.0' }],
      ['unknown', { applicationId: 'nothing' }],
    ] as const) {
      await batch.task.add('apps-job', {
        id,
        commandLine: '/bin/sh -c "echo ran"',
        applicationPackageReferences: [ref],
      });
      const t = await finished(id);
      const info = t.executionInfo;
      assert.equal(info?.result, 'failure');
      assert.equal(info.failureInfo?.code, 'InvalidApplicationPackageReferences');
      assert.equal(info.failureInfo.category, 'usererror');
    }
  });
});
