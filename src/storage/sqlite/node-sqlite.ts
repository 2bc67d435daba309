import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase } from 'kysely';
import { boundedMemo } from '../../platform/memo.ts';

/** Prepared statements kept per SQL text; past this many the cache starts over (SQL built with varying lists). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Adapts Node's built-in `node:sqlite` to the small database interface Kysely's SqliteDialect drives,
 * so the store needs no native module (see docs/adr/0003-store.md). Kysely prepares every query it runs;
 * preparing cost more than running the small queries of the task path, so statements are kept by their text
 * (one connection; each query is done with its statement before the next one starts, streams get their own).
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
  const statements = boundedMemo(STATEMENT_CACHE_SIZE, (sql): StatementSync => db.prepare(sql));
  return {
    close: () => {
      statements.clear();
      db.close();
    },
    prepare(sql: string) {
      const stmt = statements.get(sql);
      return {
        reader: stmt.columns().length > 0,
        all: (params) => stmt.all(...asParams(params)),
        run: (params) => stmt.run(...asParams(params)),
        // A stream keeps its statement open: a fresh one, so a cached statement is never shared with it.
        iterate: (params) => db.prepare(sql).iterate(...asParams(params)),
      };
    },
  };
}
