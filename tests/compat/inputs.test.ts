import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { describe, test } from 'node:test';
import { credentialFor } from './harness.ts';
import { failsWith, tinyPoolSpec, type BatchFailure, simulatedBatchServer } from './pool-image.ts';

const named = (property: string) => (e: BatchFailure) =>
  failsWith(400, 'InvalidPropertyValue')(e) &&
  (e.body?.values ?? []).some((v) => v.key === 'PropertyName' && v.value === property);

/** Sends `text` as is over TLS and reads until the server closes: the raw response. */
function rawExchange(origin: URL, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: origin.hostname, port: Number(origin.port), servername: 'localhost' },
      () => {
        socket.write(text);
      },
    );
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
    socket.on('end', () => {
      resolve(got);
    });
    socket.on('error', reject);
  });
}

/** Status and JSON body of the last response in a raw exchange. */
function lastResponse(raw: string): { status: number; body: Record<string, unknown> } {
  const at = raw.lastIndexOf('HTTP/1.1 ');
  const status = Number(raw.slice(at + 9, at + 12));
  const body = raw.slice(raw.indexOf('\r\n\r\n', at) + 4);
  return { status, body: JSON.parse(body) as Record<string, unknown> };
}

/** Inputs Azure Batch refuses (issue 20 item 9, issue 18 item 2) through @azure/batch, or raw HTTPS where it cannot. */
describe('inputs Batch refuses', () => {
  const env = simulatedBatchServer(async (batch) => {
    await batch.pool.add(tinyPoolSpec('slots', 0, { taskSlotsPerNode: 2 }));
    await batch.job.add({ id: 'j', poolInfo: { poolId: 'slots' } });
  });

  test('requiredSlots above taskSlotsPerNode, env names with = or NUL, an empty task collection', async () => {
    await assert.rejects(
      env.batch.task.add('j', { id: 'wide', commandLine: 'true', requiredSlots: 3 }),
      named('requiredSlots'),
    );
    await assert.rejects(
      env.batch.task.add('j', {
        id: 'eq',
        commandLine: 'true',
        environmentSettings: [{ name: 'A=B', value: '1' }],
      }),
      named('environmentSettings[0].name'),
    );
    await assert.rejects(
      env.batch.task.add('j', {
        id: 'nul',
        commandLine: 'true',
        environmentSettings: [{ name: 'A\0B', value: '1' }],
      }),
      named('environmentSettings[0].name'),
    );
    await assert.rejects(env.batch.task.addCollection('j', []), named('value'));
    await env.batch.task.add('j', { id: 'fits', commandLine: 'true', requiredSlots: 2 });
  });

  test('resizeTimeout beyond the largest TimeSpan', async () => {
    await assert.rejects(
      env.batch.pool.resize('slots', { targetDedicatedNodes: 1, resizeTimeout: 'P10675200D' }),
      named('resizeTimeout'),
    );
    await assert.rejects(
      env.batch.pool.add(tinyPoolSpec('long', 0, { resizeTimeout: 'P99999999D' })),
      named('resizeTimeout'),
    );
  });

  test('$select of a property the entity does not have: 400 InvalidQueryParameterValue', async () => {
    const refused = (e: BatchFailure) =>
      failsWith(400, 'InvalidQueryParameterValue')(e) &&
      (e.body?.values ?? []).some((v) => v.key === 'QueryParameterName' && v.value === '$select');
    await assert.rejects(
      env.batch.pool.list({ poolListOptions: { select: 'id,bogus' } }).then((p) => p.length),
      refused,
    );
    await assert.rejects(env.batch.pool.get('slots', { poolGetOptions: { select: 'nope' } }), refused);
    await assert.rejects(env.batch.job.get('j', { jobGetOptions: { select: 'id,vmSize' } }), refused);
    await assert.rejects(
      env.batch.task.list('j', { taskListOptions: { select: 'x' } }).then((t) => t.length),
      refused,
    );
    const pool = await env.batch.pool.get('slots', { poolGetOptions: { select: 'id,taskSlotsPerNode' } });
    assert.deepEqual([pool.id, pool.taskSlotsPerNode, pool.vmSize], ['slots', 2, undefined]);
    // A nested path keeps one property of an object property.
    const nested = await env.batch.pool.get('slots', {
      poolGetOptions: { select: 'id,virtualMachineConfiguration/nodeAgentSKUId' },
    });
    assert.equal(nested.virtualMachineConfiguration?.nodeAgentSKUId, 'batch.node.lazurite tiny');
    assert.equal(nested.virtualMachineConfiguration.imageReference, undefined);
    assert.equal(nested.vmSize, undefined);
  });

  test('a malformed percent-encoding in the URL: the Batch envelope, not a framework body', async () => {
    const c = env.server.connection;
    const token = (await credentialFor(c).getToken('https://batch.core.windows.net//.default')).token;
    const origin = new URL(c.batchUrl);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: origin.hostname,
          port: origin.port,
          path: '/batch/lazurite/pools/%E0%A4%A?api-version=2024-02-01.19.0',
          headers: { authorization: `Bearer ${token}` },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body: text });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 400);
    const parsed = JSON.parse(body) as { code?: string; message?: { value?: string }; error?: unknown };
    assert.equal(parsed.code, 'RequestUrlFailedToParse', body);
    assert.equal(typeof parsed.message?.value, 'string');
  });

  test('verbs: one Batch never uses is 400 InvalidHttpVerb, one the path does not serve 405 UnsupportedHttpVerb', async () => {
    const c = env.server.connection;
    const token = (await credentialFor(c).getToken('https://batch.core.windows.net//.default')).token;
    const send = async (method: string, path: string) => {
      const res = await fetch(`${c.batchUrl}${path}?api-version=2024-02-01.19.0`, {
        method,
        headers: { authorization: `Bearer ${token}` },
      });
      return [res.status, ((await res.json()) as { code?: string }).code];
    };
    assert.deepEqual(await send('PROPFIND', '/pools'), [400, 'InvalidHttpVerb']);
    assert.deepEqual(await send('PUT', '/pools'), [405, 'UnsupportedHttpVerb']);
    assert.deepEqual(await send('PATCH', '/jobs/j/tasks'), [405, 'UnsupportedHttpVerb']);
    // An operation Batch has and Lazurite does not (Certificate_List) stays 501, naming it.
    const [status, code] = await send('GET', '/certificates');
    assert.deepEqual([status, code], [501, 'NotImplemented']);
  });

  test('a 5,000-character pool id: 404 PoolNotFound, not 501', async () => {
    await assert.rejects(env.batch.pool.get('p'.repeat(5000)), failsWith(404, 'PoolNotFound'));
  });

  test('oversized headers (431) and broken framing (400) in the surface envelope, not the framework body', async () => {
    const origin = new URL(env.server.connection.batchUrl);
    const big = `x-pad: ${'a'.repeat(20_000)}\r\n`;
    const batch431 = lastResponse(
      await rawExchange(origin, `GET /batch/lazurite/pools HTTP/1.1\r\nHost: x\r\n${big}\r\n`),
    );
    assert.equal(batch431.status, 431);
    assert.equal(batch431.body.code, 'RequestHeaderFieldsTooLarge');
    assert.equal(typeof (batch431.body.message as { value?: unknown }).value, 'string');
    const arm431 = lastResponse(
      await rawExchange(origin, `GET /subscriptions HTTP/1.1\r\nHost: x\r\n${big}\r\n`),
    );
    assert.equal(arm431.status, 431);
    assert.equal((arm431.body.error as { code?: string }).code, 'RequestHeaderFieldsTooLarge');
    const framing = lastResponse(
      await rawExchange(
        origin,
        'POST /batch/lazurite/pools HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}',
      ),
    );
    assert.equal(framing.status, 400);
    assert.equal(framing.body.code, 'InvalidRequestBody');
    const badLength = lastResponse(
      await rawExchange(origin, 'PUT /subscriptions/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}'),
    );
    assert.equal(badLength.status, 400);
    assert.equal((badLength.body.error as { code?: string }).code, 'InvalidRequestContent');
  });
});
