import type { Transaction } from 'kysely';
import type { SqlDialect } from './dialect.ts';
import type { BatchCountsRecord, CountRow } from './records.ts';
import type { Database } from './sqlite/schema.ts';

/**
 * Server-wide counts by state for metrics. Each is one grouped query: tasks group on their indexed `state`
 * column (index `tasks_by_pool_state`), pools, nodes and jobs on the state inside their JSON document (there are
 * thousands of those at most, not hundreds of thousands).
 */
const docState = (dialect: SqlDialect) => dialect.jsonText('doc', ['state']);

/** Pool ids as created, by their `account|pool` key (tasks and nodes store only the lower-case key). */
async function poolIds(db: Transaction<Database>, dialect: SqlDialect): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('pools')
    .select(['account_key', 'id_key', dialect.jsonText('doc', ['id']).as('id')])
    .execute();
  return new Map(rows.map((r) => [`${r.account_key}|${r.id_key}`, r.id]));
}

async function countPools(
  db: Transaction<Database>,
  dialect: SqlDialect,
): Promise<BatchCountsRecord['pools']> {
  const rows = await db
    .selectFrom('pools')
    .select([
      'account_key',
      docState(dialect).as('state'),
      dialect.jsonText('doc', ['allocationState']).as('allocation'),
      (eb) => eb.fn.countAll<number | string>().as('n'),
    ])
    .groupBy(['account_key', 'state', 'allocation'])
    .execute();
  return rows.map((r) => ({
    labels: { account: r.account_key, state: r.state, allocationState: r.allocation },
    count: Number(r.n),
  }));
}

async function countNodes(
  db: Transaction<Database>,
  dialect: SqlDialect,
  ids: Map<string, string>,
): Promise<BatchCountsRecord['nodes']> {
  const rows = await db
    .selectFrom('nodes')
    .select([
      'account_key',
      'pool_key',
      docState(dialect).as('state'),
      (eb) => eb.fn.countAll<number | string>().as('n'),
    ])
    .groupBy(['account_key', 'pool_key', 'state'])
    .execute();
  return rows.map((r) => ({
    labels: {
      account: r.account_key,
      pool: ids.get(`${r.account_key}|${r.pool_key}`) ?? r.pool_key,
      state: r.state,
    },
    count: Number(r.n),
  }));
}

async function countJobs(db: Transaction<Database>, dialect: SqlDialect): Promise<BatchCountsRecord['jobs']> {
  const rows = await db
    .selectFrom('jobs')
    .select(['account_key', docState(dialect).as('state'), (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy(['account_key', 'state'])
    .execute();
  return rows.map((r) => ({ labels: { account: r.account_key, state: r.state }, count: Number(r.n) }));
}

async function countTasks(
  db: Transaction<Database>,
  ids: Map<string, string>,
): Promise<CountRow<'account' | 'pool' | 'state'>[]> {
  const rows = await db
    .selectFrom('tasks')
    .select(['pool_key', 'state', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy(['pool_key', 'state'])
    .execute();
  return rows.map((r) => {
    const [account = '', pool = ''] = r.pool_key.split('|');
    return {
      labels: { account, pool: ids.get(r.pool_key) ?? pool, state: r.state },
      count: Number(r.n),
    };
  });
}

export async function countByState(
  db: Transaction<Database>,
  dialect: SqlDialect,
): Promise<BatchCountsRecord> {
  const ids = await poolIds(db, dialect);
  return {
    pools: await countPools(db, dialect),
    nodes: await countNodes(db, dialect, ids),
    jobs: await countJobs(db, dialect),
    tasks: await countTasks(db, ids),
  };
}
