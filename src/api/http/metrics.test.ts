import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { family, histogramBuckets, parseScrape, sampleSum } from '../../../tests/prometheus.ts';
import { DomainError } from '../../domain/errors.ts';
import type { BatchCountsRecord } from '../../domain/metrics/batch-counts.ts';
import type { ApiDeps } from './context.ts';
import { ServerMetrics } from './metrics.ts';
import { clientRequestIdOf, labelRoute, registerObservability, requestLogger } from './observability.ts';

const counts = (poolNodes: number): BatchCountsRecord => ({
  pools: [{ labels: { account: 'acct', state: 'active', allocationState: 'steady' }, count: 2 }],
  nodes: [
    { labels: { account: 'acct', pool: 'P1', state: 'idle' }, count: poolNodes },
    { labels: { account: 'acct', pool: 'P2', state: 'starting' }, count: 1 },
  ],
  jobs: [{ labels: { account: 'acct', state: 'active' }, count: 1 }],
  tasks: [
    { labels: { account: 'acct', pool: 'P1', state: 'active' }, count: 7 },
    { labels: { account: 'acct', pool: 'P1', state: 'completed' }, count: 3 },
  ],
});

describe('ServerMetrics', () => {
  test('state gauges follow the latest counts: values replaced, vanished series dropped', async () => {
    const metrics = new ServerMetrics();
    metrics.setCounts(counts(3));
    let scrape = parseScrape(await metrics.render());
    assert.equal(family(scrape, 'lazurite_pools')?.type, 'GAUGE');
    assert.match(family(scrape, 'lazurite_nodes')?.help ?? '', /by account, pool and state/);
    assert.equal(sampleSum(scrape, 'lazurite_pools', { allocation_state: 'steady', state: 'active' }), 2);
    assert.equal(sampleSum(scrape, 'lazurite_nodes', { pool: 'P1', state: 'idle' }), 3);
    assert.equal(sampleSum(scrape, 'lazurite_tasks', { pool: 'P1' }), 10);
    assert.equal(sampleSum(scrape, 'lazurite_jobs', { state: 'active' }), 1);
    metrics.setCounts({ ...counts(5), nodes: counts(5).nodes.slice(0, 1) });
    scrape = parseScrape(await metrics.render());
    assert.equal(sampleSum(scrape, 'lazurite_nodes', { pool: 'P1', state: 'idle' }), 5);
    assert.equal(
      family(scrape, 'lazurite_nodes')?.metrics.some((m) => m.labels?.pool === 'P2'),
      false,
    );
  });

  test('replication bytes add up per region; requests count and land in latency buckets by route', async () => {
    const metrics = new ServerMetrics();
    metrics.copied('eastus', 1000);
    metrics.copied('eastus', 24);
    metrics.copied('westus', 0);
    metrics.observeRequest({ method: 'GET', route: '/pools/:poolId', status: 200, seconds: 0.02 });
    metrics.observeRequest({ method: 'GET', route: '/pools/:poolId', status: 404, seconds: 0.002 });
    metrics.observeRequest({ method: 'GET', route: '/pools/:poolId', status: 204, seconds: 3 });
    const scrape = parseScrape(await metrics.render());
    assert.equal(sampleSum(scrape, 'lazurite_replication_bytes_total', { region: 'eastus' }), 1024);
    assert.equal(
      family(scrape, 'lazurite_replication_bytes_total')?.metrics.some((m) => m.labels?.region === 'westus'),
      false,
    );
    assert.equal(sampleSum(scrape, 'lazurite_http_requests_total', { status_class: '2xx' }), 2);
    assert.equal(sampleSum(scrape, 'lazurite_http_requests_total', { status_class: '4xx' }), 1);
    const ok = { method: 'GET', route: '/pools/:poolId', status_class: '2xx' };
    const buckets = histogramBuckets(scrape, 'lazurite_http_request_duration_seconds', ok);
    assert.equal(buckets['0.01'], 0);
    assert.equal(buckets['0.025'], 1);
    assert.equal(buckets['2.5'], 1);
    assert.equal(buckets['5'], 2);
    assert.equal(buckets['+Inf'], 2);
  });
});

