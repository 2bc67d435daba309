import { DatabaseSync } from 'node:sqlite';
import type { SqliteDatabase } from 'kysely';

/**
 * Adapts Node's built-in `node:sqlite` to the small database interface Kysely's SqliteDialect drives,
 * so the store needs no native module (see docs/adr/0003-store.md).
 */
export function openNodeSqlite(path: string): SqliteDatabase {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('PRAGMA busy_timeout = 5000');
  if (path !== ':memory:') {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
  }
  type Param = null | number | bigint | string | Uint8Array;
  const asParams = (params: ReadonlyArray<unknown>): Param[] => params as Param[];
  return {
    close: () => {
      db.close();
    },
    prepare(sql: string) {
      const stmt = db.prepare(sql);
      return {
        reader: stmt.columns().length > 0,
        all: (params) => stmt.all(...asParams(params)),
        run: (params) => stmt.run(...asParams(params)),
        iterate: (params) => stmt.iterate(...asParams(params)),
      };
    },
  };
}
