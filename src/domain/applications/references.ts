import { NODE_ROOT_DIR } from '../../backends/port.ts';
import type { PackageInstall, TaskAssignment } from '../../protocol/agent-protocol.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { BatchAccountRecord, ComputeResourceRecord, PoolRecord } from '../../storage/records.ts';
import { DomainError } from '../errors.ts';
import {
  APPLICATION_TYPE,
  PACKAGE_TYPE,
  PACKAGE_URL_LIFETIME_MS,
  applicationId,
  blobOf,
  type PackageStorage,
} from './applications.ts';

/*
 * applicationPackageReferences on pools and tasks (ADR 0040). A pool's references are checked when it is added or
 * updated (409 InvalidApplicationPackageReferences, as Batch answers); a task's are resolved each time it is
 * dispatched, and one that names no usable package fails the run before its command (a pre-processing error with
 * the same code). A resolved reference gives the agent the package's folder under the node root, a read SAS to
 * its zip, and the environment variables that name the folder.
 */

/** A reference as the wire has it (BatchService.json ApplicationPackageReference). */
export interface PackageReference {
  applicationId: string;
  version?: string;
}

export const INVALID_REFERENCES = 'InvalidApplicationPackageReferences';

const invalidProperty = (property: string, reason: string) =>
  new DomainError('invalid-input', 'InvalidPropertyValue', `The value provided for ${property} is invalid.`, {
    target: property,
    values: { PropertyName: property, Reason: reason },
  });

/** Checks the shape of `applicationPackageReferences` and returns the references (none when absent). */
export function checkReferenceShape(value: unknown, property: string): PackageReference[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidProperty(property, 'The value must be an array.');
  return value.map((entry: unknown, i) => {
    const at = `${property}[${String(i)}]`;
    const r = entry as Record<string, unknown> | null;
    if (r === null || typeof r !== 'object') throw invalidProperty(at, 'Each reference must be an object.');
    if (typeof r.applicationId !== 'string' || r.applicationId === '')
      throw new DomainError(
        'invalid-input',
        'MissingRequiredProperty',
        'A required property was not specified in the request body.',
        {
          target: `${at}.applicationId`,
          values: { PropertyName: 'applicationId' },
        },
      );
    if (r.version !== undefined && r.version !== null && typeof r.version !== 'string')
      throw invalidProperty(`${at}.version`, 'The version must be a string.');
    return {
      applicationId: r.applicationId,
      ...(typeof r.version === 'string' && r.version !== '' ? { version: r.version } : {}),
    };
  });
}

/** The application's name in a reference: the id itself, or the last segment of a fully qualified ARM id. */
export function applicationNameOf(ref: PackageReference): string {
  const m = /\/applications\/([^/]+)\/?$/i.exec(ref.applicationId);
  return m?.[1] ?? ref.applicationId;
}

/** Why a reference names no usable package, or the package it names. */
async function lookUp(
  tx: StoreTx,
  account: BatchAccountRecord,
  ref: PackageReference,
): Promise<{ app: ComputeResourceRecord; pkg: ComputeResourceRecord } | { reason: string }> {
  const name = applicationNameOf(ref);
  const app = await tx.findComputeResource(applicationId(account, name));
  if (!app || app.type !== APPLICATION_TYPE) return { reason: `application '${name}' does not exist` };
  const defaultVersion = app.properties.defaultVersion;
  const version = ref.version ?? (typeof defaultVersion === 'string' ? defaultVersion : undefined);
  if (version === undefined)
    return { reason: `no version is given and application '${name}' has no default version` };
  const pkg = await tx.findComputeResource(`${app.id}/versions/${version}`);
  if (!pkg || pkg.type !== PACKAGE_TYPE)
    return { reason: `version '${version}' of application '${name}' does not exist` };
  if (pkg.properties.state !== 'Active')
    return { reason: `version '${version}' of application '${name}' is not active` };
  return { app, pkg };
}

/** A pool's references: each must name an active package (or an application with a default version). */
export async function checkPoolReferences(
  tx: StoreTx,
  account: BatchAccountRecord,
  refs: PackageReference[],
): Promise<void> {
  const problems: string[] = [];
  for (const ref of refs) {
    const found = await lookUp(tx, account, ref);
    if ('reason' in found) problems.push(found.reason);
  }
  if (problems.length > 0)
    throw new DomainError(
      'conflict',
      INVALID_REFERENCES,
      `One or more of the specified application package references are invalid: ${problems.join('; ')}.`,
      { target: 'applicationPackageReferences' },
    );
}

