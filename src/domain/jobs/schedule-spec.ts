import { DomainError } from '../errors.ts';
import { invalidProperty, missingProperty } from '../pools/pool-spec.ts';
import type { JobScheduleRecord, JobScheduleState } from '../../storage/records.ts';
import { underProperty } from './errors.ts';
import { checkJobAdd, durationOf, record, type JobAddChecked } from './spec.ts';

/** BatchService.json Schedule, checked: times in ms since the epoch, durations in ms. */
export interface ScheduleTimes {
  doNotRunUntil?: number;
  doNotRunAfter?: number;
  startWindowMs?: number;
  recurrenceIntervalMs?: number;
}

const MINUTE = 60_000;

function instant(value: unknown, property: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw invalidProperty(property, 'The value must be an ISO 8601 date-time.');
  return ms;
}

/** A schedule: optional bounds; a start window and a recurrence interval of at least one minute. */
export function checkSchedule(value: unknown, property = 'schedule'): ScheduleTimes {
  const s = record(value);
  const startWindowMs = durationOf(s.startWindow, `${property}.startWindow`);
  const recurrenceIntervalMs = durationOf(s.recurrenceInterval, `${property}.recurrenceInterval`);
  for (const [name, ms] of [
    ['startWindow', startWindowMs],
    ['recurrenceInterval', recurrenceIntervalMs],
  ] as const)
    if (ms !== undefined && ms < MINUTE)
      throw invalidProperty(`${property}.${name}`, `${name} must be at least 1 minute.`);
  const times: ScheduleTimes = {
    doNotRunUntil: instant(s.doNotRunUntil, `${property}.doNotRunUntil`),
    doNotRunAfter: instant(s.doNotRunAfter, `${property}.doNotRunAfter`),
    startWindowMs,
    recurrenceIntervalMs,
  };
  return Object.fromEntries(Object.entries(times).filter(([, v]) => v !== undefined));
}

/** The schedule's own times, read back from its stored spec. */
export const scheduleTimes = (s: JobScheduleRecord): ScheduleTimes => checkSchedule(s.spec.schedule);

/** A job specification is a job add body without an id: checked as one, errors under `jobSpecification.`. */
export function checkJobSpecification(value: unknown): JobAddChecked {
  if (value === undefined || value === null) throw missingProperty('jobSpecification');
  try {
    return checkJobAdd({ ...record(value), id: 'scheduled' }, true);
  } catch (err) {
    if (err instanceof DomainError) throw underProperty(err, 'jobSpecification');
    throw err;
  }
}

/** The job schedule state machine as data (BatchService.json JobScheduleState). */
export const SCHEDULE_TRANSITIONS: Record<JobScheduleState, readonly JobScheduleState[]> = {
  active: ['disabled', 'terminating', 'completed', 'deleting'],
  disabled: ['active', 'terminating', 'deleting'],
  terminating: ['completed', 'deleting'],
  completed: ['deleting'],
  deleting: [],
};

export function moveSchedule(
  s: JobScheduleRecord,
  to: JobScheduleState,
  now: Date,
): JobScheduleRecord | undefined {
  if (s.state === to) return s;
  if (!SCHEDULE_TRANSITIONS[s.state].includes(to)) return undefined;
  return {
    ...s,
    state: to,
    previousState: s.state,
    previousStateTransitionTime: s.stateTransitionTime,
    stateTransitionTime: now.toISOString(),
  };
}

export const jobScheduleNotFound = (id: string): DomainError =>
  new DomainError('not-found', 'JobScheduleNotFound', 'The specified job schedule does not exist.', {
    values: { JobScheduleId: id },
  });

export const jobScheduleExists = (id: string): DomainError =>
  new DomainError('conflict', 'JobScheduleExists', 'The specified job schedule already exists.', {
    values: { JobScheduleId: id },
  });

/** Why a change to a schedule in `state` is refused (undefined: allowed). */
export function scheduleWriteRefusal(state: JobScheduleState): DomainError | undefined {
  switch (state) {
    case 'deleting':
      return new DomainError(
        'conflict',
        'JobScheduleBeingDeleted',
        'The specified job schedule is being deleted.',
      );
    case 'terminating':
      return new DomainError(
        'conflict',
        'JobScheduleBeingTerminated',
        'The specified job schedule is being terminated.',
      );
    case 'completed':
      return new DomainError(
        'conflict',
        'JobScheduleCompleted',
        'The specified job schedule is already completed.',
      );
    case 'active':
    case 'disabled':
      return undefined;
  }
}
