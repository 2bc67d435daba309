import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { REPO_ROOT, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * A server that runs no nodes itself (`--node-backend remote`) and a host agent in another process
 * (`lazurite agent`, over HTTPS with the agent token): the agent takes the pool's nodes, runs start task and
 * tasks, and serves the node and task file APIs through the server (issue 4: a host agent on another machine).
 */
describe('a remote host agent', () => {
  let server: TestServer;
  let agent: ChildProcess;
  let agentDir: string;
  let batch: BatchServiceClient;

  before(async () => {
    server = await startServer(['--node-backend', 'remote']);
    agentDir = mkdtempSync(join(tmpdir(), 'lazurite-agent-'));
    agent = spawn(
      join(REPO_ROOT, 'bin', 'lazurite'),
      [
        'agent',
        '--server',
        new URL(server.connection.batchUrl).origin,
        '--host-id',
        'far-host',
        '--node-backend',
        'simulated',
        // The server made the token in its data dir; an operator copies it to the agent's machine.
        '--token',
        readFileSync(join(server.dataDir, 'agent-token'), 'utf8').trim(),
        '--ca',
        server.connection.caCertPath,
        '--data-dir',
        agentDir,
      ],
      { stdio: 'ignore' },
    );
    batch = sharedKeyBatch(server);
  });
  after(async () => {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    rmSync(agentDir, { recursive: true, force: true });
    await server.stop();
  });

  test('nodes start on the agent; start-task output, task output and file listings come through the server', async () => {
    await batch.pool.add(
      tinyPoolSpec('far', 2, {
        startTask: { commandLine: 'printenv AZ_BATCH_NODE_ID', waitForSuccess: true },
      }),
    );
    const nodes = await waitFor(
      () => batch.computeNode.list('far'),
      (ns) => ns.length === 2 && ns.every((n) => n.state === 'idle'),
      'two idle nodes on the remote agent',
    );
    assert.ok(nodes.every((n) => n.nodeAgentInfo?.version === 'lazurite-remote'));
    const id = nodes[0]?.id ?? '';
    const out = await batch.file.getFromComputeNode('far', id, 'startup/stdout.txt');
    const text = await new Response(out.readableStreamBody as unknown as ReadableStream).text();
    assert.match(text, /\[simulated node\] not executed: printenv AZ_BATCH_NODE_ID/);
    const part = await batch.file.getFromComputeNode('far', id, 'startup/stdout.txt', {
      fileGetFromComputeNodeOptions: { ocpRange: 'bytes=1-9' },
    });
    const partText = await new Response(part.readableStreamBody as unknown as ReadableStream).text();
    assert.equal(partText, text.slice(1, 10), 'a range, streamed from the agent');
    const props = await batch.file.getPropertiesFromComputeNode('far', id, 'startup/stdout.txt');
    assert.equal(props.contentLength, Buffer.byteLength(text));
    const listed = await batch.file.listFromComputeNode('far', id, { recursive: true });
    assert.ok(listed.some((f) => f.name === 'startup/stdout.txt'));
    await batch.file.deleteFromComputeNode('far', id, 'startup/stderr.txt');
    const after = await batch.file.listFromComputeNode('far', id, { recursive: true });
    assert.ok(!after.some((f) => f.name === 'startup/stderr.txt'), 'deleted on the agent');
    await assert.rejects(
      batch.file.getPropertiesFromComputeNode('far', id, 'startup/no-such-file.txt'),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );

    await batch.job.add({ id: 'far-job', poolInfo: { poolId: 'far' } });
    await batch.task.add('far-job', { id: 'ok', commandLine: '/bin/sh -c "echo hi"' });
    await batch.task.add('far-job', { id: 'bad', commandLine: 'exit 3' });
    const done = await waitFor(
      () => batch.task.list('far-job'),
      (ts) => ts.length === 2 && ts.every((t) => t.state === 'completed'),
      'both tasks completed on the remote agent',
    );
    assert.deepEqual(done.map((t) => [t.id, t.executionInfo?.exitCode]).sort(), [
      ['bad', 3],
      ['ok', 0],
    ]);
    const stdout = await batch.file.getFromTask('far-job', 'ok', 'stdout.txt');
    const body = await new Response(stdout.readableStreamBody as unknown as ReadableStream).text();
    assert.match(body, /not executed: \/bin\/sh -c "echo hi"/);
    // Deleting a task removes its folder on the agent's node (the server's cleaner, through the agent).
    const ranOn = done.find((t) => t.id === 'ok')?.nodeInfo?.nodeId ?? '';
    await batch.task.deleteMethod('far-job', 'ok');
    await waitFor(
      async () =>
        (await batch.file.listFromComputeNode('far', ranOn, { recursive: true })).map((f) => f.name),
      (names) => !names.some((n) => n?.startsWith('workitems/far-job/job-1/ok')),
      'the deleted task folder removed on the agent',
    );
  });
});
