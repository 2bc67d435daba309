import { isDeepStrictEqual } from 'node:util';
import type { StoreTx } from '../../storage/port.ts';
import type {
  AutoPoolOwnerRecord,
  BatchAccountRecord,
  JobRecord,
  JobSchedulingErrorRecord,
} from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { serviceEtag } from '../pools/conditions.ts';
import type { PoolCaller } from '../pools/image-rules.ts';
import { checkPoolAdd, invalidProperty, missingProperty, unsupportedProperty } from '../pools/pool-spec.ts';
import type { PoolService } from '../pools/pools.ts';
import { underProperty } from './errors.ts';
import { record } from '../pools/start-task.ts';

/**
 * Auto pools (`poolInfo.autoPoolSpecification`): a pool Batch makes for one job, or for every job of a job
 * schedule, and deletes when that owner completes or is deleted unless `keepAlive` is set.
 */

export type PoolLifetime = 'job' | 'jobschedule';

/** BatchService.json AutoPoolSpecification, checked. */
export interface AutoPoolSpec {
  prefix: string | undefined;
  lifetime: PoolLifetime;
  keepAlive: boolean;
  /** The PoolSpecification: a pool add body without an id. */
  pool: Record<string, unknown>;
}

const PREFIX = /^[A-Za-z0-9_-]{1,20}$/;
/** Batch codes of a pool add that fail an auto pool with AutoPoolCreationFailedWithQuotaReached. */
const QUOTA_CODES = new Set([
  'PoolQuotaReached',
  'AccountCoreQuotaReached',
  'AccountLowPriorityCoreQuotaReached',
]);

/** Checks an auto pool specification; `jobschedule` lifetimes belong to job schedules only. */
export function checkAutoPoolSpecification(
  value: unknown,
  property: string,
  inSchedule: boolean,
): AutoPoolSpec {
  const spec = record(value);
  const prefix = spec.autoPoolIdPrefix;
  if (prefix !== undefined && prefix !== null && (typeof prefix !== 'string' || !PREFIX.test(prefix)))
    throw invalidProperty(
      `${property}.autoPoolIdPrefix`,
      'The prefix is 1 to 20 letters, digits, hyphens and underscores.',
    );
  const option = spec.poolLifetimeOption;
  if (option === undefined || option === null) throw missingProperty(`${property}.poolLifetimeOption`);
  const lifetime = typeof option === 'string' ? option.toLowerCase() : '';
  if (lifetime !== 'job' && lifetime !== 'jobschedule')
    throw invalidProperty(`${property}.poolLifetimeOption`, 'The value must be job or jobschedule.');
  if (lifetime === 'jobschedule' && !inSchedule)
    throw invalidProperty(
      `${property}.poolLifetimeOption`,
      'The jobschedule lifetime applies only to job schedules; a job takes the job lifetime.',
    );
  const keepAlive = spec.keepAlive ?? false;
  if (typeof keepAlive !== 'boolean')
    throw invalidProperty(`${property}.keepAlive`, 'The value must be true or false.');
  if (spec.pool === undefined || spec.pool === null) throw missingProperty(`${property}.pool`);
  const pool = record(spec.pool);
  // The job (or schedule) document would hold the passwords in the clear and show them on GET.
  if (Array.isArray(pool.userAccounts) && pool.userAccounts.length > 0)
    throw unsupportedProperty(
      `${property}.pool.userAccounts`,
      'User accounts in an auto pool specification are not supported by this server; add the pool with its userAccounts and name it in poolInfo.poolId.',
    );
  try {
    checkPoolAdd({ ...pool, id: 'auto-pool' });
  } catch (err) {
    if (err instanceof DomainError) throw underProperty(err, `${property}.pool`);
    throw err;
  }
  return { prefix: typeof prefix === 'string' ? prefix : undefined, lifetime, keepAlive, pool };
}

/** The outcome of making an auto pool: its id, or the job scheduling error that stopped it. */
export interface AutoPoolMade {
  poolId: string;
  schedulingError?: JobSchedulingErrorRecord;
}

/** Makes auto pools through the pool service, inside the transaction that adds their job or schedule job. */
export class AutoPools {
  private readonly ctx: DomainContext;
  private readonly pools: PoolService;

  constructor(ctx: DomainContext, pools: PoolService) {
    this.ctx = ctx;
    this.pools = pools;
  }

