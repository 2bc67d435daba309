import { sql } from 'kysely';
import { checkedJsonPath, type SqlDialect } from '../dialect.ts';

/**
 * SQLite: one connection, so Kysely runs transactions one after another and writers never conflict (a second
 * process on the same file waits on `busy_timeout`, node-sqlite.ts). JSON fields through `json_extract`.
 */
export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  jsonText: (column, path) =>
    sql<string>`json_extract(${sql.ref(column)}, ${sql.raw(`'$.${checkedJsonPath(path).join('.')}'`)})`,
  transaction: (db, work) => db.transaction().execute(work),
};
