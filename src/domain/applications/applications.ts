export type { PackageBlob, PackageStorage } from '../../backends/auto-storage.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { BatchAccountRecord, ComputeResourceRecord } from '../../storage/records.ts';
import type { PackageBlob, PackageStorage } from '../../backends/auto-storage.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { conflict, invalidInput, notFound } from '../errors.ts';

/*
 * Batch applications and their packages (issue 16 item 3, ADR 0040). An application is an ARM child resource of
 * its Batch account (a ComputeResourceRecord whose parentId is the account's id), a package (version) a child of
 * its application. A package's bytes live in the account's auto-storage: creating a version hands out a write SAS
 * to a blob Lazurite names, activating it checks that blob exists.
 */

export const APPLICATION_TYPE = 'Microsoft.Batch/batchAccounts/applications';
export const PACKAGE_TYPE = 'Microsoft.Batch/batchAccounts/applications/versions';

/** The container of an account's package blobs (one per Batch account; account names are 3–24 [a-z0-9]). */
export const packageContainer = (account: string) => `app-${account.toLowerCase()}`;

/** How long a package's storageUrl (write SAS) and a node's download URL (read SAS) are valid. */
export const PACKAGE_URL_LIFETIME_MS = 4 * 3_600_000;

export type PackageState = 'Pending' | 'Active';

/** An application as the domain hands it out. */
export interface ApplicationView {
  record: ComputeResourceRecord;
  displayName?: string;
  allowUpdates: boolean;
  defaultVersion?: string;
}

/** A package as the domain hands it out; `storageUrl` is a fresh write SAS (absent without auto-storage). */
export interface PackageView {
  record: ComputeResourceRecord;
  state: PackageState;
  format?: string;
  lastActivationTime?: string;
  storageUrl?: string;
  storageUrlExpiry?: string;
}

/** An application with its active versions, as the data plane lists them. */
export interface ApplicationSummary {
  id: string;
  displayName: string;
  versions: string[];
}

const APP_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const VERSION_NAME = /^[a-zA-Z0-9_-][a-zA-Z0-9_.-]{0,63}$/;

/** The Batch account's ARM id (as `accounts/batch-accounts.ts` builds it; not imported, to keep deletion acyclic). */
const accountScope = (a: BatchAccountRecord) =>
  `/subscriptions/${a.subscriptionId}/resourceGroups/${a.resourceGroup}/providers/Microsoft.Batch/batchAccounts/${a.name}`;

export const applicationId = (account: BatchAccountRecord, app: string) =>
  `${accountScope(account)}/applications/${app}`;
const packageId = (account: BatchAccountRecord, app: string, version: string) =>
  `${applicationId(account, app)}/versions/${version}`;

const appNotFound = (app: string) =>
  notFound('ApplicationNotFound', `The specified application '${app}' does not exist.`);
const packageNotFound = (app: string, version: string) =>
  notFound(
    'ApplicationPackageNotFound',
    `The specified version '${version}' of application '${app}' does not exist.`,
  );

function checkName(value: string, pattern: RegExp, what: string, target: string): void {
  if (!pattern.test(value))
    throw invalidInput('InvalidResourceName', `The ${what} '${value}' is invalid.`, target);
}

function storageAccountOf(account: BatchAccountRecord): string {
  const auto = account.extra.autoStorage as { storageAccountId?: unknown } | undefined | null;
  const id = auto?.storageAccountId;
  if (typeof id !== 'string' || id === '')
    throw conflict(
      'AutoStorageNotConfigured',
      `The Batch account '${account.name}' has no auto-storage account; set properties.autoStorage.storageAccountId before adding application packages.`,
    );
  return id;
}

function viewApp(r: ComputeResourceRecord): ApplicationView {
  const p = r.properties;
  return {
    record: r,
    ...(typeof p.displayName === 'string' ? { displayName: p.displayName } : {}),
    allowUpdates: p.allowUpdates !== false,
    ...(typeof p.defaultVersion === 'string' ? { defaultVersion: p.defaultVersion } : {}),
  };
}

