import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';
import { requirePermission, type Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { conflict, invalidInput, notFound } from '../errors.ts';
import { requireKnownLocation } from '../locations.ts';
import { requireRegistered, requireResourceGroup, rgScope, validateTags } from '../resources/resources.ts';

export const STORAGE_ACCOUNT_TYPE = 'Microsoft.Storage/storageAccounts';

/**
 * The blob endpoint and key behind a storage account name. Lazurite hosts no blob service: each account is one
 * the server is configured with (LAZURITE_STORAGE_ACCOUNTS: Azurite in tests, a real account elsewhere).
 */
export interface StorageBacking {
  blobEndpoint: string;
  key: string;
}
export type StorageBackings = (name: string) => StorageBacking | undefined;

export interface StorageAccountAddress {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

const NAME = /^[a-z0-9]{3,24}$/;
const SKUS = [
  'Standard_LRS',
  'Standard_GRS',
  'Standard_RAGRS',
  'Standard_ZRS',
  'Standard_GZRS',
  'Standard_RAGZRS',
  'Premium_LRS',
  'Premium_ZRS',
] as const;
const KINDS = ['Storage', 'StorageV2', 'BlobStorage', 'FileStorage', 'BlockBlobStorage'] as const;
/**
 * Properties kept and echoed: they describe the account without asking the blob service to do anything Lazurite
 * would have to enforce. Anything else in `properties` is refused (UnsupportedProperty), never stored and ignored.
 */
const KEPT = [
  'accessTier',
  'supportsHttpsTrafficOnly',
  'minimumTlsVersion',
  'allowBlobPublicAccess',
  'allowSharedKeyAccess',
  'allowCrossTenantReplication',
  'defaultToOAuthAuthentication',
  'publicNetworkAccess',
  'encryption',
  'isHnsEnabled',
  'isNfsV3Enabled',
  'largeFileSharesState',
  'dnsEndpointType',
] as const;

export const storageAccountId = (a: StorageAccountAddress): string =>
  `${rgScope(a.subscriptionId, a.resourceGroup)}/providers/${STORAGE_ACCOUNT_TYPE}/${a.name}`;

function accountNotFound(a: StorageAccountAddress) {
  return notFound(
    'ResourceNotFound',
    `The Resource '${STORAGE_ACCOUNT_TYPE}/${a.name}' under resource group '${a.resourceGroup}' was not found.`,
  );
}

function pick<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  const hit = allowed.find((s) => typeof value === 'string' && s.toLowerCase() === value.toLowerCase());
  if (hit === undefined)
    throw invalidInput(
      value === undefined ? 'MissingRequiredProperty' : 'InvalidValuesForRequestParameters',
      value === undefined
        ? `The required property '${field}' is missing.`
        : `Values for request parameters are invalid: ${field} ${JSON.stringify(value)} is not one of ${allowed.join(', ')}.`,
      field,
    );
  return hit;
}

/** The account's wire properties other than the ones the server owns (endpoints, state, times). */
function keptProperties(props: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) {
    if (!(KEPT as readonly string[]).includes(k))
      throw invalidInput(
        'UnsupportedProperty',
        `The property 'properties.${k}' of a storage account is not supported by Lazurite.`,
        `properties.${k}`,
      );
    out[k] = v;
  }
  if (out.allowSharedKeyAccess === false)
    throw invalidInput(
      'UnsupportedProperty',
      "Lazurite reads the account's blobs with its key: 'properties.allowSharedKeyAccess' cannot be false.",
      'properties.allowSharedKeyAccess',
    );
  return out;
}

export function validateStorageAccountName(name: string): void {
  if (!NAME.test(name))
    throw invalidInput(
      'AccountNameInvalid',
      `${name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.`,
      'name',
    );
}

