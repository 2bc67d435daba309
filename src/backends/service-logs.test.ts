import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DomainError } from '../domain/errors.ts';
import { syncLogLines, uploadLogsRequest } from '../domain/pools/service-logs.ts';
import { ServiceLogFiles } from './service-logs.ts';

const node = { accountName: 'Acct', poolId: 'P1', nodeId: 'tvm-1' };

test('one file per node and hour; a window picks the files whose hour it touches', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-logs-'));
  try {
    const logs = new ServiceLogFiles(dir);
    await logs.append(node, new Date('2026-01-01T10:59:00Z'), ['a']);
    await logs.append({ ...node, nodeId: 'TVM-1' }, new Date('2026-01-01T10:59:30Z'), ['b']);
    await logs.append(node, new Date('2026-01-01T12:00:00Z'), ['c']);
    const names = async (start: string, end: string) =>
      (await logs.filesBetween(node, new Date(start), new Date(end))).map((f) => f.name);
    const all = await logs.filesBetween(
      node,
      new Date('2026-01-01T00:00:00Z'),
      new Date('2026-01-02T00:00:00Z'),
    );
    assert.deepEqual(
      all.map((f) => [f.name, f.content.toString()]),
      [
        ['lazurite-agent-20260101T10.log', 'a\nb\n'],
        ['lazurite-agent-20260101T12.log', 'c\n'],
      ],
    );
    assert.deepEqual(await names('2026-01-01T11:00:00Z', '2026-01-01T11:59:59Z'), []);
    assert.deepEqual(await names('2026-01-01T10:30:00Z', '2026-01-01T12:00:00Z'), [
      'lazurite-agent-20260101T10.log',
      'lazurite-agent-20260101T12.log',
    ]);
    await logs.forget(node);
    assert.deepEqual(await names('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reports become stamped lines per node, line breaks in messages flattened', () => {
  const now = new Date('2026-01-01T10:00:00Z');
  const out = syncLogLines(
    [{ ...node, generation: 2, state: 'idle', errors: [{ code: 'E', message: 'two\nlines' }] }],
    [{ ...node, jobId: 'j', taskId: 't', attempt: 1, state: 'completed', startTime: 'S', exitCode: 0 }],
    now,
  );
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]?.lines, [
    '2026-01-01T10:00:00.000Z node state=idle generation=2',
    '2026-01-01T10:00:00.000Z node error E: two lines',
    '2026-01-01T10:00:00.000Z task job=j task=t attempt=1 state=completed startTime=S exitCode=0',
  ]);
});

test('an upload request: identityReference, a URL without a SAS and an inverted window are refused', () => {
  const now = new Date('2026-01-01T10:00:00Z');
  const url = 'https://acct.blob.example/logs?sp=w&sig=abc';
  const property = (body: Record<string, unknown>) => {
    try {
      uploadLogsRequest(body, now);
      return 'accepted';
    } catch (err) {
      assert.ok(err instanceof DomainError);
      return `${err.code} ${String(err.target)}`;
    }
  };
  assert.equal(property({ containerUrl: url, startTime: '2026-01-01T09:00:00Z' }), 'accepted');
  assert.equal(
    property({ containerUrl: url, startTime: '2026-01-01T09:00:00Z', identityReference: {} }),
    'UnsupportedProperty identityReference',
  );
  assert.equal(
    property({ containerUrl: 'https://acct.blob.example/logs', startTime: '2026-01-01T09:00:00Z' }),
    'InvalidPropertyValue containerUrl',
  );
  assert.equal(
    property({ containerUrl: 'file:///etc?sig=x', startTime: '2026-01-01T09:00:00Z' }),
    'InvalidPropertyValue containerUrl',
  );
  assert.equal(
    property({ containerUrl: url, startTime: '2026-01-01T09:00:00Z', endTime: '2026-01-01T08:00:00Z' }),
    'InvalidPropertyValue endTime',
  );
  const future = uploadLogsRequest({ containerUrl: url, startTime: '2026-01-01T12:00:00Z' }, now);
  assert.equal(
    future.end.toISOString(),
    '2026-01-01T12:00:00.000Z',
    'no endTime: everything after the start',
  );
});
