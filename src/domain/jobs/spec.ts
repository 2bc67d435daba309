import { checkAutoPoolSpecification, type AutoPoolSpec } from './auto-pools.ts';
import { checkJobManager } from './job-manager.ts';
import {
  checkEnvironmentSettings,
  invalidProperty,
  missingProperty,
  parseDuration,
  unsupportedProperty,
} from '../pools/pool-spec.ts';
import { checkUserIdentity } from '../pools/user-accounts.ts';

export { unsupportedProperty } from '../pools/pool-spec.ts';
import { record } from '../pools/start-task.ts';

/** Checks of job and task bodies beyond the OpenAPI schema (which the API layer has already applied). */

const ID = /^[A-Za-z0-9_-]{1,64}$/;

export { record } from '../pools/start-task.ts';

export function checkId(id: unknown, property = 'id'): string {
  if (typeof id !== 'string' || id === '') throw missingProperty(property);
  if (!ID.test(id))
    throw invalidProperty(
      property,
      'An id may contain any combination of alphanumeric characters, hyphens and underscores, and cannot contain more than 64 characters.',
    );
  return id;
}

/** An ISO 8601 duration property in ms (undefined when absent). */
export function durationOf(value: unknown, property: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined)
    throw invalidProperty(property, 'The value must be an ISO 8601 duration, e.g. PT10M.');
  return ms;
}

export interface Constraints {
  maxWallClockTimeMs: number | undefined;
  maxTaskRetryCount: number | undefined;
  /** How long a completed task's folder stays on its node (tasks only; undefined = 7 days). */
  retentionTimeMs: number | undefined;
}

/** `retentionTime`: an ISO 8601 duration that is not negative (Batch refuses `P-1D` naming the property). */
function retentionOf(value: unknown, property: string): number | undefined {
  if (typeof value === 'string' && value.includes('-'))
    throw invalidProperty(property, 'The retention time must not be negative.');
  return durationOf(value, property);
}

export function constraintsOf(body: Record<string, unknown>, prefix = 'constraints'): Constraints {
  const c = record(body.constraints);
  const retries = c.maxTaskRetryCount;
  if (typeof retries === 'number' && (!Number.isInteger(retries) || retries < -1))
    throw invalidProperty(`${prefix}.maxTaskRetryCount`, 'The value must be -1 (unlimited) or at least 0.');
  return {
    maxWallClockTimeMs: durationOf(c.maxWallClockTime, `${prefix}.maxWallClockTime`),
    maxTaskRetryCount: typeof retries === 'number' ? retries : undefined,
    retentionTimeMs: retentionOf(c.retentionTime, `${prefix}.retentionTime`),
  };
}

export interface JobAddChecked {
  id: string;
  /** The pool named by `poolInfo.poolId`; empty when an auto pool is to be made (`autoPool`). */
  poolId: string;
  autoPool?: AutoPoolSpec;
  priority: number;
  constraints: Constraints;
}

export function checkPriority(priority: unknown): number {
  if (priority === undefined || priority === null) return 0;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < -1000 || priority > 1000)
    throw invalidProperty('priority', 'Priority values can range from -1000 to 1000.');
  return priority;
}

/** `poolInfo`: a pool id or an auto pool specification, never both. */
function poolInfoOf(value: unknown, inSchedule: boolean): { poolId: string; autoPool?: AutoPoolSpec } {
  const poolInfo = record(value);
  const auto = poolInfo.autoPoolSpecification;
  if (auto !== undefined && auto !== null) {
    if (poolInfo.poolId !== undefined && poolInfo.poolId !== null)
      throw invalidProperty('poolInfo', 'Give either poolId or autoPoolSpecification, not both.');
    const autoPool = checkAutoPoolSpecification(auto, 'poolInfo.autoPoolSpecification', inSchedule);
    return { poolId: '', autoPool };
  }
  if (typeof poolInfo.poolId !== 'string' || poolInfo.poolId === '') throw missingProperty('poolInfo.poolId');
  return { poolId: poolInfo.poolId };
}

/**
 * The user identities of a job's manager, preparation and release tasks; `names`: the accounts of the job's pool
 * when it is known (a userName must be one of them).
 */
export function checkJobUsers(body: Record<string, unknown>, names: Set<string> | undefined): void {
  for (const name of ['jobManagerTask', 'jobPreparationTask', 'jobReleaseTask'])
    checkUserIdentity(body[name], name, names);
}

/**
 * A job add body (or a schedule's job specification, `inSchedule`): id, pool, priority, constraints; parts this
 * server does not run are refused by name.
 */
export function checkJobAdd(body: Record<string, unknown>, inSchedule = false): JobAddChecked {
  const id = checkId(body.id);
  const pool = poolInfoOf(body.poolInfo, inSchedule);
  if (body.networkConfiguration !== undefined)
    throw unsupportedProperty(
      'networkConfiguration',
      'networkConfiguration is not supported by this server.',
    );
  checkJobManager(body.jobManagerTask);
  checkJobUsers(body, undefined);
  // Container runs are built for tasks only so far (ADR 0039): refused here, never stored and ignored.
  for (const name of ['jobManagerTask', 'jobPreparationTask', 'jobReleaseTask'])
    if (record(body[name]).containerSettings !== undefined)
      throw unsupportedProperty(
        `${name}.containerSettings`,
        `${name}.containerSettings is not supported by this server yet.`,
      );
  checkEnvironmentSettings(body.commonEnvironmentSettings, 'commonEnvironmentSettings');
  for (const name of ['jobPreparationTask', 'jobReleaseTask'])
    checkEnvironmentSettings(record(body[name]).environmentSettings, `${name}.environmentSettings`);
  const release = record(body.jobReleaseTask);
  if (body.jobReleaseTask !== undefined && body.jobPreparationTask === undefined)
    throw invalidProperty('jobReleaseTask', 'A job release task needs a job preparation task.');
  durationOf(release.maxWallClockTime, 'jobReleaseTask.maxWallClockTime');
  constraintsOf(record(body.jobPreparationTask), 'jobPreparationTask.constraints');
  return {
    id,
    ...pool,
    priority: checkPriority(body.priority),
    constraints: constraintsOf(body),
  };
}
