import type { Transaction } from 'kysely';
import type { SubtaskRecord } from './records.ts';
import type { Database } from './sqlite/schema.ts';
import { caseKey } from './keys.ts';
import { nodeKey } from './sql-jobs.ts';

/**
 * Instances of multi-instance tasks (ADR 0038), one row each: JSON documents keyed by task and instance id, with
 * the node an unfinished instance holds beside them, so the scheduler finds a node's instances by index.
 */

const taskWhere = (account: string, job: string, task: string) => ({
  account_key: caseKey(account),
  job_key: caseKey(job),
  task_key: caseKey(task),
});

/** Replaces the task's instances with `subtasks` (none: removes them). */
export async function putSubtasks(
  db: Transaction<Database>,
  account: string,
  job: string,
  task: string,
  subtasks: SubtaskRecord[],
): Promise<void> {
  const w = taskWhere(account, job, task);
  await db
    .deleteFrom('subtasks')
    .where('account_key', '=', w.account_key)
    .where('job_key', '=', w.job_key)
    .where('task_key', '=', w.task_key)
    .execute();
  if (subtasks.length === 0) return;
  await db
    .insertInto('subtasks')
    .values(
      subtasks.map((s) => ({
        ...w,
        subtask_id: s.id,
        node_key: s.state === 'completed' ? null : nodeKey(account, s.poolId, s.nodeId),
        doc: JSON.stringify(s),
      })),
    )
    .execute();
}

export async function findSubtasks(
  db: Transaction<Database>,
  account: string,
  job: string,
  task: string,
): Promise<SubtaskRecord[]> {
  const w = taskWhere(account, job, task);
  const rows = await db
    .selectFrom('subtasks')
    .select('doc')
    .where('account_key', '=', w.account_key)
    .where('job_key', '=', w.job_key)
    .where('task_key', '=', w.task_key)
    .orderBy('subtask_id')
    .execute();
  return rows.map((r) => JSON.parse(r.doc) as SubtaskRecord);
}

/** Unfinished instances on these nodes. */
export async function subtasksOnNodes(
  db: Transaction<Database>,
  account: string,
  pool: string,
  nodes: string[],
): Promise<SubtaskRecord[]> {
  const out: SubtaskRecord[] = [];
  for (let i = 0; i < nodes.length; i += 200) {
    const keys = nodes.slice(i, i + 200).map((n) => nodeKey(account, pool, n));
    const rows = await db.selectFrom('subtasks').select('doc').where('node_key', 'in', keys).execute();
    out.push(...rows.map((r) => JSON.parse(r.doc) as SubtaskRecord));
  }
  return out;
}

/** Removes the instances of a job's tasks (all of them, or one task's). */
export async function deleteSubtasksOf(
  db: Transaction<Database>,
  account: string,
  job: string,
  task?: string,
): Promise<void> {
  let q = db
    .deleteFrom('subtasks')
    .where('account_key', '=', caseKey(account))
    .where('job_key', '=', caseKey(job));
  if (task !== undefined) q = q.where('task_key', '=', caseKey(task));
  await q.execute();
}