/** Linux Batch nodes' variable names: every character but letters, digits and `_` becomes `_`. */
const flat = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

/**
 * The installs a run needs, in reference order (a package named twice is installed once). An unusable reference
 * becomes an install with `error`, which fails the run before its command.
 */
export async function resolveReferences(
  tx: StoreTx,
  account: BatchAccountRecord,
  refs: PackageReference[],
  storage: PackageStorage | undefined,
  now: Date,
): Promise<PackageInstall[]> {
  const out: PackageInstall[] = [];
  const expiresOn = new Date(now.getTime() + PACKAGE_URL_LIFETIME_MS);
  for (const ref of refs) {
    const found = await lookUp(tx, account, ref);
    if ('reason' in found) {
      out.push({
        applicationId: applicationNameOf(ref),
        version: ref.version ?? '',
        folder: '',
        variables: [],
        error: {
          code: INVALID_REFERENCES,
          message: `The application package reference could not be satisfied: ${found.reason}.`,
        },
      });
      continue;
    }
    const { app, pkg } = found;
    const blob = blobOf(pkg);
    const url = blob === undefined ? undefined : storage?.blobUrl(blob, false, expiresOn);
    const variables = [`AZ_BATCH_APP_PACKAGE_${flat(app.name)}_${flat(pkg.name)}`];
    if (ref.version === undefined)
      variables.push(
        `AZ_BATCH_APP_PACKAGE_${flat(app.name)}`,
        `AZ_BATCH_APP_PACKAGE_${flat(app.name)}_default`,
      );
    const folder = `applications/${app.name}/${pkg.name}`;
    const same = out.find((o) => o.folder === folder && o.error === undefined);
    if (same) {
      same.variables = [...new Set([...same.variables, ...variables])];
      continue;
    }
    out.push({
      applicationId: app.name,
      version: pkg.name,
      folder,
      variables,
      ...(url === undefined
        ? {
            error: {
              code: INVALID_REFERENCES,
              message: `The package of version '${pkg.name}' of application '${app.name}' is in an auto-storage account this server cannot reach.`,
            },
          }
        : { url }),
    });
  }
  return out;
}

/** The environment variables of resolved installs: each names its package's folder under the node root. */
export function packageEnvironment(installs: PackageInstall[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of installs) {
    if (i.error !== undefined) continue;
    for (const v of i.variables) env[v] = `${NODE_ROOT_DIR}/${i.folder}`;
  }
  return env;
}

/**
 * Runs with `packageReferences` get them resolved: the installs go into `applicationPackages` and their variables
 * into the environment (settings the task or job gives under the same name win).
 */
export async function resolveRunPackages(
  tx: StoreTx,
  accountName: string,
  runs: TaskAssignment[],
  storage: PackageStorage | undefined,
  now: Date,
): Promise<TaskAssignment[]> {
  if (!runs.some((r) => r.packageReferences !== undefined)) return runs;
  const account = await tx.findBatchAccountByName(accountName);
  const out: TaskAssignment[] = [];
  for (const run of runs) {
    const { packageReferences: refs, ...rest } = run;
    if (refs === undefined || account === undefined) {
      out.push(rest);
      continue;
    }
    const installs = await resolveReferences(tx, account, refs, storage, now);
    out.push({
      ...rest,
      environment: { ...packageEnvironment(installs), ...rest.environment },
      applicationPackages: installs,
    });
  }
  return out;
}

/** The installs of a pool's own references (for its start task), none when it has none. */
export async function poolPackages(
  tx: StoreTx,
  pool: PoolRecord,
  storage: PackageStorage | undefined,
  now: Date,
): Promise<PackageInstall[]> {
  const refs = pool.spec.applicationPackageReferences;
  if (!Array.isArray(refs) || refs.length === 0) return [];
  const account = await tx.findBatchAccountByName(pool.accountName);
  if (!account) return [];
  return resolveReferences(tx, account, refs as PackageReference[], storage, now);
}
