import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { checkedJsonPath, type SqlDialect } from '../dialect.ts';
import { StoreContention } from '../port.ts';

/** SQLSTATEs after which the whole transaction may simply run again: serialization_failure, deadlock_detected. */
const RETRYABLE = new Set(['40001', '40P01']);
/** Attempts before a conflict is reported to the caller (each waits a little longer, with jitter). */
export const MAX_ATTEMPTS = 12;

export const isRetryable = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && RETRYABLE.has(String((err as { code?: unknown }).code));

/**
 * PostgreSQL (ADR 0029). Transactions run at SERIALIZABLE: the store's read-then-write steps (next job number,
 * claiming queued tasks, read-modify-write of JSON documents) then behave as if transactions ran one after
 * another, as on SQLite. When PostgreSQL cannot order two of them it aborts one (SQLSTATE 40001, or 40P01 for a
 * deadlock); that attempt is rolled back whole and `work` runs again on a fresh transaction, and after
 * `maxAttempts` the caller gets `StoreContention` (the API answers 503 ServerBusy with Retry-After). Any other error,
 * including a lost connection during COMMIT (outcome unknown), goes to the caller unretried.
 */
export function postgresDialect(options: { maxAttempts?: number } = {}): SqlDialect {
  const maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
  return {
    name: 'postgres',
    jsonText: (column, path) =>
      sql<string>`(${sql.ref(column)}::jsonb #>> ${sql.raw(`'{${checkedJsonPath(path).join(',')}}'`)})`,
    async transaction(db, work) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().setIsolationLevel('serializable').execute(work);
        } catch (err) {
          if (!isRetryable(err)) throw err;
          if (attempt >= maxAttempts)
            throw new StoreContention(
              `the transaction conflicted with concurrent ones ${String(attempt)} times and was rolled back`,
              { cause: err },
            );
          await sleep(Math.random() * Math.min(200, 2 ** attempt));
        }
      }
    },
  };
}
