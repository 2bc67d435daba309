import type { Transaction } from 'kysely';
import type { TaskListOptions } from './port.ts';
import { taskFilesExpireAt, type JobRecord, type TaskCountsRecord, type TaskRecord } from './records.ts';
import type { Database } from './sqlite/schema.ts';
import { caseKey, compoundKey } from './keys.ts';

/**
 * Batch jobs and tasks over Kysely, stored as JSON documents with the columns the scheduler needs beside them:
 * the task queue is an index on (pool, runnable, -job priority, job age, task age), so claiming work reads the
 * head of the queue instead of scanning the tasks.
 */
export const poolKey = (account: string, pool: string): string => compoundKey(account, pool);
export const nodeKey = (account: string, pool: string, node: string): string =>
  compoundKey(account, pool, node);

export async function putJob(db: Transaction<Database>, j: JobRecord): Promise<void> {
  const row = {
    account_key: caseKey(j.accountName),
    id_key: caseKey(j.id),
    seq: j.seq,
    doc: JSON.stringify(j),
  };
  await db
    .insertInto('jobs')
    .values(row)
    .onConflict((oc) => oc.columns(['account_key', 'id_key']).doUpdateSet({ seq: row.seq, doc: row.doc }))
    .execute();
}

export async function findJob(db: Transaction<Database>, account: string, id: string) {
  const r = await db
    .selectFrom('jobs')
    .select('doc')
    .where('account_key', '=', caseKey(account))
    .where('id_key', '=', caseKey(id))
    .executeTakeFirst();
  return r === undefined ? undefined : (JSON.parse(r.doc) as JobRecord);
}

export async function listJobs(db: Transaction<Database>, account: string): Promise<JobRecord[]> {
  const rows = await db
    .selectFrom('jobs')
    .select('doc')
    .where('account_key', '=', caseKey(account))
    .orderBy('id_key')
    .execute();
  return rows.map((r) => JSON.parse(r.doc) as JobRecord);
}

export async function nextJobSeq(db: Transaction<Database>): Promise<number> {
  const r = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.max<number | string | null>('seq').as('top'))
    .executeTakeFirst();
  return Number(r?.top ?? 0) + 1;
}

export async function deleteJob(db: Transaction<Database>, account: string, id: string): Promise<boolean> {
  const where = { account_key: caseKey(account), job_key: caseKey(id) };
  await db
    .deleteFrom('subtasks')
    .where('account_key', '=', where.account_key)
    .where('job_key', '=', where.job_key)
    .execute();
  await db
    .deleteFrom('tasks')
    .where('account_key', '=', where.account_key)
    .where('job_key', '=', where.job_key)
    .execute();
  await db
    .deleteFrom('task_deps')
    .where('account_key', '=', where.account_key)
    .where('job_key', '=', where.job_key)
    .execute();
  const r = await db
    .deleteFrom('jobs')
    .where('account_key', '=', where.account_key)
    .where('id_key', '=', where.job_key)
    .executeTakeFirst();
  return r.numDeletedRows > 0n;
}

const taskRow = (t: TaskRecord) => ({
  account_key: caseKey(t.accountName),
  job_key: caseKey(t.jobId),
  id_key: caseKey(t.id),
  pool_key: poolKey(t.accountName, t.poolId),
  state: t.state,
  result: t.state === 'completed' ? (t.executionInfo.result ?? null) : null,
  slots: t.requiredSlots,
  runnable: t.state === 'active' && !t.blocked && !t.held ? 1 : 0,
  neg_priority: -t.jobPriority,
  job_seq: t.jobSeq,
  task_seq: t.seq,
  node_key: t.assignedNode === null ? null : nodeKey(t.accountName, t.poolId, t.assignedNode),
  files_expire_at: taskFilesExpireAt(t),
  doc: JSON.stringify(t),
});

