import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { sampleJob, sampleTask } from '../conformance-jobs.ts';
import { migrations } from '../migrations.ts';
import type { TaskRecord } from '../records.ts';
import { openNodeSqlite } from './node-sqlite.ts';
import { openSqliteStore } from './open.ts';

test('0007 fills in when the folders of tasks completed before it expire', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'lzr-migrate-')), 'state.db');
  const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0007'));
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: openNodeSqlite(path) }) });
  const provider = { getMigrations: () => Promise.resolve(before) };
  assert.equal((await new Migrator({ db, provider }).migrateToLatest()).error, undefined);
  const end = '2026-01-01T00:00:00.000Z';
  const task = (id: string, completed: boolean): TaskRecord => ({
    ...sampleTask(sampleJob('J', 1), id, 0),
    ...(completed ? { state: 'completed' as const } : {}),
    nodeInfo: { poolId: 'P', nodeId: 'n1' },
    executionInfo: { retryCount: 0, requeueCount: 0, endTime: end },
  });
  for (const t of [task('done', true), task('running', false)]) {
    await (db as Kysely<Record<string, Record<string, unknown>>>)
      .insertInto('tasks')
      .values({
        account_key: 'acct',
        job_key: 'j',
        id_key: t.id,
        pool_key: 'acct|p',
        state: t.state,
        result: null,
        slots: 1,
        runnable: 0,
        neg_priority: 0,
        job_seq: 1,
        task_seq: 0,
        node_key: null,
        doc: JSON.stringify(t),
      })
      .execute();
  }
  await db.destroy();
  const store = await openSqliteStore(path);
  const week = 7 * 24 * 3600_000;
  const due = await store.transaction((tx) => tx.tasksWithExpiredFiles(Date.parse(end) + week, 10));
  assert.deepEqual(
    due.map((t) => t.id),
    ['done'],
  );
  await store.close();
});