/** The application's properties a PUT or PATCH may set, checked. */
export interface ApplicationInput {
  displayName?: string;
  allowUpdates?: boolean;
  defaultVersion?: string;
}

export class ApplicationService {
  private readonly ctx: DomainContext;
  private readonly storage: PackageStorage;
  constructor(ctx: DomainContext, storage: PackageStorage) {
    this.ctx = ctx;
    this.storage = storage;
  }

  /** PUT (replace) or PATCH (merge) an application; the caller's permission is checked by the caller. */
  async putApplication(
    account: BatchAccountRecord,
    app: string,
    input: ApplicationInput,
    merge: boolean,
  ): Promise<ApplicationView> {
    checkName(app, APP_NAME, 'application name', 'applicationName');
    return await this.ctx.store.transaction(async (tx) => {
      const id = applicationId(account, app);
      const existing = await tx.findComputeResource(id);
      if (merge && !existing) throw appNotFound(app);
      const base = merge && existing ? existing.properties : {};
      const properties: Record<string, unknown> = { ...base };
      for (const [k, v] of Object.entries(input)) if (v !== undefined) properties[k] = v;
      if (typeof properties.defaultVersion === 'string' && properties.defaultVersion !== '') {
        const version = properties.defaultVersion;
        if (!(await tx.findComputeResource(packageId(account, app, version))))
          throw invalidInput(
            'InvalidDefaultVersion',
            `The default version '${version}' is not a package of application '${app}'.`,
            'properties.defaultVersion',
          );
      } else delete properties.defaultVersion;
      const now = isoNow(this.ctx);
      const record: ComputeResourceRecord = {
        id: existing?.id ?? id,
        subscriptionId: account.subscriptionId.toLowerCase(),
        resourceGroup: account.resourceGroup,
        type: APPLICATION_TYPE,
        name: existing?.name ?? app,
        parentId: accountScope(account),
        location: account.location,
        tags: {},
        properties,
        sku: null,
        content: null,
        lineage: {},
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putComputeResource(record);
      return viewApp(record);
    });
  }

  getApplication(account: BatchAccountRecord, app: string): Promise<ApplicationView> {
    return this.ctx.store.transaction(async (tx) => viewApp(await this.requireApp(tx, account, app)));
  }

  listApplications(account: BatchAccountRecord): Promise<ApplicationView[]> {
    return this.ctx.store.transaction(async (tx) =>
      (
        await tx.listComputeResources(account.subscriptionId, APPLICATION_TYPE, {
          parentId: accountScope(account),
        })
      ).map(viewApp),
    );
  }

  /** Deletes an application and its packages (their blobs too, best effort); false when there was none. */
  async deleteApplication(account: BatchAccountRecord, app: string): Promise<boolean> {
    const removed = await this.ctx.store.transaction(async (tx) => {
      const r = await tx.findComputeResource(applicationId(account, app));
      if (!r) return undefined;
      const packages = await tx.listComputeResources(account.subscriptionId, PACKAGE_TYPE, {
        parentId: r.id,
      });
      for (const p of packages) await tx.deleteComputeResource(p.id);
      await tx.deleteComputeResource(r.id);
      return packages;
    });
    if (!removed) return false;
    for (const p of removed) await this.forgetBlob(p);
    return true;
  }

  /**
   * Creates a package record (Pending, with a write SAS to its blob) or, for an existing one, hands out a fresh
   * URL. A version that is Active in an application that does not allow updates cannot be replaced.
   */
  async putPackage(account: BatchAccountRecord, app: string, version: string): Promise<PackageView> {
    checkName(version, VERSION_NAME, 'version', 'versionName');
    const storageAccountId = storageAccountOf(account);
    const container = packageContainer(account.name);
    if (!(await this.storage.ensureContainer(storageAccountId, container)))
      throw conflict(
        'AutoStorageNotConfigured',
        `The auto-storage account '${storageAccountId}' of Batch account '${account.name}' is not one this server can reach (LAZURITE_STORAGE_ACCOUNTS).`,
      );
    const record = await this.ctx.store.transaction(async (tx) => {
      const parent = viewApp(await this.requireApp(tx, account, app));
      const id = packageId(account, app, version);
      const existing = await tx.findComputeResource(id);
      if (existing?.properties.state === 'Active' && !parent.allowUpdates)
        throw conflict(
          'ApplicationPackageUpdateNotAllowed',
          `Version '${version}' of application '${app}' is active and the application does not allow updates.`,
        );
      if (existing) return existing;
      const now = isoNow(this.ctx);
      const blob: PackageBlob = {
        storageAccountId,
        container,
        blob: `${app.toLowerCase()}/${version}/${this.ctx.ids.uuid()}.zip`,
      };
      const created: ComputeResourceRecord = {
        id,
        subscriptionId: account.subscriptionId.toLowerCase(),
        resourceGroup: account.resourceGroup,
        type: PACKAGE_TYPE,
        name: version,
        parentId: parent.record.id,
        location: account.location,
        tags: {},
        properties: { state: 'Pending' },
        sku: null,
        content: null,
        lineage: { blob },
        createdAt: now,
        updatedAt: now,
      };
      await tx.putComputeResource(created);
      return created;
    });
    return this.viewPackage(record);
  }

  getPackage(account: BatchAccountRecord, app: string, version: string): Promise<PackageView> {
    return this.ctx.store
      .transaction(async (tx) => this.requirePackage(tx, account, app, version))
      .then((r) => this.viewPackage(r));
  }

  async listPackages(account: BatchAccountRecord, app: string): Promise<PackageView[]> {
    const records = await this.ctx.store.transaction(async (tx) => {
      const parent = await this.requireApp(tx, account, app);
      return tx.listComputeResources(account.subscriptionId, PACKAGE_TYPE, { parentId: parent.id });
    });
    return records.map((r) => this.viewPackage(r));
  }

  /** Deletes a package and its blob; an application naming it as default version then has none. */
  async deletePackage(account: BatchAccountRecord, app: string, version: string): Promise<boolean> {
    const removed = await this.ctx.store.transaction(async (tx) => {
      const r = await tx.findComputeResource(packageId(account, app, version));
      if (!r) return undefined;
      await tx.deleteComputeResource(r.id);
      const parent = await tx.findComputeResource(applicationId(account, app));
      if (parent && parent.properties.defaultVersion === r.name) {
        const properties = { ...parent.properties };
        delete properties.defaultVersion;
        await tx.putComputeResource({ ...parent, properties, updatedAt: isoNow(this.ctx) });
      }
      return r;
    });
    if (!removed) return false;
    await this.forgetBlob(removed);
    return true;
  }

  /** Activates a package whose blob has been uploaded (format `zip`, the one Batch accepts on Linux). */
  async activate(account: BatchAccountRecord, app: string, version: string, format: string) {
    if (format.toLowerCase() !== 'zip')
      throw invalidInput(
        'InvalidApplicationPackageFormat',
        `The format '${format}' is not supported; application packages are 'zip' files.`,
        'format',
      );
    const record = await this.getPackage(account, app, version).then((v) => v.record);
    const blob = blobOf(record);
    const exists = blob === undefined ? undefined : await this.storage.blobExists(blob);
    if (exists !== true)
      throw conflict(
        'ApplicationPackageBlobNotFound',
        `The package of version '${version}' of application '${app}' has not been uploaded to its storageUrl.`,
      );
    const updated = await this.ctx.store.transaction(async (tx) => {
      const current = await this.requirePackage(tx, account, app, version);
      const now = isoNow(this.ctx);
      const next: ComputeResourceRecord = {
        ...current,
        properties: { state: 'Active', format: 'zip', lastActivationTime: now },
        updatedAt: now,
      };
      await tx.putComputeResource(next);
      return next;
    });
    return this.viewPackage(updated);
  }

  /** The data plane's applications: those with at least one active package, listing only active versions. */
  async summaries(account: BatchAccountRecord): Promise<ApplicationSummary[]> {
    return this.ctx.store.transaction(async (tx) => {
      const out: ApplicationSummary[] = [];
      const apps = await tx.listComputeResources(account.subscriptionId, APPLICATION_TYPE, {
        parentId: accountScope(account),
      });
      for (const app of apps) {
        const packages = await tx.listComputeResources(account.subscriptionId, PACKAGE_TYPE, {
          parentId: app.id,
        });
        const versions = packages.filter((p) => p.properties.state === 'Active').map((p) => p.name);
        if (versions.length === 0) continue;
        const displayName = app.properties.displayName;
        out.push({
          id: app.name,
          displayName: typeof displayName === 'string' ? displayName : app.name,
          versions,
        });
      }
      return out;
    });
  }

  /** One application of the data plane (404 ApplicationNotFound when it has no active package). */
  async summary(account: BatchAccountRecord, app: string): Promise<ApplicationSummary> {
    const found = (await this.summaries(account)).find((s) => s.id.toLowerCase() === app.toLowerCase());
    if (!found) throw appNotFound(app);
    return found;
  }

  private async requireApp(tx: StoreTx, account: BatchAccountRecord, app: string) {
    const r = await tx.findComputeResource(applicationId(account, app));
    if (!r) throw appNotFound(app);
    return r;
  }

  private async requirePackage(tx: StoreTx, account: BatchAccountRecord, app: string, version: string) {
    await this.requireApp(tx, account, app);
    const r = await tx.findComputeResource(packageId(account, app, version));
    if (!r) throw packageNotFound(app, version);
    return r;
  }

  private viewPackage(r: ComputeResourceRecord): PackageView {
    const p = r.properties;
    const blob = blobOf(r);
    const expiry = new Date(this.ctx.clock.now().getTime() + PACKAGE_URL_LIFETIME_MS);
    const url = blob === undefined ? undefined : this.storage.blobUrl(blob, true, expiry);
    return {
      record: r,
      state: p.state === 'Active' ? 'Active' : 'Pending',
      ...(typeof p.format === 'string' ? { format: p.format } : {}),
      ...(typeof p.lastActivationTime === 'string' ? { lastActivationTime: p.lastActivationTime } : {}),
      ...(url === undefined ? {} : { storageUrl: url, storageUrlExpiry: expiry.toISOString() }),
    };
  }

  private async forgetBlob(r: ComputeResourceRecord): Promise<void> {
    const blob = blobOf(r);
    if (blob === undefined) return;
    try {
      await this.storage.deleteBlob(blob);
    } catch {
      // The record is gone; a blob left behind costs storage only (the container is Lazurite's).
    }
  }
}

/** The blob a package record names (kept in its lineage, never on the wire). */
export function blobOf(r: ComputeResourceRecord): PackageBlob | undefined {
  const b = r.lineage.blob as Partial<PackageBlob> | undefined;
  if (
    typeof b?.storageAccountId !== 'string' ||
    typeof b.container !== 'string' ||
    typeof b.blob !== 'string'
  )
    return undefined;
  return { storageAccountId: b.storageAccountId, container: b.container, blob: b.blob };
}

/** Removes every application and package of `account` inside `tx` (the account is being deleted). */
export async function deleteAccountApplications(tx: StoreTx, account: BatchAccountRecord): Promise<void> {
  const apps = await tx.listComputeResources(account.subscriptionId, APPLICATION_TYPE, {
    parentId: accountScope(account),
  });
  for (const app of apps) {
    for (const p of await tx.listComputeResources(account.subscriptionId, PACKAGE_TYPE, { parentId: app.id }))
      await tx.deleteComputeResource(p.id);
    await tx.deleteComputeResource(app.id);
  }
}