export async function putTasks(db: Transaction<Database>, tasks: TaskRecord[]): Promise<void> {
  for (let i = 0; i < tasks.length; i += 100) {
    await db
      .insertInto('tasks')
      .values(tasks.slice(i, i + 100).map(taskRow))
      .onConflict((oc) =>
        oc.columns(['account_key', 'job_key', 'id_key']).doUpdateSet((eb) => ({
          pool_key: eb.ref('excluded.pool_key'),
          state: eb.ref('excluded.state'),
          result: eb.ref('excluded.result'),
          slots: eb.ref('excluded.slots'),
          runnable: eb.ref('excluded.runnable'),
          neg_priority: eb.ref('excluded.neg_priority'),
          job_seq: eb.ref('excluded.job_seq'),
          task_seq: eb.ref('excluded.task_seq'),
          node_key: eb.ref('excluded.node_key'),
          files_expire_at: eb.ref('excluded.files_expire_at'),
          doc: eb.ref('excluded.doc'),
        })),
      )
      .execute();
  }
}

export async function findTasks(
  db: Transaction<Database>,
  account: string,
  job: string,
  ids: string[],
): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  for (let i = 0; i < ids.length; i += 200) {
    const rows = await db
      .selectFrom('tasks')
      .select('doc')
      .where('account_key', '=', caseKey(account))
      .where('job_key', '=', caseKey(job))
      .where('id_key', 'in', ids.slice(i, i + 200).map(caseKey))
      .execute();
    out.push(...rows.map((r) => JSON.parse(r.doc) as TaskRecord));
  }
  return out;
}

export async function listTasks(
  db: Transaction<Database>,
  account: string,
  job: string,
  options: TaskListOptions = {},
): Promise<TaskRecord[]> {
  let q = db
    .selectFrom('tasks')
    .select('doc')
    .where('account_key', '=', caseKey(account))
    .where('job_key', '=', caseKey(job));
  if (options.states) q = q.where('state', 'in', options.states);
  if (options.afterId !== undefined) q = q.where('id_key', '>', caseKey(options.afterId));
  q = q.orderBy('id_key');
  if (options.limit !== undefined) q = q.limit(options.limit);
  return (await q.execute()).map((r) => JSON.parse(r.doc) as TaskRecord);
}

/** The head of a pool's queue: runnable tasks by job priority, job age, task age. */
export async function queuedTasks(
  db: Transaction<Database>,
  account: string,
  pool: string,
  limit: number,
): Promise<TaskRecord[]> {
  const rows = await db
    .selectFrom('tasks')
    .select('doc')
    .where('pool_key', '=', poolKey(account, pool))
    .where('runnable', '=', 1)
    .orderBy('neg_priority')
    .orderBy('job_seq')
    .orderBy('task_seq')
    .limit(limit)
    .execute();
  return rows.map((r) => JSON.parse(r.doc) as TaskRecord);
}

/** Tasks preparing or running on these nodes of one pool. */
export async function tasksOnNodes(
  db: Transaction<Database>,
  account: string,
  pool: string,
  nodes: string[],
): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  for (let i = 0; i < nodes.length; i += 200) {
    const keys = nodes.slice(i, i + 200).map((n) => nodeKey(account, pool, n));
    const rows = await db.selectFrom('tasks').select('doc').where('node_key', 'in', keys).execute();
    out.push(...rows.map((r) => JSON.parse(r.doc) as TaskRecord));
  }
  return out;
}

export async function countTasks(
  db: Transaction<Database>,
  account: string,
  job: string,
): Promise<{ tasks: TaskCountsRecord; slots: TaskCountsRecord }> {
  const rows = await db
    .selectFrom('tasks')
    .select(['state', 'result'])
    .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.sum<number | string>('slots').as('s')])
    .where('account_key', '=', caseKey(account))
    .where('job_key', '=', caseKey(job))
    .groupBy(['state', 'result'])
    .execute();
  return bucketCounts(rows);
}

