import type { Clock } from '../platform/clock.ts';
import type { IdSource } from '../platform/ids.ts';
import type { Store } from '../storage/port.ts';

/** What every domain service needs: the store, a clock and an id source. Passed explicitly, never global. */
export interface DomainContext {
  store: Store;
  clock: Clock;
  ids: IdSource;
}

export const isoNow = (ctx: { clock: Clock }): string => ctx.clock.now().toISOString();

export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
