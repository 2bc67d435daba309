import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import type { Sealer } from '../../platform/sealing.ts';
import type { Store } from '../port.ts';
import { openSqlStore } from '../open-sql.ts';
import { sqliteDialect } from './dialect.ts';
import type { Database } from './schema.ts';
import { openNodeSqlite } from './node-sqlite.ts';

/**
 * The database holds account keys and secret hashes: its folder is 0700 and the file, with its WAL and shared
 * memory files (SQLite gives them the database file's mode), 0600 — also when an older release left them 0644.
 */
function keepPrivate(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
}

/**
 * Opens (creating if needed) the embedded SQLite store and brings its schema up to date. `path` is a file, or ':memory:' for a store that lives only as long as the process; `sealer` seals secrets
 * at rest (account keys), and rows written before it are sealed on open.
 */
export async function openSqliteStore(path: string, options: { sealer?: Sealer } = {}): Promise<Store> {
  if (path !== ':memory:') keepPrivate(path);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: openNodeSqlite(path) }) });
  return await openSqlStore(db, sqliteDialect, options);
}
