import type { StoreTx } from '../../storage/port.ts';
import type { NodeRecord, PoolRecord } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { findVmSize } from '../pools/vm-sizes.ts';

/**
 * A Batch account's quotas (BatchManagement BatchAccountProperties: dedicatedCoreQuota, lowPriorityCoreQuota,
 * poolQuota, activeJobAndJobScheduleQuota). Read-only in the Microsoft.Batch spec, so they are set per account by
 * a server option (`--account-quotas`), never through ARM.
 */
export interface AccountQuotas {
  dedicatedCores: number;
  lowPriorityCores: number;
  pools: number;
  activeJobsAndSchedules: number;
}

export const DEFAULT_QUOTAS: AccountQuotas = {
  dedicatedCores: 500,
  lowPriorityCores: 500,
  pools: 100,
  activeJobsAndSchedules: 300,
};

export const QUOTA_NAMES = Object.keys(DEFAULT_QUOTAS) as (keyof AccountQuotas)[];

/** Quotas per account name (case-insensitive); `*` applies to every account the others do not name. */
export type QuotaOverrides = Record<string, Partial<AccountQuotas>>;

export function quotasFor(overrides: QuotaOverrides, accountName: string): AccountQuotas {
  const own = Object.entries(overrides).find(([k]) => k.toLowerCase() === accountName.toLowerCase());
  return { ...DEFAULT_QUOTAS, ...overrides['*'], ...own?.[1] };
}

/** The account's quotas as the server was told them (defaults when the context has none). */
export const accountQuotas = (ctx: DomainContext, accountName: string): AccountQuotas =>
  ctx.quotas?.(accountName) ?? DEFAULT_QUOTAS;

/** Cores a node of this pool uses: its VM size's cores (1 for a size this server no longer knows). */
export const coresPerNode = (pool: PoolRecord): number =>
  findVmSize(typeof pool.spec.vmSize === 'string' ? pool.spec.vmSize : '')?.cores ?? 1;

export interface CoreUsage {
  dedicated: number;
  lowPriority: number;
}

/** Cores the account's nodes hold now, dedicated and low-priority (nodes leaving the pool no longer count). */
export async function coreUsage(tx: StoreTx, accountName: string): Promise<CoreUsage> {
  const usage: CoreUsage = { dedicated: 0, lowPriority: 0 };
  for (const pool of await tx.listPools(accountName)) {
    const cores = coresPerNode(pool);
    const nodes: NodeRecord[] = await tx.listNodes(accountName, pool.id);
    for (const n of nodes) {
      if (n.state === 'leavingpool') continue;
      if (n.isDedicated) usage.dedicated += cores;
      else usage.lowPriority += cores;
    }
  }
  return usage;
}

/** Pool add: 409 PoolQuotaReached when the account already has its quota of pools. */
export async function checkPoolQuota(ctx: DomainContext, tx: StoreTx, accountName: string): Promise<void> {
  const quota = accountQuotas(ctx, accountName).pools;
  if ((await tx.listPools(accountName)).length >= quota)
    throw new DomainError(
      'conflict',
      'PoolQuotaReached',
      'The specified account has reached its pool quota.',
      {
        values: { Quota: String(quota) },
      },
    );
}

/** Job and job schedule add: 409 ActiveJobAndScheduleQuotaReached when the account's active ones fill its quota. */
export async function checkActiveJobQuota(
  ctx: DomainContext,
  tx: StoreTx,
  accountName: string,
): Promise<void> {
  const quota = accountQuotas(ctx, accountName).activeJobsAndSchedules;
  const jobs = (await tx.listJobs(accountName)).filter((j) => j.state !== 'completed').length;
  const schedules = (await tx.listJobSchedules(accountName)).filter((s) => s.state !== 'completed').length;
  if (jobs + schedules >= quota)
    throw new DomainError(
      'conflict',
      'ActiveJobAndScheduleQuotaReached',
      'The specified account has reached its quota of active jobs and job schedules.',
      { values: { Quota: String(quota) } },
    );
}
