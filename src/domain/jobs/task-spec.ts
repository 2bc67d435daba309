import { checkContainerSettings } from './container-settings.ts';
import type { JobRecord } from '../../storage/records.ts';
import { DomainError } from '../errors.ts';
import { checkEnvironmentSettings, invalidProperty, missingProperty } from '../pools/pool-spec.ts';
import { checkUserIdentity } from '../pools/user-accounts.ts';
import { checkId, constraintsOf, record, unsupportedProperty } from './spec.ts';
import { checkReferenceShape } from '../applications/references.ts';

export interface TaskAddChecked {
  id: string;
  requiredSlots: number;
  maxTaskRetryCount: number;
  maxWallClockTimeMs: number | undefined;
  retentionTimeMs: number | undefined;
  dependsOnIds: string[];
  dependsOnRanges: { start: number; end: number }[];
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** An absolute http(s) URL (a container or blob URL, usually with a SAS), or the property's 400. */
function checkUrl(value: unknown, property: string): void {
  if (typeof value !== 'string') throw missingProperty(property);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidProperty(property, 'The value is not a valid URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalidProperty(property, 'The URL must use http or https.');
}

function checkResourceFiles(files: unknown, prefix = 'resourceFiles'): void {
  list(files).forEach((raw, i) => {
    const f = record(raw);
    const at = `${prefix}[${String(i)}]`;
    const sources = ['httpUrl', 'storageContainerUrl', 'autoStorageContainerName'].filter(
      (k) => f[k] !== undefined,
    );
    if (sources.length !== 1)
      throw invalidProperty(
        at,
        'Exactly one of httpUrl, storageContainerUrl and autoStorageContainerName must be specified.',
      );
    if (f.httpUrl !== undefined) {
      checkUrl(f.httpUrl, `${at}.httpUrl`);
      if (typeof f.filePath !== 'string' || f.filePath === '') throw missingProperty(`${at}.filePath`);
    }
    if (f.storageContainerUrl !== undefined) checkUrl(f.storageContainerUrl, `${at}.storageContainerUrl`);
    if (
      typeof f.filePath === 'string' &&
      (f.filePath.startsWith('/') || f.filePath.split('/').includes('..'))
    )
      throw invalidProperty(
        `${at}.filePath`,
        'The file path must be relative and stay inside the task working directory.',
      );
    if (f.fileMode !== undefined && (typeof f.fileMode !== 'string' || !/^0?[0-7]{3,4}$/.test(f.fileMode)))
      throw invalidProperty(`${at}.fileMode`, 'The file mode must be an octal string such as 0755.');
  });
}

function checkOutputFiles(body: Record<string, unknown>): void {
  list(body.outputFiles).forEach((raw, i) => {
    const container = record(record(record(raw).destination).container);
    checkUrl(container.containerUrl, `outputFiles[${String(i)}].destination.container.containerUrl`);
  });
}

function dependenciesOf(body: Record<string, unknown>, job: JobRecord) {
  const dependsOn = record(body.dependsOn);
  if (body.dependsOn === undefined) return { ids: [], ranges: [] };
  if (job.spec.usesTaskDependencies !== true)
    throw new DomainError(
      'invalid-input',
      'TaskDependenciesNotSpecifiedOnJob',
      'The task has dependencies, but the job does not use task dependencies (usesTaskDependencies is not true).',
      { target: 'dependsOn', values: { JobId: job.id } },
    );
  const ids = list(dependsOn.taskIds).map(String);
  if (ids.join('').length > 64000)
    throw new DomainError(
      'invalid-input',
      'TaskDependencyListTooLong',
      'The combined length of the task ids in dependsOn.taskIds exceeds 64000 characters; use task id ranges.',
      { target: 'dependsOn.taskIds' },
    );
  const ranges = list(dependsOn.taskIdRanges).map((raw, i) => {
    const r = record(raw);
    if (typeof r.start !== 'number' || typeof r.end !== 'number' || r.start > r.end)
      throw invalidProperty(
        `dependsOn.taskIdRanges[${String(i)}]`,
        'The range start must not be after its end.',
      );
    return { start: r.start, end: r.end };
  });
  return { ids, ranges };
}

/**
 * A task add body, for a job that accepts tasks; `slotsPerNode` is the taskSlotsPerNode of the job's pool when
 * the pool exists (a task needing more slots than a node has could never run), `userNames` its user accounts
 * (a userIdentity.userName must name one).
 */
export function checkTaskAdd(
  body: Record<string, unknown>,
  job: JobRecord,
  slotsPerNode?: number,
  userNames?: Set<string>,
): TaskAddChecked {
  const id = checkId(body.id);
  for (const name of ['authenticationTokenSettings'] as const) {
    if (body[name] !== undefined) throw unsupportedProperty(name, `${name} is not supported by this server.`);
  }
  checkContainerSettings(body.containerSettings);
  checkReferenceShape(body.applicationPackageReferences, 'applicationPackageReferences');
  checkUserIdentity(body, '', userNames);
  const slots = body.requiredSlots ?? 1;
  if (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 1)
    throw invalidProperty('requiredSlots', 'The value must be at least 1.');
  if (slotsPerNode !== undefined && slots > slotsPerNode)
    throw invalidProperty(
      'requiredSlots',
      `The task requires ${String(slots)} scheduling slots, but nodes of pool '${job.poolId}' have ${String(slotsPerNode)} (taskSlotsPerNode).`,
    );
  checkEnvironmentSettings(body.environmentSettings, 'environmentSettings');
  checkResourceFiles(body.resourceFiles);
  checkOutputFiles(body);
  checkMultiInstance(body);
  const own = constraintsOf(body);
  const inherited = constraintsOf(job.spec);
  const deps = dependenciesOf(body, job);
  return {
    id,
    requiredSlots: slots,
    maxTaskRetryCount: own.maxTaskRetryCount ?? inherited.maxTaskRetryCount ?? 0,
    maxWallClockTimeMs: own.maxWallClockTimeMs,
    retentionTimeMs: own.retentionTimeMs,
    dependsOnIds: deps.ids,
    dependsOnRanges: deps.ranges,
  };
}

/**
 * `multiInstanceSettings` (ADR 0038): the coordination command line is required, `numberOfInstances` (default 1)
 * at least 1, `commonResourceFiles` are resource files, and the task's `requiredSlots` must be 1. Pool settings
 * are not checked here: as on Batch, a multi-instance task whose pool lacks inter-node communication, has more
 * than one slot per node or too few nodes stays active.
 */
function checkMultiInstance(body: Record<string, unknown>): void {
  if (body.multiInstanceSettings === undefined) return;
  const m = record(body.multiInstanceSettings);
  if (typeof m.coordinationCommandLine !== 'string' || m.coordinationCommandLine.trim() === '')
    throw missingProperty('multiInstanceSettings.coordinationCommandLine');
  const n = m.numberOfInstances ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    throw invalidProperty('multiInstanceSettings.numberOfInstances', 'The value must be at least 1.');
  if (body.requiredSlots !== undefined && body.requiredSlots !== 1)
    throw invalidProperty('requiredSlots', 'For multi-instance tasks, requiredSlots must be 1.');
  checkResourceFiles(m.commonResourceFiles, 'multiInstanceSettings.commonResourceFiles');
}
