import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAzuriteBlob, type AzuriteBlob } from './azurite.ts';
import { failsWith, simulatedBatchServer, tinyPoolSpec, type BatchFailure, waitFor } from './pool-image.ts';

/**
 * ComputeNode_UploadBatchServiceLogs through @azure/batch (issue 18, ADR 0031): the node's service log files go
 * to an Azurite container given by a SAS URL and are read back with @azure/storage-blob; a window with no lines
 * uploads nothing; identityReference, a URL without a SAS, a read-only SAS, an inverted window and an unknown node
 * are refused naming what is wrong.
 */
describe('ComputeNode_UploadBatchServiceLogs', () => {
  const env = simulatedBatchServer();
  let azurite: AzuriteBlob;
  let nodeId = '';
  const hourAgo = () => new Date(Date.now() - 3600_000);

  before(async () => {
    azurite = await startAzuriteBlob();
    await azurite.serviceClient.getContainerClient('logs').create();
    await env.batch.pool.add(tinyPoolSpec('lp', 1));
    const [node] = await waitFor(
      () => env.batch.computeNode.list('lp'),
      (ns) => ns.length === 1 && ns[0]?.state === 'idle',
      'an idle node',
    );
    nodeId = node?.id ?? '';
    await env.batch.job.add({ id: 'lj', poolInfo: { poolId: 'lp' } });
    await env.batch.task.add('lj', { id: 'lt', commandLine: '/bin/true' });
    await waitFor(
      () => env.batch.task.get('lj', 'lt'),
      (t) => t.state === 'completed',
      'the task completed',
    );
  });
  after(async () => {
    await azurite.stop();
  });

  test('uploads the node log files of the window; the blobs hold its reports', async () => {
    const containerUrl = azurite.containerSasUrl('logs', 'racwl');
    const r = await env.batch.computeNode.uploadBatchServiceLogs('lp', nodeId, {
      containerUrl,
      startTime: hourAgo(),
    });
    assert.match(r.virtualDirectoryName, new RegExp(`^lp/${nodeId}/[0-9a-f-]{36}$`));
    assert.ok(r.numberOfFilesUploaded >= 1, `files: ${String(r.numberOfFilesUploaded)}`);
    const container = azurite.serviceClient.getContainerClient('logs');
    const blobs: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: `${r.virtualDirectoryName}/` }))
      blobs.push(b.name);
    assert.equal(blobs.length, r.numberOfFilesUploaded);
    let text = '';
    for (const name of blobs) text += (await container.getBlobClient(name).downloadToBuffer()).toString();
    assert.match(text, /node state=idle/);
    assert.match(text, /task job=lj task=lt attempt=1 state=completed .*exitCode=0/);
    // The simulated backend runs nothing: its runs report zero CPU time (ADR 0031).
    assert.match(text, /userCpuUs=0 /);

    const later = await env.batch.computeNode.uploadBatchServiceLogs('lp', nodeId, {
      containerUrl,
      startTime: new Date(Date.now() + 2 * 3600_000),
    });
    assert.equal(later.numberOfFilesUploaded, 0, 'no lines in a window still to come');
  });

  test('refusals name the property; an unknown node is NodeNotFound', async () => {
    const containerUrl = azurite.containerSasUrl('logs', 'racwl');
    const names = (property: string) => (e: BatchFailure) =>
      (e.body?.values ?? []).some((v) => v.key === 'PropertyName' && v.value === property);
    const refused = (code: string, property: string) => (e: BatchFailure) =>
      failsWith(400, code)(e) && names(property)(e);
    await assert.rejects(
      env.batch.computeNode.uploadBatchServiceLogs('lp', nodeId, {
        containerUrl,
        startTime: hourAgo(),
        identityReference: { resourceId: '/subscriptions/x/identity' },
      }),
      refused('UnsupportedProperty', 'identityReference'),
    );
    await assert.rejects(
      env.batch.computeNode.uploadBatchServiceLogs('lp', nodeId, {
        containerUrl: `${azurite.blobEndpoint}/logs`,
        startTime: hourAgo(),
      }),
      refused('InvalidPropertyValue', 'containerUrl'),
    );
    await assert.rejects(
      env.batch.computeNode.uploadBatchServiceLogs('lp', nodeId, {
        containerUrl: azurite.containerSasUrl('logs', 'r'),
        startTime: hourAgo(),
      }),
      refused('InvalidPropertyValue', 'containerUrl'),
    );
    await assert.rejects(
      env.batch.computeNode.uploadBatchServiceLogs('lp', nodeId, {
        containerUrl,
        startTime: new Date(),
        endTime: hourAgo(),
      }),
      refused('InvalidPropertyValue', 'endTime'),
    );
    await assert.rejects(
      env.batch.computeNode.uploadBatchServiceLogs('lp', 'tvmps_nosuchnode', {
        containerUrl,
        startTime: hourAgo(),
      }),
      failsWith(404, 'NodeNotFound'),
    );
  });
});
