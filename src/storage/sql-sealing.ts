import type { Transaction } from 'kysely';
import type { Sealer } from '../platform/sealing.ts';
import type { Database } from './sqlite/schema.ts';

/**
 * Seals the Batch account keys of rows written before sealing existed (run when the store opens): each row read
 * and rewritten in the caller's transaction. Returns how many rows it sealed.
 */
export async function sealLegacyAccountKeys(trx: Transaction<Database>, sealer: Sealer): Promise<number> {
  const rows = await trx
    .selectFrom('batch_accounts')
    .select(['name_key', 'primary_key', 'secondary_key'])
    .execute();
  let sealed = 0;
  for (const r of rows) {
    if (sealer.isSealed(r.primary_key) && sealer.isSealed(r.secondary_key)) continue;
    await trx
      .updateTable('batch_accounts')
      .set({
        primary_key: sealer.seal(sealer.open(r.primary_key)),
        secondary_key: sealer.seal(sealer.open(r.secondary_key)),
      })
      .where('name_key', '=', r.name_key)
      .execute();
    sealed++;
  }
  return sealed;
}
