import { DomainError } from '../errors.ts';

/** The Batch service's errors for jobs and tasks, with its codes and values. */
export const jobNotFound = (id: string): DomainError =>
  new DomainError('not-found', 'JobNotFound', 'The specified job does not exist.', { values: { JobId: id } });

export const taskNotFound = (id: string): DomainError =>
  new DomainError('not-found', 'TaskNotFound', 'The specified task does not exist.', {
    values: { TaskId: id },
  });

export const jobExists = (id: string): DomainError =>
  new DomainError('conflict', 'JobExists', 'The specified job already exists.', { values: { JobId: id } });

/** Job and job schedule ids share one namespace (Batch's JobScheduleWithSameIdExists / JobWithSameIdExists). */
export const scheduleWithSameId = (id: string): DomainError =>
  new DomainError(
    'conflict',
    'JobScheduleWithSameIdExists',
    'A job schedule with the specified job id exists. Job and job schedule cannot have the same id.',
    { values: { JobId: id } },
  );

export const jobWithSameId = (id: string): DomainError =>
  new DomainError(
    'conflict',
    'JobWithSameIdExists',
    'A job with the specified job schedule id exists. Job and job schedule cannot have the same id.',
    { values: { JobScheduleId: id } },
  );

/** A task may not take the id of its job's preparation or release task ('jobpreparation', 'jobrelease' by default). */
export function sameIdAsPrepOrRelease(
  taskId: string,
  spec: { jobPreparationTask?: unknown; jobReleaseTask?: unknown },
): DomainError | undefined {
  const idOf = (task: unknown, fallback: string) => {
    const id = (task as { id?: unknown } | undefined)?.id;
    return (typeof id === 'string' ? id : fallback).toLowerCase();
  };
  const k = taskId.toLowerCase();
  if (spec.jobPreparationTask !== undefined && k === idOf(spec.jobPreparationTask, 'jobpreparation'))
    return new DomainError(
      'conflict',
      'TaskIdSameAsJobPreparationTask',
      'The specified task id is same as the job preparation task.',
      { values: { TaskId: taskId } },
    );
  if (spec.jobReleaseTask !== undefined && k === idOf(spec.jobReleaseTask, 'jobrelease'))
    return new DomainError(
      'conflict',
      'TaskIdSameAsJobReleaseTask',
      'The specified task id is same as the job release task.',
      { values: { TaskId: taskId } },
    );
  return undefined;
}

export const taskExists = (id: string): DomainError =>
  new DomainError('conflict', 'TaskExists', 'The specified task already exists.', { values: { TaskId: id } });

export const jobBeingDeleted = (): DomainError =>
  new DomainError(
    'conflict',
    'JobBeingDeleted',
    'The specified job has been marked for deletion and is being deleted.',
  );

export const jobCompleted = (): DomainError =>
  new DomainError('conflict', 'JobCompleted', 'The specified job is already in a completed state.');

export const jobBeingTerminated = (): DomainError =>
  new DomainError('conflict', 'JobBeingTerminated', 'The specified job is being terminated.');

export const jobNotActive = (): DomainError =>
  new DomainError('conflict', 'JobNotActive', 'The specified job is not in an active state.');

export const taskCompleted = (): DomainError =>
  new DomainError('conflict', 'TaskCompleted', 'The specified task is already completed.');

/** Why a write to a job in `state` is refused (undefined: allowed). */
export function jobWriteRefusal(state: string): DomainError | undefined {
  if (state === 'deleting') return jobBeingDeleted();
  if (state === 'completed') return jobCompleted();
  if (state === 'terminating') return jobBeingTerminated();
  return undefined;
}

/** A DomainError about a job property, re-addressed to `<prefix>.<property>`. */
export function underProperty(err: DomainError, prefix: string): DomainError {
  const property = err.values.PropertyName;
  return new DomainError(err.category, err.code, err.message, {
    target: err.target === undefined ? prefix : `${prefix}.${err.target}`,
    values: property === undefined ? err.values : { ...err.values, PropertyName: `${prefix}.${property}` },
    details: err.details,
  });
}
