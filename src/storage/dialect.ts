import type { Kysely, RawBuilder, Transaction } from 'kysely';
import type { Database } from './sqlite/schema.ts';

/**
 * What differs between the SQL databases the store runs on (ADR 0029). Everything else — queries, upserts
 * (`on conflict … do update`), migrations — is the same Kysely code for every dialect. One implementation per
 * dialect: `sqlite/dialect.ts`, `postgres/dialect.ts`.
 */
export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /**
   * A text field of a JSON document column, by its path (`['state']` for `$.state`); SQL NULL when the field is
   * missing or JSON null.
   */
  jsonText(column: 'doc', path: readonly string[]): RawBuilder<string>;
  /**
   * Runs `work` as one transaction: committed when it resolves, rolled back (nothing of it written) when it
   * throws. A dialect that cannot serialize writers itself may run `work` again after a conflict, on a fresh
   * transaction; the earlier attempt then left nothing behind.
   */
  transaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
}

/** JSON paths are written in code, never taken from requests: plain field names only, so they can be inlined. */
export function checkedJsonPath(path: readonly string[]): readonly string[] {
  for (const part of path)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) throw new Error(`bad JSON path part '${part}'`);
  return path;
}
