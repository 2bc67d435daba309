import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, Migrator, SqliteDialect, type MigrationProvider } from 'kysely';
import type { Store } from '../port.ts';
import { migrations } from '../migrations.ts';
import { SqlStore } from '../sql-store.ts';
import type { Database } from './schema.ts';
import { openNodeSqlite } from './node-sqlite.ts';

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };

/** Opens (creating if needed) the embedded SQLite store and brings its schema up to date. */
/** `path` is a file, or ':memory:' for a store that lives only as long as the process. */
export async function openSqliteStore(path: string): Promise<Store> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: openNodeSqlite(path) }) });
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error !== undefined || failed) {
    await db.destroy();
    throw new Error(`store migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`);
  }
  return new SqlStore(db);
}
