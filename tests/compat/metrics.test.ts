import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { family, histogramBuckets, parseScrape, sampleSum, type Scrape } from '../prometheus.ts';
import { computeClient, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

const poll = { updateIntervalInMs: 100 };

async function scrape(server: TestServer, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(`${server.connection.armEndpoint}/metrics`, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseScrape(await res.text());
}

/** Log lines the server wrote as JSON (its stdout is JSON lines apart from the start banner). */
function jsonLines(server: TestServer): Record<string, unknown>[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{"level"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('GET /metrics: Prometheus metrics of a running server, and JSON request logs', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  const stdout: string[] = [];

  before(async () => {
    server = await startServer(['--node-backend', 'simulated', '--log-level', 'info']);
    server.process.stdout?.on('data', (d: Buffer) => stdout.push(d.toString()));
    batch = sharedKeyBatch(server);
  });
  after(async () => {
    await server.stop();
  });

  test('pools, nodes by state, jobs and tasks by state match what was created', async () => {
    await batch.pool.add(tinyPoolSpec('busy', 2));
    await batch.pool.add(tinyPoolSpec('empty', 0));
    await waitFor(
      () => batch.computeNode.list('busy'),
      (ns) => ns.length === 2 && ns.every((n) => n.state === 'idle'),
      '2 idle nodes',
    );
    await batch.job.add({ id: 'runs', poolInfo: { poolId: 'busy' } });
    await batch.task.addCollection(
      'runs',
      [1, 2, 3].map((i) => ({ id: `t${String(i)}`, commandLine: '/bin/true' })),
    );
    await batch.job.add({ id: 'waits', poolInfo: { poolId: 'empty' } });
    await batch.task.addCollection('waits', [
      { id: 'w1', commandLine: '/bin/true' },
      { id: 'w2', commandLine: '/bin/true' },
    ]);
    await waitFor(
      () => batch.job.getTaskCounts('runs'),
      (c) => c.taskCounts.completed === 3,
      '3 completed tasks',
    );
    const m = await scrape(server);
    const account = server.connection.batchAccountName;
    assert.equal(family(m, 'lazurite_pools')?.type, 'GAUGE');
    assert.equal(sampleSum(m, 'lazurite_pools', { account }), 2);
    assert.equal(sampleSum(m, 'lazurite_pools', { account, state: 'active', allocation_state: 'steady' }), 2);
    assert.equal(sampleSum(m, 'lazurite_nodes', { account, pool: 'busy', state: 'idle' }), 2);
    assert.equal(sampleSum(m, 'lazurite_nodes', { pool: 'busy' }), 2);
    assert.equal(sampleSum(m, 'lazurite_nodes', { pool: 'empty' }), 0);
    assert.equal(sampleSum(m, 'lazurite_jobs', { account, state: 'active' }), 2);
    assert.equal(sampleSum(m, 'lazurite_tasks', { account, pool: 'busy', state: 'completed' }), 3);
    assert.equal(sampleSum(m, 'lazurite_tasks', { account, pool: 'empty', state: 'active' }), 2);
    assert.equal(sampleSum(m, 'lazurite_tasks'), 5);
    // The same numbers the Batch API reports.
    const counts = await batch.account.listPoolNodeCounts();
    assert.equal(counts.find((c) => c.poolId === 'busy')?.dedicated?.idle, 2);
    assert.equal((await batch.job.getTaskCounts('waits')).taskCounts.active, 2);
    assert.ok(sampleSum(m, 'process_resident_memory_bytes') > 0, 'process metrics are there too');
  });

  test('request latency histogram and counter by route pattern, method and status class', async () => {
    const series = { method: 'GET', route: '/pools/:poolId', status_class: '2xx' };
    const name = 'lazurite_http_request_duration_seconds';
    const before = await scrape(server);
    const inf0 = histogramBuckets(before, name, series)['+Inf'] ?? 0;
    for (let i = 0; i < 3; i++) await batch.pool.get('busy');
    await assert.rejects(batch.pool.get('nosuchpool'));
    const m = await scrape(server);
    const buckets = histogramBuckets(m, name, series);
    assert.equal(buckets['+Inf'], inf0 + 3);
    const bounds = Object.keys(buckets).sort((a, b) => Number(a) - Number(b));
    for (const [i, le] of bounds.entries())
      if (i > 0)
        assert.ok((buckets[le] ?? 0) >= (buckets[bounds[i - 1] ?? ''] ?? 0), 'buckets are cumulative');
    assert.equal(
      sampleSum(m, 'lazurite_http_requests_total', series) -
        sampleSum(before, 'lazurite_http_requests_total', series),
      3,
    );
    assert.equal(sampleSum(m, 'lazurite_http_requests_total', { ...series, status_class: '4xx' }), 1);
    const routes = family(m, 'lazurite_http_requests_total')?.metrics.map((s) => s.labels?.route) ?? [];
    assert.ok(!routes.includes('/pools/busy'), 'raw URLs never become labels');
  });

  test('replication bytes by target region grow when an image version replicates', async () => {
    const c = server.connection;
    const compute = computeClient(c);
    const rg = c.resourceGroup;
    const disk = await compute.disks.createOrUpdate(
      rg,
      'm-disk',
      {
        location: 'westeurope',
        creationData: {
          createOption: 'FromImage',
          imageReference: {
            id: `/Subscriptions/${c.subscriptionId}/Providers/Microsoft.Compute/Locations/westeurope/Publishers/lazurite/ArtifactTypes/VMImage/Offers/tiny/Skus/busybox/Versions/latest`,
          },
        },
      },
      poll,
    );
    const image = await compute.images.createOrUpdate(
      rg,
      'm-image',
      {
        location: 'westeurope',
        storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized', managedDisk: { id: disk.id } } },
      },
      poll,
    );
    await compute.galleries.createOrUpdate(rg, 'mgallery', { location: 'westeurope' }, poll);
    await compute.galleryImages.createOrUpdate(
      rg,
      'mgallery',
      'mdef',
      {
        location: 'westeurope',
        osType: 'Linux',
        osState: 'Generalized',
        identifier: { publisher: 'contoso', offer: 'metrics', sku: 'v1' },
      },
      poll,
    );
    const before = await scrape(server);
    assert.equal(sampleSum(before, 'lazurite_replication_bytes_total', { region: 'eastus' }), 0);
    const version = await compute.galleryImageVersions.createOrUpdate(
      rg,
      'mgallery',
      'mdef',
      '1.0.0',
      {
        location: 'westeurope',
        storageProfile: { source: { id: image.id } },
        publishingProfile: { targetRegions: [{ name: 'westeurope' }, { name: 'eastus' }] },
      },
      poll,
    );
    assert.equal(version.provisioningState, 'Succeeded');
    const m = await scrape(server);
    assert.equal(family(m, 'lazurite_replication_bytes_total')?.type, 'COUNTER');
    assert.ok(sampleSum(m, 'lazurite_replication_bytes_total', { region: 'eastus' }) > 0);
    const armRoutes = (family(m, 'lazurite_http_requests_total')?.metrics ?? [])
      .filter((x) => x.labels?.method === 'PUT')
      .map((x) => x.labels?.route ?? '');
    assert.ok(
      armRoutes.some((r) => r.endsWith('/galleries/{name0}/images/{name1}/versions/{name2}')),
      `ARM requests are labelled by the ARM router's pattern: ${armRoutes.join(' ')}`,
    );
    // The source region already holds every blob: nothing is copied there.
    assert.equal(sampleSum(m, 'lazurite_replication_bytes_total', { region: 'westeurope' }), 0);
  });

  test('request logs are JSON lines with reqId and the client request id; the ids come back in headers', async () => {
    const clientRequestId = '6f0a1d2e-9c1b-4a7e-8d3f-2b5c6d7e8f90';
    const pool = await batch.pool.get('busy', {
      poolGetOptions: { clientRequestId, returnClientRequestId: true },
    });
    const requestId = pool._response.headers.get('request-id') ?? '';
    assert.match(requestId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(pool._response.headers.get('client-request-id'), clientRequestId);
    const line = await waitFor(
      () => Promise.resolve(jsonLines(server).find((l) => l.reqId === requestId && l.msg === 'request')),
      (l) => l !== undefined,
      'the access log line',
    );
    assert.ok(line);
    assert.equal(line.clientRequestId, clientRequestId);
    assert.equal(line.method, 'GET');
    assert.equal(line.route, '/pools/:poolId');
    assert.equal(line.status, 200);
    assert.equal(typeof line.ms, 'number');
    assert.equal(line.service, 'lazurite');
    // ARM answers with x-ms-request-id, the same id its log line carries.
    const arm = await fetch(`${server.connection.armEndpoint}/subscriptions?api-version=2022-12-01`, {
      headers: { 'x-ms-client-request-id': 'arm-client-1' },
    });
    const armId = arm.headers.get('x-ms-request-id') ?? '';
    const armLine = await waitFor(
      () => Promise.resolve(jsonLines(server).find((l) => l.reqId === armId && l.msg === 'request')),
      (l) => l !== undefined,
      'the ARM access log line',
    );
    assert.ok(armLine);
    assert.equal(armLine.clientRequestId, 'arm-client-1');
    assert.equal(armLine.status, arm.status);
    assert.equal(armLine.route, '/subscriptions', "the ARM router's pattern, not Fastify's catch-all");
    // Entra ID answers with x-ms-request-id and echoes client-request-id.
    const c = server.connection;
    const token = await fetch(`${c.authorityHost}/${c.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'client-request-id': 'msal-9' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: c.clientId,
        client_secret: c.clientSecret,
        scope: 'https://management.azure.com/.default',
      }),
    });
    assert.equal(token.status, 200);
    assert.equal(token.headers.get('client-request-id'), 'msal-9');
    const tokenId = token.headers.get('x-ms-request-id') ?? '';
    const tokenLine = await waitFor(
      () => Promise.resolve(jsonLines(server).find((l) => l.reqId === tokenId && l.msg === 'request')),
      (l) => l !== undefined,
      'the token access log line',
    );
    assert.equal(tokenLine?.clientRequestId, 'msal-9');
    assert.equal(tokenLine.route, '/:tenant/oauth2/v2.0/token');
    // After the start banner (pretty-printed connection JSON, whose tail may arrive after this listener was
    // attached), everything the server prints to stdout is one JSON object per line.
    const all = stdout.join('').split('\n').filter(Boolean);
    const bannerTail = all.findIndex((l) => !/^(\{|\}| {2}".*)$/.test(l));
    const lines = all.slice(Math.max(bannerTail, 0));
    assert.ok(lines.length > 10);
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
  });
});

describe('GET /metrics with LAZURITE_METRICS_TOKEN set', () => {
  let server: TestServer;
  before(async () => {
    process.env.LAZURITE_METRICS_TOKEN = 'metrics-secret-7';
    try {
      server = await startServer(['--node-backend', 'simulated']);
    } finally {
      delete process.env.LAZURITE_METRICS_TOKEN;
    }
  });
  after(async () => {
    await server.stop();
  });

  test('wants the token as a bearer token', async () => {
    const url = `${server.connection.armEndpoint}/metrics`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    const m = await scrape(server, { authorization: 'Bearer metrics-secret-7' });
    assert.ok(family(m, 'lazurite_pools'));
  });
});
