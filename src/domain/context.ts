import type { Clock } from '../platform/clock.ts';
import type { IdSource } from '../platform/ids.ts';
import type { Store } from '../storage/port.ts';
import type { AccountQuotas } from './accounts/quotas.ts';

/** What every domain service needs: the store, a clock and an id source. Passed explicitly, never global. */
export interface DomainContext {
  store: Store;
  clock: Clock;
  ids: IdSource;
  /** Each Batch account's quotas (the server's `--account-quotas`); unset, every account has the defaults. */
  quotas?: (accountName: string) => AccountQuotas;
}

export const isoNow = (ctx: { clock: Clock }): string => ctx.clock.now().toISOString();

export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
