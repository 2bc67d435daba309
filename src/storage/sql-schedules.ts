import type { Transaction } from 'kysely';
import type { JobScheduleRecord } from './records.ts';
import type { Database } from './sqlite/schema.ts';
import { caseKey } from './keys.ts';

/** Batch job schedules over Kysely: JSON documents keyed case-insensitively, with their state indexed. */
const parse = (rows: { doc: string }[]) => rows.map((r) => JSON.parse(r.doc) as JobScheduleRecord);

export async function putJobSchedule(db: Transaction<Database>, s: JobScheduleRecord): Promise<void> {
  const row = {
    account_key: caseKey(s.accountName),
    id_key: caseKey(s.id),
    state: s.state,
    doc: JSON.stringify(s),
  };
  await db
    .insertInto('job_schedules')
    .values(row)
    .onConflict((oc) => oc.columns(['account_key', 'id_key']).doUpdateSet({ state: row.state, doc: row.doc }))
    .execute();
}

export async function findJobSchedule(db: Transaction<Database>, account: string, id: string) {
  const r = await db
    .selectFrom('job_schedules')
    .select('doc')
    .where('account_key', '=', caseKey(account))
    .where('id_key', '=', caseKey(id))
    .executeTakeFirst();
  return r === undefined ? undefined : (JSON.parse(r.doc) as JobScheduleRecord);
}

export async function listJobSchedules(db: Transaction<Database>, account: string) {
  return parse(
    await db
      .selectFrom('job_schedules')
      .select('doc')
      .where('account_key', '=', caseKey(account))
      .orderBy('id_key')
      .execute(),
  );
}

/** Every account's schedules in one of `states` (the schedule runner reads the active ones). */
export async function listJobSchedulesIn(db: Transaction<Database>, states: string[]) {
  if (states.length === 0) return [];
  return parse(await db.selectFrom('job_schedules').select('doc').where('state', 'in', states).execute());
}

export async function deleteJobSchedule(db: Transaction<Database>, account: string, id: string) {
  const r = await db
    .deleteFrom('job_schedules')
    .where('account_key', '=', caseKey(account))
    .where('id_key', '=', caseKey(id))
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
