import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Sealer } from '../../platform/sealing.ts';
import { openSqlStore } from '../open-sql.ts';
import type { Store } from '../port.ts';
import type { Database } from '../sqlite/schema.ts';
import { postgresDialect } from './dialect.ts';
import { PortableSchemaPlugin } from './portable-schema.ts';

/**
 * bigint (int8: the store's integer columns, portable-schema.ts, and `count(*)`) comes back from node-postgres as
 * a string, since it can exceed 2^53; the store's integers — millisecond times, counts, sequence numbers, byte
 * sizes — all fit a JavaScript number, as they do on SQLite.
 */
const types = new pg.TypeOverrides();
types.setTypeParser(pg.types.builtins.INT8, 'text', Number);

/** Connections the store keeps open to PostgreSQL (transactions that may run at the same time). */
const POOL_SIZE = 8;

/**
 * Opens the store on a PostgreSQL database (`postgres://user:password@host:port/db`, or a Unix socket folder as
 * `postgres://user@/db?host=/run/postgresql`) and brings its schema up to date with the same migrations as
 * SQLite. The database must exist; the user needs the right to create tables in it.
 */
export async function openPostgresStore(
  url: string,
  options: { sealer?: Sealer | undefined; poolSize?: number } = {},
): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? POOL_SIZE, types });
  // An idle connection the server dropped is discarded by the pool and the next query opens a new one; without a
  // listener its 'error' event would end the process.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    plugins: [new PortableSchemaPlugin()],
  });
  return await openSqlStore(db, postgresDialect(), options);
}
