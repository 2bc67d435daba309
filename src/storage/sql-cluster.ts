import type { Transaction } from 'kysely';
import type { Sealer } from '../platform/sealing.ts';
import type { ClusterStoreTx } from './port.ts';
import type { Database } from './sqlite/schema.ts';

/**
 * Leases and shared secrets of servers that share one database (ADR 0033). A lease row names its holder and when
 * it expires; it is taken when absent, expired or already the caller's, all in the caller's transaction (SQLite
 * runs transactions one at a time, PostgreSQL at SERIALIZABLE), so two servers never both see themselves holding it.
 */
export class SqlClusterTx implements ClusterStoreTx {
  private readonly db: Transaction<Database>;
  private readonly sealer: Sealer;

  constructor(db: Transaction<Database>, sealer: Sealer) {
    this.db = db;
    this.sealer = sealer;
  }

  async claimLease(name: string, holder: string, nowMs: number, untilMs: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('leases')
      .select(['holder', 'expires_at'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (row === undefined) {
      await this.db.insertInto('leases').values({ name, holder, expires_at: untilMs }).execute();
      return true;
    }
    if (row.holder !== holder && row.expires_at > nowMs) return false;
    await this.db
      .updateTable('leases')
      .set({ holder, expires_at: untilMs })
      .where('name', '=', name)
      .execute();
    return true;
  }

  async leaseHolder(name: string, nowMs: number): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('leases')
      .select(['holder', 'expires_at'])
      .where('name', '=', name)
      .executeTakeFirst();
    return row !== undefined && row.expires_at > nowMs ? row.holder : undefined;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  async findSharedSecret(name: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('shared_secrets')
      .select('value')
      .where('name', '=', name)
      .executeTakeFirst();
    return row === undefined ? undefined : this.sealer.open(row.value);
  }

  async putSharedSecretOnce(name: string, value: string): Promise<string> {
    const existing = await this.findSharedSecret(name);
    if (existing !== undefined) return existing;
    await this.db
      .insertInto('shared_secrets')
      .values({ name, value: this.sealer.seal(value) })
      .execute();
    return value;
  }
}
