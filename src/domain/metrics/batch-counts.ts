import type { BatchCountsRecord } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';

export type { BatchCountsRecord };

/** What a metrics scrape reads: every account's pools, nodes, jobs and tasks counted by state, in one transaction. */
export class BatchCountsQuery {
  private readonly ctx: DomainContext;

  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  counts(): Promise<BatchCountsRecord> {
    return this.ctx.store.transaction((tx) => tx.countByState());
  }
}
