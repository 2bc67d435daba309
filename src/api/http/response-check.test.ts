import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { ResponseChecker, type ResponseViolation } from '../spec/responses.ts';
import { registerResponseCheck } from './response-check.ts';

const checker = new ResponseChecker(fileURLToPath(new URL('../../../specs', import.meta.url)));

test('the hook records what an answer breaks and sends the answer unchanged', async () => {
  const found: ResponseViolation[] = [];
  const app = Fastify();
  registerResponseCheck(app, { checker, record: (v) => found.push(v) });
  app.get('/pools', () => ({ value: [{ id: 5 }] }));
  app.get('/pools/:id', (_req, reply) =>
    reply.code(404).send({ code: 'PoolNotFound', message: { lang: 'en-US', value: 'no' } }),
  );
  const bad = await app.inject({ url: '/pools?api-version=2024-02-01.19.0' });
  assert.equal(bad.statusCode, 200);
  assert.deepEqual(bad.json(), { value: [{ id: 5 }] });
  const good = await app.inject({ url: '/pools/p?api-version=2024-02-01.19.0' });
  assert.equal(good.statusCode, 404);
  assert.deepEqual(
    found.map((v) => [v.operation, v.path, v.status]),
    [['Pool_List', '/pools', 200]],
  );
  assert.match(found[0]?.message ?? '', /value\[0\]\.id/);
  await app.close();
});