/** Storage accounts in every subscription with this name (names are global, as their DNS names are). */
async function accountsNamed(tx: StoreTx, name: string): Promise<ComputeResourceRecord[]> {
  const out: ComputeResourceRecord[] = [];
  for (const sub of await tx.listSubscriptions()) {
    const all = await tx.listComputeResources(sub.id, STORAGE_ACCOUNT_TYPE);
    out.push(...all.filter((r) => r.name.toLowerCase() === name.toLowerCase()));
  }
  return out;
}

/**
 * The storage account of `subscriptionId` whose blob endpoint `url` is under (Compute reads such a blob with the
 * account's key, as it does for an image's `osDisk.blobUri`), or undefined for any other URL.
 */
export async function storageAccountForBlob(
  tx: StoreTx,
  subscriptionId: string,
  url: string,
  backings: StorageBackings,
): Promise<string | undefined> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return undefined;
  }
  for (const r of await tx.listComputeResources(subscriptionId, STORAGE_ACCOUNT_TYPE)) {
    const backing = backings(r.name);
    if (backing === undefined) continue;
    const base = new URL(backing.blobEndpoint.replace(/\/*$/, '/'));
    if (target.origin === base.origin && target.pathname.startsWith(base.pathname)) return r.name;
  }
  return undefined;
}

/**
 * Microsoft.Storage/storageAccounts as ARM resources (issue 17): each is backed by a blob endpoint the server
 * knows, whose key `listKeys` returns and image imports read blobs with. Records live with the other ARM
 * resources (`compute_resources`), so a resource group's deletion removes them.
 */
export class StorageAccountService {
  private readonly ctx: DomainContext;
  private readonly backings: StorageBackings;

  constructor(ctx: DomainContext, backings: StorageBackings) {
    this.ctx = ctx;
    this.backings = backings;
  }

  /** PUT: creates (then `created` is true and an operation id is recorded for the client to poll) or updates. */
  async createOrUpdate(caller: Caller, a: StorageAccountAddress, body: Record<string, unknown>) {
    validateStorageAccountName(a.name);
    const sku = body.sku as { name?: unknown } | undefined;
    const skuName = pick(sku?.name, SKUS, 'sku.name');
    const kind = pick(body.kind, KINDS, 'kind');
    const props = keptProperties((body.properties ?? {}) as Record<string, unknown>);
    return this.ctx.store.transaction(async (tx) => {
      const rg = await requireResourceGroup(tx, a.subscriptionId, a.resourceGroup);
      const id = storageAccountId({ ...a, resourceGroup: rg.name });
      await requirePermission(tx, caller, `${STORAGE_ACCOUNT_TYPE}/write`, id);
      await requireRegistered(tx, a.subscriptionId, 'Microsoft.Storage');
      const location = requireKnownLocation(body.location);
      const existing = await tx.findComputeResource(id);
      if (!existing && (await accountsNamed(tx, a.name)).length > 0)
        throw conflict('StorageAccountAlreadyTaken', `The storage account named ${a.name} is already taken.`);
      if (existing && existing.location !== location)
        throw invalidInput(
          'InvalidRequestContent',
          `The location of storage account '${a.name}' cannot be changed.`,
          'location',
        );
      const backing = this.backings(a.name);
      if (!backing)
        throw invalidInput(
          'StorageAccountNotConfigured',
          `Lazurite hosts no blob service itself: storage account '${a.name}' needs a blob endpoint and key in the server's LAZURITE_STORAGE_ACCOUNTS.`,
          'name',
        );
      const now = isoNow(this.ctx);
      const record: ComputeResourceRecord = {
        id: existing?.id ?? id,
        subscriptionId: a.subscriptionId.toLowerCase(),
        resourceGroup: rg.name,
        type: STORAGE_ACCOUNT_TYPE,
        name: existing?.name ?? a.name,
        parentId: null,
        location,
        tags: validateTags(body.tags),
        properties: {
          ...(existing ? existing.properties : {}),
          ...props,
          provisioningState: 'Succeeded',
          creationTime: existing?.properties.creationTime ?? now,
        },
        sku: { name: skuName, tier: skuName.startsWith('Premium') ? 'Premium' : 'Standard' },
        content: null,
        lineage: { kind },
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putComputeResource(record);
      if (existing) return { account: record, created: false };
      const operationId = this.ctx.ids.uuid();
      await tx.putOperation({
        id: operationId,
        resourceId: record.id,
        kind: 'storage-create',
        startTime: now,
      });
      return { account: record, created: true, operationId };
    });
  }

  get(caller: Caller, a: StorageAccountAddress): Promise<ComputeResourceRecord> {
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${STORAGE_ACCOUNT_TYPE}/read`, storageAccountId(a));
      const r = await tx.findComputeResource(storageAccountId(a));
      if (!r) throw accountNotFound(a);
      return r;
    });
  }

  /** The account a create operation made (the Location a client polls after PUT's 202). */
  operationResult(caller: Caller, subscriptionId: string, operationId: string) {
    return this.ctx.store.transaction(async (tx) => {
      const op = await tx.findOperation(operationId);
      const r = op?.kind === 'storage-create' ? await tx.findComputeResource(op.resourceId) : undefined;
      if (!r || r.subscriptionId !== subscriptionId.toLowerCase())
        throw notFound('ResourceNotFound', `The operation '${operationId}' was not found.`);
      await requirePermission(tx, caller, `${STORAGE_ACCOUNT_TYPE}/read`, r.id);
      return r;
    });
  }

  list(caller: Caller, subscriptionId: string, resourceGroup?: string): Promise<ComputeResourceRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      const scope =
        resourceGroup === undefined
          ? `/subscriptions/${subscriptionId}`
          : rgScope(subscriptionId, resourceGroup);
      if (resourceGroup !== undefined) await requireResourceGroup(tx, subscriptionId, resourceGroup);
      await requirePermission(tx, caller, `${STORAGE_ACCOUNT_TYPE}/read`, scope);
      return tx.listComputeResources(
        subscriptionId,
        STORAGE_ACCOUNT_TYPE,
        resourceGroup === undefined ? {} : { resourceGroup },
      );
    });
  }

  delete(caller: Caller, a: StorageAccountAddress): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${STORAGE_ACCOUNT_TYPE}/delete`, storageAccountId(a));
      return tx.deleteComputeResource(storageAccountId(a));
    });
  }

  /** POST listKeys: the backing endpoint's key (the one key it has: `key1`). */
  listKeys(caller: Caller, a: StorageAccountAddress) {
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${STORAGE_ACCOUNT_TYPE}/listkeys/action`, storageAccountId(a));
      const r = await tx.findComputeResource(storageAccountId(a));
      if (!r) throw accountNotFound(a);
      return { account: r, keys: this.keysOf(r) };
    });
  }

  private keysOf(r: ComputeResourceRecord) {
    const backing = this.backings(r.name);
    return backing === undefined
      ? []
      : [{ keyName: 'key1', value: backing.key, permissions: 'FULL', creationTime: r.createdAt }];
  }

  /** `checkNameAvailability`: free unless invalid or taken by any subscription. */
  async checkName(caller: Caller, subscriptionId: string, name: unknown) {
    if (typeof name !== 'string')
      throw invalidInput('InvalidRequestContent', "The property 'name' is required.", 'name');
    if (!NAME.test(name))
      return {
        nameAvailable: false,
        reason: 'AccountNameInvalid',
        message: `${name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.`,
      };
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(
        tx,
        caller,
        `Microsoft.Storage/checknameavailability/read`,
        `/subscriptions/${subscriptionId}`,
      );
      const taken = (await accountsNamed(tx, name)).length > 0;
      return taken
        ? {
            nameAvailable: false,
            reason: 'AlreadyExists',
            message: `The storage account named ${name} is already taken.`,
          }
        : { nameAvailable: true };
    });
  }

  /** The blob endpoint shown as `primaryEndpoints.blob`. */
  blobEndpointOf(name: string): string | undefined {
    const b = this.backings(name);
    return b === undefined ? undefined : b.blobEndpoint.replace(/\/*$/, '/');
  }
}
