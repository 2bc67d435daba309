import { DomainError } from '../errors.ts';
import { checkAutoScaleAdd, evaluationIntervalOf } from './autoscale/settings.ts';
import { accountNames, checkUserAccounts, checkUserIdentity } from './user-accounts.ts';
import { checkNetworkConfiguration } from './endpoint-config.ts';
import { checkContainerConfiguration } from './containers.ts';
import { findVmSize, type VmSize } from './vm-sizes.ts';

/** The Batch service's 400 for a property whose value it refuses, naming the property and why. */
export function invalidProperty(property: string, reason: string): DomainError {
  return new DomainError(
    'invalid-input',
    'InvalidPropertyValue',
    `The value provided for one of the properties in the request body is invalid. ${reason}`,
    { target: property, values: { PropertyName: property, Reason: reason } },
  );
}

/** Batch's 400 for a property this server does not implement: refused, never stored and silently skipped. */
export function unsupportedProperty(property: string, reason: string): DomainError {
  return new DomainError(
    'invalid-input',
    'UnsupportedProperty',
    `The specified property is not supported. ${reason}`,
    { target: property, values: { PropertyName: property, Reason: reason } },
  );
}

/** Whether a property was given a value that asks for something (an empty list or `false` asks for nothing). */
function given(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  return !(typeof value === 'object' && Object.keys(value).length === 0);
}

/** Pool properties nothing in Lazurite implements yet (paths in the pool body). */
const UNIMPLEMENTED_POOL = [
  'virtualMachineConfiguration.dataDisks',
  'virtualMachineConfiguration.diskEncryptionConfiguration',
  'virtualMachineConfiguration.extensions',
  'virtualMachineConfiguration.securityProfile',
  'virtualMachineConfiguration.serviceArtifactReference',
  'virtualMachineConfiguration.windowsConfiguration',
  'mountConfiguration',
  'applicationLicenses',
  'certificateReferences',
  'resourceTags',
  'upgradePolicy',
];

/** Refuses, with UnsupportedProperty naming it, any pool property Lazurite does not implement (add, patch, update). */
export function refuseUnimplementedPoolProperties(body: Record<string, unknown>): void {
  for (const path of UNIMPLEMENTED_POOL) {
    let value: unknown = body;
    for (const part of path.split('.'))
      value =
        value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    if (given(value)) throw unsupportedProperty(path, `${path} is not supported by this server yet.`);
  }
}

export function missingProperty(property: string): DomainError {
  return new DomainError(
    'invalid-input',
    'MissingRequiredProperty',
    'A required property was not specified in the request body.',
    { target: property, values: { PropertyName: property } },
  );
}

const DURATION =
  /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;

/** ISO 8601 duration (days/hours/minutes/seconds, as Batch accepts) in ms; undefined when not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m || text.trim().toUpperCase() === 'P' || text.trim().toUpperCase().endsWith('T')) return undefined;
  const [d, h, min, s] = [m[1], m[2], m[3], m[4]].map((v) => (v === undefined ? 0 : Number(v)));
  return (((d ?? 0) * 24 + (h ?? 0)) * 60 + (min ?? 0)) * 60_000 + (s ?? 0) * 1000;
}

export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `PT${h > 0 ? `${String(h)}H` : ''}${m > 0 ? `${String(m)}M` : ''}${s > 0 || total === 0 ? `${String(s)}S` : ''}`;
}

export const DEFAULT_RESIZE_TIMEOUT_MS = 15 * 60_000;
const MIN_RESIZE_TIMEOUT_MS = 5 * 60_000;
/** The longest duration Batch can hold: .NET's TimeSpan.MaxValue (10675199.02:48:05.4775807), in ms. */
export const MAX_DURATION_MS = 922_337_203_685_477;

/**
 * `resizeTimeout`: ISO 8601, at least 5 minutes and at most TimeSpan.MaxValue (else 400 naming the property);
 * default 15 minutes.
 */
export function resizeTimeoutOf(value: unknown, property = 'resizeTimeout'): number {
  if (value === undefined || value === null) return DEFAULT_RESIZE_TIMEOUT_MS;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined)
    throw invalidProperty(property, `'${JSON.stringify(value)}' is not an ISO 8601 duration.`);
  if (ms < MIN_RESIZE_TIMEOUT_MS)
    throw invalidProperty(property, 'The resize timeout must be at least 5 minutes (PT5M).');
  if (ms > MAX_DURATION_MS)
    throw invalidProperty(
      property,
      'The resize timeout must be at most 10675199 days (P10675199DT2H48M5.4775807S), the largest duration Batch holds.',
    );
  return ms;
}

function nodeCount(value: unknown, property: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
    throw invalidProperty(property, `${property} must be a non-negative integer.`);
  return value;
}

export interface PoolTargets {
  dedicated: number;
  lowPriority: number;
  resizeTimeoutMs: number;
}

