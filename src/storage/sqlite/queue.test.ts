import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { sampleJob, sampleTask } from '../conformance-jobs.ts';
import { openSqliteStore } from './open.ts';

test('100,000 queued tasks: claiming reads the head of the queue index, never sorts or scans the tasks', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'lzr-queue-')), 'state.db');
  const store = await openSqliteStore(file);
  const low = sampleJob('low', 1, 0);
  const high = sampleJob('high', 2, 5);
  const tasks = Array.from({ length: 100_000 }, (_, i) =>
    i % 2 === 0 ? sampleTask(low, `l${String(i)}`, i) : sampleTask(high, `h${String(i)}`, i),
  );
  await store.transaction((tx) => tx.putTasks(tasks));
  const head = await store.transaction((tx) => tx.queuedTasks('acct', 'p', 3));
  assert.deepEqual(
    head.map((t) => t.id),
    ['h1', 'h3', 'h5'],
  );
  await store.close();
  const db = new DatabaseSync(file);
  const plan = db
    .prepare(
      'EXPLAIN QUERY PLAN SELECT doc FROM tasks WHERE pool_key = ? AND runnable = 1 ORDER BY neg_priority, job_seq, task_seq LIMIT 64',
    )
    .all('acct|p')
    .map((r) => (r as { detail: string }).detail)
    .join('\n');
  db.close();
  assert.match(plan, /USING INDEX tasks_queue/);
  assert.doesNotMatch(plan, /TEMP B-TREE/);
});