/** Task counts of every job on one pool (autoscale's $ActiveTasks, …), from index `tasks_by_pool_state`. */
export async function countPoolTasks(
  db: Transaction<Database>,
  account: string,
  pool: string,
): Promise<TaskCountsRecord> {
  const rows = await db
    .selectFrom('tasks')
    .select(['state', 'result'])
    .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.sum<number | string>('slots').as('s')])
    .where('pool_key', '=', poolKey(account, pool))
    .groupBy(['state', 'result'])
    .execute();
  return bucketCounts(rows).tasks;
}

/** Grouped (state, result) counts as Batch's task counts: preparing counts as running. */
function bucketCounts(
  rows: { state: string; result: string | null; n: number | string; s: number | string }[],
): { tasks: TaskCountsRecord; slots: TaskCountsRecord } {
  const zero = (): TaskCountsRecord => ({ active: 0, running: 0, completed: 0, succeeded: 0, failed: 0 });
  const tasks = zero();
  const slots = zero();
  for (const r of rows) {
    const n = Number(r.n);
    const s = Number(r.s);
    const bucket = r.state === 'active' ? 'active' : r.state === 'completed' ? 'completed' : 'running';
    tasks[bucket] += n;
    slots[bucket] += s;
    const outcome = r.result === 'success' ? 'succeeded' : r.result === 'failure' ? 'failed' : undefined;
    if (r.state === 'completed' && outcome !== undefined) {
      tasks[outcome] += n;
      slots[outcome] += s;
    }
  }
  return { tasks, slots };
}

export async function deleteTask(db: Transaction<Database>, account: string, job: string, id: string) {
  await db
    .deleteFrom('subtasks')
    .where('account_key', '=', caseKey(account))
    .where('job_key', '=', caseKey(job))
    .where('task_key', '=', caseKey(id))
    .execute();
  const r = await db
    .deleteFrom('tasks')
    .where('account_key', '=', caseKey(account))
    .where('job_key', '=', caseKey(job))
    .where('id_key', '=', caseKey(id))
    .executeTakeFirst();
  return r.numDeletedRows > 0n;
}

export async function putTaskDependencies(
  db: Transaction<Database>,
  account: string,
  job: string,
  edges: { parent: string; child: string }[],
): Promise<void> {
  for (let i = 0; i < edges.length; i += 200) {
    await db
      .insertInto('task_deps')
      .values(
        edges.slice(i, i + 200).map((e) => ({
          account_key: caseKey(account),
          job_key: caseKey(job),
          parent_key: caseKey(e.parent),
          child_key: caseKey(e.child),
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}

/** Lower-case ids of the tasks that depend on `parent`. */
export async function dependentsOf(db: Transaction<Database>, account: string, job: string, parent: string) {
  const rows = await db
    .selectFrom('task_deps')
    .select('child_key')
    .where('account_key', '=', caseKey(account))
    .where('job_key', '=', caseKey(job))
    .where('parent_key', '=', caseKey(parent))
    .execute();
  return rows.map((r) => r.child_key);
}

/** Lower-case ids of the tasks `child` depends on. */
export async function parentsOf(db: Transaction<Database>, account: string, job: string, child: string) {
  const rows = await db
    .selectFrom('task_deps')
    .select('parent_key')
    .where('account_key', '=', caseKey(account))
    .where('job_key', '=', caseKey(job))
    .where('child_key', '=', caseKey(child))
    .execute();
  return rows.map((r) => r.parent_key);
}

/** Task ids of a job that are integers within [start, end] (dependency ranges). */
export async function taskIdsInRange(
  db: Transaction<Database>,
  account: string,
  job: string,
  start: number,
  end: number,
): Promise<string[]> {
  const rows = await db
    .selectFrom('tasks')
    .select('id_key')
    .where('account_key', '=', caseKey(account))
    .where('job_key', '=', caseKey(job))
    .execute();
  return rows
    .map((r) => r.id_key)
    .filter((id) => /^\d+$/.test(id) && Number(id) >= start && Number(id) <= end);
}