/** A Fastify app wired as buildHttpServer wires observability, logging into `lines`. */
function observedApp(lines: Record<string, unknown>[], metricsToken?: string) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const metrics = new ServerMetrics();
  const app = Fastify({
    loggerInstance: pino({ level: 'info' }, sink),
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    childLoggerFactory: requestLogger,
  }) as unknown as FastifyInstance;
  app.setErrorHandler((err, _request, reply) =>
    reply.code(err instanceof DomainError && err.category === 'unauthenticated' ? 401 : 500).send(),
  );
  const deps = {
    metrics,
    batchCounts: { counts: () => Promise.resolve(counts(4)) },
    config: { metricsToken },
  } as unknown as ApiDeps;
  registerObservability(app, deps);
  app.get('/inner/*', (request) => {
    labelRoute(request, '/inner/{name}');
    return {};
  });
  app.get('/pools/:poolId', (request) => {
    request.log.info('inside the handler');
    return { id: (request.params as { poolId: string }).poolId };
  });
  return app;
}

describe('request observability', () => {
  test('every request line carries reqId and the client request id; the access line has route and status', async () => {
    const lines: Record<string, unknown>[] = [];
    const app = observedApp(lines);
    const res = await app.inject({ url: '/pools/p7', headers: { 'client-request-id': 'c-42' } });
    assert.equal(res.statusCode, 200);
    await app.inject({ url: '/nowhere', headers: { 'x-ms-client-request-id': 'arm-1' } });
    const inside = lines.find((l) => l.msg === 'inside the handler');
    const access = lines.filter((l) => l.msg === 'request');
    assert.equal(access.length, 2);
    assert.match(String(inside?.reqId), /^[0-9a-f-]{36}$/);
    assert.equal(inside?.clientRequestId, 'c-42');
    assert.deepEqual(
      { ...access[0], time: 0, ms: 0, pid: 0, hostname: '' },
      {
        level: 30,
        time: 0,
        pid: 0,
        hostname: '',
        reqId: inside.reqId,
        clientRequestId: 'c-42',
        method: 'GET',
        route: '/pools/:poolId',
        url: '/pools/p7',
        status: 200,
        ms: 0,
        msg: 'request',
      },
    );
    assert.equal(access[1]?.route, 'unmatched');
    assert.equal(access[1].clientRequestId, 'arm-1');
    assert.notEqual(access[1].reqId, inside.reqId);
    await app.inject({ url: '/inner/abc' });
    assert.equal(lines.at(-1)?.route, '/inner/{name}', "a surface's own router names the route");
    const scrape = parseScrape((await app.inject({ url: '/metrics' })).body);
    assert.equal(sampleSum(scrape, 'lazurite_http_requests_total', { route: '/pools/:poolId' }), 1);
    assert.equal(sampleSum(scrape, 'lazurite_http_requests_total', { route: 'unmatched' }), 1);
    assert.equal(sampleSum(scrape, 'lazurite_http_requests_total', { route: '/inner/{name}' }), 1);
    assert.equal(sampleSum(scrape, 'lazurite_nodes', { pool: 'P1' }), 4);
    await app.close();
  });

  test('with a metrics token, /metrics wants it as a bearer token', async () => {
    const app = observedApp([], 's3cret');
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
    const wrong = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.statusCode, 401);
    const right = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer s3cret' } });
    assert.equal(right.statusCode, 200);
    assert.match(right.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    await app.close();
  });

  test('client request ids: Batch and Entra ID header first, then ARM; empty ones ignored, long ones cut', () => {
    assert.equal(clientRequestIdOf({ 'client-request-id': 'a', 'x-ms-client-request-id': 'b' }), 'a');
    assert.equal(clientRequestIdOf({ 'x-ms-client-request-id': 'b' }), 'b');
    assert.equal(clientRequestIdOf({ 'client-request-id': '' }), undefined);
    assert.equal(clientRequestIdOf({ 'client-request-id': 'x'.repeat(300) })?.length, 256);
  });
});
