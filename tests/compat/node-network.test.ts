import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPool, waitFor } from './pool-image.ts';

/**
 * Every node has its own network (ADR 0021): an address from the server's plan shown as `ipAddress`, only `lo` and
 * `eth0`, nodes of a pool reach each other, and the host reaches them and they the host at their gateway. The
 * test server's node range is its own (harness: testNodeNetwork), and all traffic stays on this machine.
 */
describe('node networks with @azure/batch (real local nodes)', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  let http: Server | undefined;

  before(async () => {
    server = await startServer();
    batch = sharedKeyBatch(server);
    // One slot per node: a task that holds one node sends the next task to the other.
    await tinyPool(batch, 'net', 2, { vmSize: 'standard_a1_v2', taskSlotsPerNode: 1 });
    await batch.job.add({ id: 'netjob', poolInfo: { poolId: 'net' } });
  });
  after(async () => {
    http?.close();
    await server.stop();
  });

  const finished = (taskId: string) =>
    waitFor(
      () => batch.task.get('netjob', taskId),
      (t) => t.state === 'completed',
      `task ${taskId} to complete`,
      60_000,
    );
  const stdout = async (taskId: string): Promise<string> => {
    const out = await batch.file.getFromTask('netjob', taskId, 'stdout.txt');
    return new Response(out.readableStreamBody as unknown as ReadableStream).text();
  };
  const nodes = async () => batch.computeNode.list('net');

  test('the two nodes have different addresses in the server range', async () => {
    const ns = await nodes();
    const addresses = ns.map((n) => n.ipAddress ?? '');
    assert.equal(addresses.length, 2);
    assert.notEqual(addresses[0], addresses[1]);
    for (const a of addresses) assert.match(a, /^10\.214\.\d+\.\d+$/);
    const one = await batch.computeNode.get('net', ns[0]?.id ?? '');
    assert.equal(one.ipAddress, addresses[0]);
  });

  test('a node lists only lo and eth0, and eth0 holds its ipAddress', async () => {
    await batch.task.add('netjob', {
      id: 'devices',
      commandLine: `/bin/sh -c "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '; ip -4 -o addr show eth0"`,
    });
    const t = await finished('devices');
    assert.equal(t.executionInfo?.exitCode, 0);
    const out = await stdout('devices');
    assert.match(out, /^eth0 lo /);
    const node = await batch.computeNode.get('net', t.nodeInfo?.nodeId ?? '');
    assert.ok(out.includes(`inet ${node.ipAddress ?? '?'}/`), out);
  });

  test('a task on one node reaches a TCP listener on the other', async () => {
    // The listener: busybox httpd serving the node's hostname (its node id), until the task is terminated.
    await batch.task.add('netjob', {
      id: 'listen',
      commandLine: "/bin/sh -c 'mkdir -p www && hostname > www/id && exec httpd -f -p 7001 -h www'",
    });
    const listening = await waitFor(
      () => batch.task.get('netjob', 'listen'),
      (t) => t.state === 'running',
      'the listener to run',
    );
    const listenerNode = await batch.computeNode.get('net', listening.nodeInfo?.nodeId ?? '');
    const target = listenerNode.ipAddress ?? '';
    // The listener may not be listening yet when this starts: try for up to 10 s.
    await batch.task.add('netjob', {
      id: 'send',
      commandLine: `/bin/sh -c 'for i in $(seq 100); do wget -q -O - http://${target}:7001/id && exit 0; sleep 0.1; done; exit 1'`,
    });
    const sent = await finished('send');
    assert.equal(sent.executionInfo?.exitCode, 0);
    assert.notEqual(sent.nodeInfo?.nodeId, listenerNode.id, 'the sender ran on the other node');
    assert.equal(await stdout('send'), `${listenerNode.id ?? '?'}\n`);
    await batch.task.terminate('netjob', 'listen');
    await finished('listen');
  });

  test("a task reaches an HTTP server on the host's bridge address, not the host's loopback", async () => {
    const [node] = await nodes();
    const gateway = (node?.ipAddress ?? '').replace(/\.\d+$/, '.1');
    const secret = randomUUID();
    http = createServer((_req, res) => res.end(secret));
    await new Promise<void>((resolve) => http?.listen(0, gateway, resolve));
    const address = http.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await batch.task.add('netjob', {
      id: 'http',
      commandLine: `/bin/sh -c 'wget -q -O - http://${gateway}:${String(port)}/'`,
    });
    const t = await finished('http');
    assert.equal(t.executionInfo?.exitCode, 0);
    assert.equal(await stdout('http'), secret);
    // The server itself listens on the host's 127.0.0.1: a node's loopback is its own.
    const serverPort = new URL(server.connection.batchUrl).port;
    await batch.task.add('netjob', {
      id: 'loopback',
      commandLine: `/bin/sh -c 'wget -q -T 3 -O - http://127.0.0.1:${serverPort}/health'`,
    });
    assert.notEqual((await finished('loopback')).executionInfo?.exitCode, 0);
  });
});
