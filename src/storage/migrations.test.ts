import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { migrations } from './migrations.ts';
import { openNodeSqlite } from './sqlite/node-sqlite.ts';

/**
 * The migrations that shipped, in the order Kysely's Migrator runs them (it sorts by name). Data dirs record these
 * names: they never change, and new migrations must sort after them. Two are numbered 0003; they keep their names.
 */
const SHIPPED = [
  '0001_foundation',
  '0002_base_images',
  '0003_compute',
  '0003_pools_and_nodes',
  '0004_jobs_and_tasks',
  '0005_task_counts_by_pool',
  '0006_job_schedules',
  '0007_task_file_cleanup',
  '0008_host_subnets',
  '0009_account_provisioning_state',
];
/** The one number that shipped twice. */
const SHARED_NUMBERS = new Set(['0003']);

const names = Object.keys(migrations);
const sorted = [...names].sort();

test('migration names are NNNN_snake_case and unique, also ignoring case', () => {
  for (const name of names) assert.match(name, /^\d{4}_[a-z0-9_]+$/, name);
  assert.equal(new Set(names.map((n) => n.toLowerCase())).size, names.length);
});

test('no migration number is used twice, except the two shipped 0003s', () => {
  const seen = new Map<string, string>();
  for (const name of sorted) {
    const number = name.slice(0, 4);
    const earlier = seen.get(number);
    if (earlier !== undefined && !SHARED_NUMBERS.has(number))
      assert.fail(`${name} reuses ${number} (${earlier})`);
    seen.set(number, name);
  }
});

test('the shipped migrations keep their names and order, and every new one sorts after them', () => {
  assert.deepEqual(sorted.slice(0, SHIPPED.length), SHIPPED);
  const last = SHIPPED[SHIPPED.length - 1] ?? '';
  for (const name of sorted.slice(SHIPPED.length)) assert.ok(name > last, `${name} sorts before ${last}`);
});

test("Kysely's Migrator applies them in that order on a fresh database", async () => {
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: openNodeSqlite(':memory:') }) });
  const provider = { getMigrations: () => Promise.resolve(migrations) };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  await db.destroy();
  assert.equal(error, undefined);
  assert.deepEqual(
    results?.map((r) => r.migrationName),
    sorted,
  );
});