/** Target node counts and resize timeout of an add or resize body. */
export function targetsOf(body: Record<string, unknown>): PoolTargets {
  return {
    dedicated: nodeCount(body.targetDedicatedNodes, 'targetDedicatedNodes'),
    lowPriority: nodeCount(body.targetLowPriorityNodes, 'targetLowPriorityNodes'),
    resizeTimeoutMs: resizeTimeoutOf(body.resizeTimeout),
  };
}

const POOL_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks an add-pool body beyond its schema: id, VM size, autoscale, slots, start task, metadata. */
export function checkPoolAdd(body: Record<string, unknown>): {
  size: VmSize;
  targets: PoolTargets;
  autoScale?: { formula: string; intervalMs: number };
} {
  const id = body.id;
  if (typeof id !== 'string' || !POOL_ID.test(id))
    throw invalidProperty('id', 'A pool id is 1 to 64 letters, digits, hyphens and underscores.');
  const vmSize = typeof body.vmSize === 'string' ? body.vmSize : '';
  const size = findVmSize(vmSize);
  if (!size) throw invalidProperty('vmSize', `The VM size '${vmSize}' is not one this server offers.`);
  if (body.cloudServiceConfiguration !== undefined && body.cloudServiceConfiguration !== null)
    throw invalidProperty(
      'cloudServiceConfiguration',
      'Cloud Services pools are retired; use virtualMachineConfiguration.',
    );
  if (body.virtualMachineConfiguration === undefined || body.virtualMachineConfiguration === null)
    throw missingProperty('virtualMachineConfiguration');
  refuseUnimplementedPoolProperties(body);
  checkContainerConfiguration(body.virtualMachineConfiguration);
  checkNetworkConfiguration(body.networkConfiguration);
  // A malformed interval is refused even when autoscale is off (the negative suite found it stored and ignored).
  if (body.enableAutoScale !== true) evaluationIntervalOf(body.autoScaleEvaluationInterval);
  const autoScale = body.enableAutoScale === true ? checkAutoScaleAdd(body) : undefined;
  const slots = body.taskSlotsPerNode ?? 1;
  const maxSlots = Math.min(4 * size.cores, 256);
  if (typeof slots !== 'number' || !Number.isInteger(slots) || slots < 1 || slots > maxSlots)
    throw invalidProperty(
      'taskSlotsPerNode',
      `taskSlotsPerNode must be between 1 and ${String(maxSlots)} for ${size.name}.`,
    );
  checkUserAccounts(body.userAccounts);
  checkStartTask(body.startTask, 'startTask', accountNames(body));
  checkMetadata(body.metadata);
  return { size, targets: targetsOf(body), ...(autoScale ? { autoScale } : {}) };
}

/** A start task (`names`: the pool's user accounts, which its userIdentity.userName must be one of). */
export function checkStartTask(value: unknown, property: string, names: Set<string>): void {
  if (value === undefined || value === null) return;
  const task = value as Record<string, unknown>;
  checkUserIdentity(task, property, names);
  // Container runs are built for tasks only so far (ADR 0039): refused here, never stored and ignored.
  if (task.containerSettings !== undefined && task.containerSettings !== null)
    throw unsupportedProperty(
      `${property}.containerSettings`,
      `${property}.containerSettings is not supported by this server yet.`,
    );
  if (typeof task.commandLine !== 'string' || task.commandLine.trim() === '')
    throw missingProperty(`${property}.commandLine`);
  const retries = task.maxTaskRetryCount ?? 0;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < -1)
    throw invalidProperty(
      `${property}.maxTaskRetryCount`,
      'maxTaskRetryCount must be -1 (unlimited) or more.',
    );
  checkEnvironmentSettings(task.environmentSettings, `${property}.environmentSettings`);
}

/**
 * `environmentSettings` (`[{name, value}]`): each name a non-empty string that a process environment can hold (no
 * `=`, no NUL), each value a string without NUL; else 400 naming the setting.
 */
export function checkEnvironmentSettings(value: unknown, property: string): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw invalidProperty(property, 'Must be a list.');
  for (const [i, raw] of (value as unknown[]).entries()) {
    const e = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const at = `${property}[${String(i)}]`;
    if (typeof e.name !== 'string' || e.name === '') throw missingProperty(`${at}.name`);
    if (e.name.includes('=') || e.name.includes('\0'))
      throw invalidProperty(
        `${at}.name`,
        'An environment variable name must not contain an equals sign (=) or a NUL character.',
      );
    if (typeof e.value === 'string' && e.value.includes('\0'))
      throw invalidProperty(`${at}.value`, 'An environment variable value must not contain a NUL character.');
  }
}

export function checkMetadata(value: unknown): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw invalidProperty('metadata', 'metadata must be a list of {name, value}.');
  for (const [i, m] of (value as Record<string, unknown>[]).entries()) {
    if (typeof m.name !== 'string' || m.name === '')
      throw new DomainError('invalid-input', 'EmptyMetadataKey', 'A metadata item has an empty name.', {
        target: `metadata[${String(i)}].name`,
      });
  }
}
