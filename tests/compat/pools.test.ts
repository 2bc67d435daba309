import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchServiceClient } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import { computeClient, credentialFor, startServer, type TestServer } from './harness.ts';
import { buildToolImage, waitFor } from './pool-image.ts';

const SKU = 'batch.node.lazurite tiny';

describe('the seed workflow: a Batch pool from a gallery image, with @azure/batch under an Entra token', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  let versionId: string;

  before(async () => {
    server = await startServer();
    const c = server.connection;
    ({ versionId } = await buildToolImage(computeClient(c), c.resourceGroup, [
      { name: 'westeurope', regionalReplicaCount: 2 },
    ]));
    const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
    batch = new BatchServiceClient(new TokenCredentials(token.token), new URL(c.batchUrl).origin);
  });
  after(async () => {
    await server.stop();
  });

  const pool = () => batch.pool.get('seedpool');
  const nodes = async () => (await batch.computeNode.list('seedpool')).map((n) => n);
  const steadyWithIdle = (count: number) => async () => {
    const p = await pool();
    const ns = await nodes();
    return {
      p,
      ns,
      ok: p.allocationState === 'steady' && ns.length === count && ns.every((n) => n.state === 'idle'),
    };
  };

  test('2 nodes boot from the image; the start task sees the startup dir, the program and the data', async () => {
    await batch.pool.add({
      id: 'seedpool',
      vmSize: 'STANDARD_A1_V2',
      virtualMachineConfiguration: {
        imageReference: { virtualMachineImageId: versionId },
        nodeAgentSKUId: SKU,
      },
      targetDedicatedNodes: 2,
      startTask: {
        commandLine:
          "/bin/sh -c 'printenv AZ_BATCH_NODE_STARTUP_DIR; /opt/tool/run node; cat /opt/data/ref.txt; cat /datadrive/ref.txt; id -u'",
        userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'admin' } },
        waitForSuccess: true,
      },
    });
    const { p, ns } = await waitFor(steadyWithIdle(2), (v) => v.ok, '2 idle nodes', 120_000);
    assert.equal(p.virtualMachineConfiguration?.imageReference.exactVersion, '1.0.0');
    assert.equal(p.currentDedicatedNodes, 2);
    for (const node of ns) {
      assert.equal(node.startTaskInfo?.result, 'success');
      assert.equal(node.startTaskInfo.exitCode, 0);
      const file = await batch.file.getFromComputeNode('seedpool', node.id ?? '', 'startup/stdout.txt');
      const text = await new Response(file.readableStreamBody as unknown as ReadableStream).text();
      assert.equal(text, '/mnt/batch/tasks/startup\ntool-v1 node\nos-disk-data-7\nreference-data-42\n0\n');
      const props = await batch.file.getPropertiesFromComputeNode(
        'seedpool',
        node.id ?? '',
        'startup/stdout.txt',
      );
      assert.equal(props.contentLength, text.length);
      const part = await batch.file.getFromComputeNode('seedpool', node.id ?? '', 'startup/stdout.txt', {
        fileGetFromComputeNodeOptions: { ocpRange: 'bytes=5-9' },
      });
      assert.equal(await new Response(part.readableStreamBody as unknown as ReadableStream).text(), 'batch');
      const listed = await batch.file.listFromComputeNode('seedpool', node.id ?? '', { recursive: true });
      assert.ok(listed.some((f) => f.name === 'startup/stderr.txt'));
    }
    const counts = await batch.account.listPoolNodeCounts();
    assert.equal(counts.find((c) => c.poolId === 'seedpool')?.dedicated?.idle, 2);
  });

  test('resize to 5, reimage one, remove one, delete the pool', async () => {
    // The image is already on this host, so the pool may be steady again (nodes allocated) within milliseconds.
    await batch.pool.resize('seedpool', { targetDedicatedNodes: 5 });
    assert.equal((await pool()).targetDedicatedNodes, 5);
    const { ns } = await waitFor(steadyWithIdle(5), (v) => v.ok, '5 idle nodes', 120_000);
    const [first, second] = ns;
    assert.ok(first?.id && second?.id);
    await batch.computeNode.reimage('seedpool', first.id);
    assert.equal((await batch.computeNode.get('seedpool', first.id)).state, 'reimaging');
    await waitFor(
      () => batch.computeNode.get('seedpool', first.id ?? ''),
      (n) => n.state === 'idle',
      'reimaged node idle',
    );
    await batch.pool.removeNodes('seedpool', { nodeList: [second.id] });
    await waitFor(steadyWithIdle(4), (v) => v.ok, '4 idle nodes after removal');
    assert.equal((await pool()).targetDedicatedNodes, 4);
    await batch.pool.deleteMethod('seedpool');
    assert.equal((await pool()).state, 'deleting');
    await waitFor(
      () => batch.pool.exists('seedpool'),
      (e) => !e.body,
      'the pool to be gone',
    );
    await assert.rejects(
      pool(),
      (e: { statusCode?: number; code?: string }) => e.statusCode === 404 && e.code === 'PoolNotFound',
    );
  });
});
