import type { JobRecord, JobState, TaskRecord, TaskState } from '../../storage/records.ts';

/**
 * The Batch job and task state machines as data. Every change of state goes through `moveJob`/`moveTask`,
 * which refuse moves the tables do not list and keep previousState and the transition times.
 */
export const JOB_TRANSITIONS: Record<JobState, readonly JobState[]> = {
  active: ['disabling', 'terminating', 'deleting'],
  disabling: ['disabled', 'terminating', 'deleting'],
  disabled: ['enabling', 'terminating', 'deleting'],
  enabling: ['active', 'terminating', 'deleting'],
  terminating: ['completed', 'deleting'],
  completed: ['deleting'],
  deleting: [],
};

export const TASK_TRANSITIONS: Record<TaskState, readonly TaskState[]> = {
  // active → completed: terminated before it ran, or its dependencies can never be satisfied.
  active: ['preparing', 'running', 'completed'],
  // back to active: requeued (node lost) or retried.
  preparing: ['running', 'active', 'completed'],
  running: ['active', 'completed'],
  // reactivate.
  completed: ['active'],
};

function moved<S extends string, R extends { state: S; previousState: S | null }>(
  table: Record<S, readonly S[]>,
  record: R,
  to: S,
  now: Date,
): R | undefined {
  if (record.state === to) return record;
  if (!table[record.state].includes(to)) return undefined;
  return {
    ...record,
    state: to,
    previousState: record.state,
    previousStateTransitionTime: (record as { stateTransitionTime?: string }).stateTransitionTime ?? null,
    stateTransitionTime: now.toISOString(),
  };
}

export function moveJob(job: JobRecord, to: JobState, now: Date): JobRecord | undefined {
  return moved(JOB_TRANSITIONS, job, to, now);
}

export function moveTask(task: TaskRecord, to: TaskState, now: Date): TaskRecord | undefined {
  return moved(TASK_TRANSITIONS, task, to, now);
}

/** Task states in which the task holds a node's slots. */
export const ON_NODE: readonly TaskState[] = ['preparing', 'running'];
