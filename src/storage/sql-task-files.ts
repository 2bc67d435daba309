import type { Transaction } from 'kysely';
import type { NodeFileCleanupRecord, TaskRecord } from './records.ts';
import type { Database } from './sqlite/schema.ts';

/** The task file cleaner's queues: folders of deleted tasks, and completed tasks whose retention ran out. */

export async function putNodeFileCleanups(
  db: Transaction<Database>,
  rows: NodeFileCleanupRecord[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('node_file_cleanups')
      .values(rows.slice(i, i + 200).map((r) => ({ doc: JSON.stringify(r) })))
      .execute();
  }
}

export async function listNodeFileCleanups(
  db: Transaction<Database>,
  limit: number,
): Promise<(NodeFileCleanupRecord & { id: number })[]> {
  const rows = await db
    .selectFrom('node_file_cleanups')
    .select(['id', 'doc'])
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ ...(JSON.parse(r.doc) as NodeFileCleanupRecord), id: r.id }));
}

export async function deleteNodeFileCleanups(db: Transaction<Database>, ids: number[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 200)
    await db
      .deleteFrom('node_file_cleanups')
      .where('id', 'in', ids.slice(i, i + 200))
      .execute();
}

export async function tasksWithExpiredFiles(
  db: Transaction<Database>,
  nowMs: number,
  limit: number,
): Promise<TaskRecord[]> {
  const rows = await db
    .selectFrom('tasks')
    .select('doc')
    .where('files_expire_at', 'is not', null)
    .where('files_expire_at', '<=', nowMs)
    .orderBy('files_expire_at')
    .limit(limit)
    .execute();
  return rows.map((r) => JSON.parse(r.doc) as TaskRecord);
}
