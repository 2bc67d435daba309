import type { FastifyInstance } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import { usageByHour } from '../../domain/pools/usage.ts';
import type { BatchDeps } from '../http/context.ts';
import { listPage } from './listing.ts';
import { contextOf } from './request.ts';

const HOUR_MS = 3600 * 1000;

/** A `starttime`/`endtime` query option as ms since the epoch; a value that is no date is Batch's 400. */
function timeOption(query: Record<string, string | undefined>, name: string): number | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms))
    throw new DomainError(
      'invalid-input',
      'InvalidQueryParameterValue',
      'The value for one of the query parameters specified in the request URI is invalid.',
      { values: { QueryParameterName: name, QueryParameterValue: raw, Reason: 'Not a date and time.' } },
    );
  return ms;
}

/**
 * Pool_ListUsageMetrics: each pool's core hours by hour (Batch's aggregation interval), from the node allocation
 * times of the nodes a pool has and the hourly core time kept for nodes that left. Batch's usage data lags two
 * hours; Lazurite's does not, so the hour in progress is listed too, with the core time used so far. Without
 * `starttime` the list starts at the last whole hour; without `endtime` it runs to now. A deleted pool's usage goes
 * with its record (Batch would still list it).
 */
export function registerUsageRoutes(app: FastifyInstance, deps: BatchDeps): void {
  app.get('/poolusagemetrics', async (request) => {
    const ctx = contextOf(request);
    const query = request.query as Record<string, string | undefined>;
    const now = deps.clock.now();
    const from = timeOption(query, 'starttime') ?? (Math.floor(now.getTime() / HOUR_MS) - 1) * HOUR_MS;
    const to = timeOption(query, 'endtime') ?? now.getTime();
    const views = await deps.pools.list(ctx.account);
    const rows = views.flatMap((v) => usageByHour(v.pool, v.nodes, now, from, to));
    return listPage(request, ctx, {
      entries: rows.map((r) => ({
        key: `${r.poolId.toLowerCase()}|${String(r.startMs).padStart(15, '0')}`,
        wire: {
          poolId: r.poolId,
          startTime: new Date(r.startMs).toISOString(),
          endTime: new Date(r.endMs).toISOString(),
          vmSize: r.vmSize,
          totalCoreHours: r.totalCoreHours,
        },
      })),
      metadata: 'poolusagemetrics',
      maxResults: 1000,
      filterSchema: { poolId: 'string', startTime: 'date', endTime: 'date' },
    });
  });
}