  /**
   * Adds the auto pool. Request errors (a bad image, a formula the pool add refuses) are thrown so a job add
   * answers them; a reached quota is the job's scheduling error, as Batch reports it.
   */
  async create(
    tx: StoreTx,
    account: BatchAccountRecord,
    who: PoolCaller,
    spec: AutoPoolSpec,
    owner: Omit<AutoPoolOwnerRecord, 'keepAlive'>,
  ): Promise<AutoPoolMade> {
    const uuid = this.ctx.ids.uuid();
    const poolId = spec.prefix === undefined ? uuid : `${spec.prefix}_${uuid}`;
    try {
      await this.pools.addIn(
        tx,
        account,
        who,
        { ...spec.pool, id: poolId },
        { ...owner, keepAlive: spec.keepAlive },
      );
      return { poolId };
    } catch (err) {
      if (!(err instanceof DomainError) || !QUOTA_CODES.has(err.code)) throw err;
      return {
        poolId,
        schedulingError: {
          category: 'usererror',
          code: 'AutoPoolCreationFailedWithQuotaReached',
          message: `The auto pool could not be created: ${err.message}`,
          details: [{ name: 'Reason', value: err.code }],
        },
      };
    }
  }

  /** Checks that the caller may make this auto pool later (a job schedule's pools are made by the runner). */
  vet(tx: StoreTx, account: BatchAccountRecord, who: PoolCaller, spec: AutoPoolSpec): Promise<void> {
    return this.pools.vetIn(tx, account, who, { ...spec.pool, id: 'auto-pool' });
  }

  /** Wakes the sizer once a transaction that made or released auto pools has committed. */
  changed(): void {
    this.pools.changed();
  }
}

/**
 * Ends an auto pool's lifetime: marks it deleting (the sizer removes its nodes, then the pool) unless it is kept
 * alive, belongs to another owner, or is already going. Resolves to whether it marked the pool.
 */
export async function releaseAutoPool(
  tx: StoreTx,
  accountName: string,
  poolId: string,
  owner: Omit<AutoPoolOwnerRecord, 'keepAlive'>,
  now: Date,
): Promise<boolean> {
  const pool = await tx.findPool(accountName, poolId);
  const mine =
    pool?.autoPool !== undefined &&
    pool.autoPool.owner === owner.owner &&
    pool.autoPool.ownerId.toLowerCase() === owner.ownerId.toLowerCase();
  if (!pool || !mine || pool.autoPool?.keepAlive === true || pool.state === 'deleting') return false;
  const stamp = now.toISOString();
  await tx.putPool({
    ...pool,
    state: 'deleting',
    stateTransitionTime: stamp,
    lastModified: stamp,
    etag: serviceEtag(now),
  });
  return true;
}

/** The auto pool specification a job (or a schedule's job) was added with, if it runs on an auto pool. */
export function autoPoolOf(job: { spec: Record<string, unknown> }): Record<string, unknown> | undefined {
  const auto = record(job.spec.poolInfo).autoPoolSpecification;
  return auto === undefined || auto === null ? undefined : record(auto);
}

/**
 * A job update's `poolInfo` for a job on an auto pool: Batch lets only `keepAlive` change, and only with the job
 * lifetime; a job cannot move between a named pool and an auto pool. The pool keeps the new `keepAlive`.
 */
export async function updateAutoPoolInfo(
  tx: StoreTx,
  job: JobRecord,
  poolInfo: unknown,
  now: Date,
): Promise<void> {
  if (poolInfo === undefined || poolInfo === null) return;
  const current = autoPoolOf(job);
  const wanted = record(poolInfo).autoPoolSpecification;
  const property = 'poolInfo.autoPoolSpecification';
  if (current === undefined) {
    if (wanted !== undefined && wanted !== null)
      throw invalidProperty(property, 'A job on a named pool cannot be moved to an auto pool.');
    return;
  }
  if (wanted === undefined || wanted === null)
    throw invalidProperty('poolInfo', 'A job on an auto pool keeps it; give its autoPoolSpecification.');
  const next = record(wanted);
  if (!isDeepStrictEqual({ ...current, keepAlive: undefined }, { ...next, keepAlive: undefined }))
    throw invalidProperty(property, 'Only keepAlive of an auto pool specification can be changed.');
  const keepAlive = next.keepAlive ?? false;
  if (typeof keepAlive !== 'boolean')
    throw invalidProperty(`${property}.keepAlive`, 'The value must be true or false.');
  if (keepAlive === (current.keepAlive ?? false)) return;
  if (String(current.poolLifetimeOption).toLowerCase() !== 'job')
    throw invalidProperty(`${property}.keepAlive`, 'keepAlive can be changed only for the job lifetime.');
  const pool = await tx.findPool(job.accountName, job.poolId);
  if (pool?.autoPool === undefined) return;
  const stamp = now.toISOString();
  await tx.putPool({
    ...pool,
    autoPool: { ...pool.autoPool, keepAlive },
    lastModified: stamp,
    etag: serviceEtag(now),
  });
}
