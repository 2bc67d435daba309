import { Migrator, type Kysely, type MigrationProvider } from 'kysely';
import type { Sealer } from '../platform/sealing.ts';
import type { SqlDialect } from './dialect.ts';
import { migrations } from './migrations.ts';
import type { Store } from './port.ts';
import { SqlStore } from './sql-store.ts';
import type { Database } from './sqlite/schema.ts';

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };

/**
 * Brings a freshly connected database's schema up to date (the same migrations on every dialect) and wraps it as
 * the store; `sealer` seals account keys at rest, and rows written before it are sealed here. On failure the
 * connection is closed.
 */
export async function openSqlStore(
  db: Kysely<Database>,
  dialect: SqlDialect,
  options: { sealer?: Sealer | undefined } = {},
): Promise<Store> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error !== undefined || failed) {
    await db.destroy();
    throw new Error(`store migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`);
  }
  const store = new SqlStore(db, dialect, options.sealer);
  if (options.sealer) await store.sealLegacyValues();
  return store;
}
