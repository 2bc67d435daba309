import type { StoreTx } from '../../storage/port.ts';
import type { BatchAccountRecord, PoolAllocationMode } from '../../storage/records.ts';
import { isPermitted, requirePermission, type Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { conflict, invalidInput, notFound, DomainError } from '../errors.ts';
import { requireKnownLocation } from '../locations.ts';
import { requireBatchVault } from '../keyvault/vaults.ts';
import { startAccountDeletion, type DeletionStart } from './account-deletion.ts';
import { requireRegistered, requireResourceGroup, rgScope, validateTags } from '../resources/resources.ts';

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
/**
 * Whether clients may use the account's shared keys: 'SharedKey' in allowedAuthenticationModes, and never in
 * UserSubscription pool allocation mode ("clients must use Microsoft Entra ID", BatchAccountCreateProperties).
 */
export function sharedKeyAllowed(account: BatchAccountRecord): boolean {
  return (
    account.poolAllocationMode !== 'UserSubscription' &&
    account.allowedAuthenticationModes.includes('SharedKey')
  );
}

const AUTH_MODES = ['SharedKey', 'AAD', 'TaskAuthenticationToken'] as const;
export const KEY_BYTES = 64;

export interface BatchAccountInput {
  location?: unknown;
  tags?: unknown;
  identity?: unknown;
  properties?: Record<string, unknown> | undefined;
}

export const accountScope = (a: { subscriptionId: string; resourceGroup: string; name: string }): string =>
  `${rgScope(a.subscriptionId, a.resourceGroup)}/providers/Microsoft.Batch/batchAccounts/${a.name}`;

function accountNotFound(name: string, group: string): DomainError {
  return notFound(
    'ResourceNotFound',
    `The Resource 'Microsoft.Batch/batchAccounts/${name}' under resource group '${group}' was not found.`,
  );
}

function enumValue<T extends string>(value: unknown, allowed: readonly T[], field: string, fallback: T): T {
  if (value === undefined || value === null) return fallback;
  const hit = allowed.find((a) => typeof value === 'string' && a.toLowerCase() === value.toLowerCase());
  if (hit === undefined) {
    throw invalidInput(
      'InvalidParameter',
      `The value '${JSON.stringify(value)}' of '${field}' is not one of ${allowed.join(', ')}.`,
      field,
    );
  }
  return hit;
}

function authModes(value: unknown, fallback: string[]): string[] {
  if (value === undefined || value === null) return fallback;
  if (!Array.isArray(value)) {
    throw invalidInput(
      'InvalidParameter',
      "'properties.allowedAuthenticationModes' must be an array.",
      'properties.allowedAuthenticationModes',
    );
  }
  return value.map((v) => enumValue(v, AUTH_MODES, 'properties.allowedAuthenticationModes', 'SharedKey'));
}

/** Properties we keep verbatim because they configure integrations that other issues implement. */
const KEPT_PROPERTIES = ['autoStorage', 'keyVaultReference', 'networkProfile', 'encryption'] as const;

/** A fully qualified ARM resource id of one type (case-insensitive), as linked properties must be. */
const STORAGE_ACCOUNT_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.Storage\/storageAccounts\/[a-z0-9]{3,24}$/i;

/** ARM's LinkedInvalidPropertyId for a linked resource id that is not one (autoStorage.storageAccountId). */
function checkLinkedIds(props: Record<string, unknown>): void {
  const autoStorage = props.autoStorage;
  if (autoStorage === undefined || autoStorage === null) return;
  const id = (autoStorage as { storageAccountId?: unknown }).storageAccountId;
  if (typeof id === 'string' && STORAGE_ACCOUNT_ID.test(id)) return;
  throw invalidInput(
    'LinkedInvalidPropertyId',
    `Property id '${String(id)}' at path 'properties.autoStorage.storageAccountId' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' and name a Microsoft.Storage/storageAccounts resource.`,
    'properties.autoStorage.storageAccountId',
  );
}

/** Checks a create request's name, location and allocation mode before anything is read or written. */
function validateCreate(name: string, input: BatchAccountInput) {
  if (!ACCOUNT_NAME.test(name)) {
    throw invalidInput(
      'AccountNameInvalid',
      `Account name '${name}' is invalid. Batch account names must be 3 to 24 characters long and use numbers and lower-case letters only.`,
      'accountName',
    );
  }
  const location = requireKnownLocation(input.location);
  const props = input.properties ?? {};
  const poolAllocationMode = enumValue<PoolAllocationMode>(
    props.poolAllocationMode,
    ['BatchService', 'UserSubscription'],
    'properties.poolAllocationMode',
    'BatchService',
  );
  if (poolAllocationMode === 'UserSubscription' && props.keyVaultReference === undefined) {
    throw invalidInput(
      'InvalidRequestBody',
      "A Batch account in UserSubscription pool allocation mode requires 'properties.keyVaultReference'.",
      'properties.keyVaultReference',
    );
  }
  return { location, props, poolAllocationMode };
}

/** Writes to an account whose deletion has started are refused until it is gone (then its name is free). */
function beingDeleted(name: string): DomainError {
  return conflict(
    'AccountBeingDeleted',
    `The Batch account '${name}' is being deleted; it can be created again once the deletion has finished.`,
    'accountName',
  );
}

export class BatchAccountService {
  private readonly ctx: DomainContext;
  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  private newKey(): string {
    return this.ctx.ids.secret(KEY_BYTES);
  }

  async createOrUpdate(
    caller: Caller,
    subscriptionId: string,
    group: string,
    name: string,
    input: BatchAccountInput,
  ): Promise<{ account: BatchAccountRecord; created: boolean }> {
    const { location, props, poolAllocationMode } = validateCreate(name, input);
    return this.ctx.store.transaction(async (tx) => {
      const rg = await requireResourceGroup(tx, subscriptionId, group);
      const scope = accountScope({ subscriptionId, resourceGroup: rg.name, name });
      await requirePermission(tx, caller, 'Microsoft.Batch/batchAccounts/write', scope);
      await requireRegistered(tx, subscriptionId, 'Microsoft.Batch');
      const existing = await tx.findBatchAccountByName(name);
      if (
        existing &&
        (existing.subscriptionId !== subscriptionId.toLowerCase() ||
          existing.resourceGroup.toLowerCase() !== group.toLowerCase())
      ) {
        throw conflict(
          'AccountNameNotAvailable',
          `The account name '${name}' is already in use.`,
          'accountName',
        );
      }
      if (existing?.provisioningState === 'Deleting') throw beingDeleted(existing.name);
      if (existing && existing.location !== location) {
        throw invalidInput(
          'LocationCannotBeChanged',
          `The location of Batch account '${name}' cannot be changed.`,
          'location',
        );
      }
      const now = isoNow(this.ctx);
      const extra: Record<string, unknown> = { ...(existing?.extra ?? {}) };
      checkLinkedIds(props);
      for (const p of KEPT_PROPERTIES) if (props[p] !== undefined) extra[p] = props[p];
      if (input.identity !== undefined) extra.identity = input.identity;
      if (poolAllocationMode === 'UserSubscription')
        extra.keyVaultReference = await requireBatchVault(
          tx,
          subscriptionId,
          location,
          props.keyVaultReference,
        );
      const account: BatchAccountRecord = {
        subscriptionId: subscriptionId.toLowerCase(),
        resourceGroup: rg.name,
        name: existing?.name ?? name,
        location,
        tags: validateTags(input.tags),
        poolAllocationMode,
        publicNetworkAccess: enumValue(
          props.publicNetworkAccess,
          ['Enabled', 'Disabled'],
          'properties.publicNetworkAccess',
          'Enabled',
        ),
        allowedAuthenticationModes: authModes(
          props.allowedAuthenticationModes,
          existing?.allowedAuthenticationModes ?? [...AUTH_MODES],
        ),
        extra,
        primaryKey: existing?.primaryKey ?? this.newKey(),
        secondaryKey: existing?.secondaryKey ?? this.newKey(),
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putBatchAccount(account);
      return { account, created: !existing };
    });
  }

  /** PATCH: tags, autoStorage, encryption, identity, allowedAuthenticationModes, publicNetworkAccess. */
  update(caller: Caller, subscriptionId: string, group: string, name: string, input: BatchAccountInput) {
    return this.ctx.store.transaction(async (tx) => {
      const account = await this.require(tx, subscriptionId, group, name);
      await requirePermission(tx, caller, 'Microsoft.Batch/batchAccounts/write', accountScope(account));
      if (account.provisioningState === 'Deleting') throw beingDeleted(account.name);
      const props = input.properties ?? {};
      const extra = { ...account.extra };
      checkLinkedIds(props);
      for (const p of KEPT_PROPERTIES) if (props[p] !== undefined) extra[p] = props[p];
      if (input.identity !== undefined) extra.identity = input.identity;
      const updated: BatchAccountRecord = {
        ...account,
        tags: input.tags === undefined ? account.tags : validateTags(input.tags),
        publicNetworkAccess: enumValue(
          props.publicNetworkAccess,
          ['Enabled', 'Disabled'],
          'properties.publicNetworkAccess',
          account.publicNetworkAccess as 'Enabled',
        ),
        allowedAuthenticationModes: authModes(
          props.allowedAuthenticationModes,
          account.allowedAuthenticationModes,
        ),
        extra,
        updatedAt: isoNow(this.ctx),
      };
      await tx.putBatchAccount(updated);
      return updated;
    });
  }

  get(caller: Caller, subscriptionId: string, group: string, name: string): Promise<BatchAccountRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const account = await this.require(tx, subscriptionId, group, name);
      await requirePermission(tx, caller, 'Microsoft.Batch/batchAccounts/read', accountScope(account));
      return account;
    });
  }

  list(caller: Caller, subscriptionId: string, group?: string): Promise<BatchAccountRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      if (group !== undefined) await requireResourceGroup(tx, subscriptionId, group);
      const scope = group === undefined ? `/subscriptions/${subscriptionId}` : rgScope(subscriptionId, group);
      await requirePermission(tx, caller, 'Microsoft.Batch/batchAccounts/read', scope);
      return tx.listBatchAccounts(subscriptionId, group);
    });
  }

  /**
   * Deletes the account and everything under it (account-deletion.ts): `deleted` at once when it has no pools,
   * `deleting` while its pools are being removed (the account shows provisioningState Deleting), `absent`.
   */
  async delete(
    caller: Caller,
    subscriptionId: string,
    group: string,
    name: string,
  ): Promise<DeletionStart | 'absent'> {
    return this.ctx.store.transaction(async (tx) => {
      await requireResourceGroup(tx, subscriptionId, group);
      const account = await tx.findBatchAccount(subscriptionId, group, name);
      if (!account) return 'absent';
      await requirePermission(tx, caller, 'Microsoft.Batch/batchAccounts/delete', accountScope(account));
      return startAccountDeletion(tx, account, isoNow(this.ctx));
    });
  }

  /** Whether the account's deletion is still running (the poll of an ARM delete). */
  deletionRunning(caller: Caller, subscriptionId: string, group: string, name: string): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      const account = await tx.findBatchAccount(subscriptionId, group, name);
      if (account?.provisioningState !== 'Deleting') return false;
      await requirePermission(tx, caller, 'Microsoft.Batch/batchAccounts/read', accountScope(account));
      return true;
    });
  }

  listKeys(caller: Caller, subscriptionId: string, group: string, name: string): Promise<BatchAccountRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const account = await this.require(tx, subscriptionId, group, name);
      await requirePermission(
        tx,
        caller,
        'Microsoft.Batch/batchAccounts/listKeys/action',
        accountScope(account),
      );
      this.requireSharedKeyAllowed(account);
      return account;
    });
  }

  async regenerateKey(caller: Caller, subscriptionId: string, group: string, name: string, keyName: unknown) {
    const which = enumValue(keyName, ['Primary', 'Secondary'], 'keyName', 'Primary');
    if (keyName === undefined || keyName === null) {
      throw invalidInput('MissingRequiredProperty', "The property 'keyName' is required.", 'keyName');
    }
    return this.ctx.store.transaction(async (tx) => {
      const account = await this.require(tx, subscriptionId, group, name);
      await requirePermission(
        tx,
        caller,
        'Microsoft.Batch/batchAccounts/regenerateKeys/action',
        accountScope(account),
      );
      this.requireSharedKeyAllowed(account);
      const updated = {
        ...account,
        primaryKey: which === 'Primary' ? this.newKey() : account.primaryKey,
        secondaryKey: which === 'Secondary' ? this.newKey() : account.secondaryKey,
        updatedAt: isoNow(this.ctx),
      };
      await tx.putBatchAccount(updated);
      return updated;
    });
  }

  private requireSharedKeyAllowed(account: BatchAccountRecord): void {
    if (!sharedKeyAllowed(account)) {
      throw conflict(
        'OperationNotAllowed',
        account.poolAllocationMode === 'UserSubscription'
          ? `Shared key access is not available for Batch account '${account.name}': in UserSubscription pool allocation mode clients must use Microsoft Entra ID.`
          : `Shared key access is disabled for Batch account '${account.name}': 'SharedKey' is not in allowedAuthenticationModes.`,
      );
    }
  }

  private async require(tx: StoreTx, subscriptionId: string, group: string, name: string) {
    await requireResourceGroup(tx, subscriptionId, group);
    const account = await tx.findBatchAccount(subscriptionId, group, name);
    if (!account) throw accountNotFound(name, group);
    return account;
  }

  /**
   * The account, once the caller may perform the management action on `child` under it (e.g. `pools/p1`):
   * ARM's pool operations (`Microsoft.Batch/batchAccounts/pools/read|write|delete`).
   */
  forChild(
    caller: Caller,
    ids: { subscriptionId: string; group: string; name: string },
    action: string,
    child: string,
  ): Promise<BatchAccountRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const account = await this.require(tx, ids.subscriptionId, ids.group, ids.name);
      await requirePermission(tx, caller, action, `${accountScope(account)}/${child}`);
      return account;
    });
  }

  /** Whether an Entra ID caller's roles on the account allow a data-plane action (actions or dataActions). */
  dataPlaneAllowed(caller: Caller, account: BatchAccountRecord, action: string): Promise<boolean> {
    return this.ctx.store.transaction((tx) => isPermitted(tx, caller, action, accountScope(account), true));
  }

  /** The data plane routes by account name alone. */
  findByName(name: string): Promise<BatchAccountRecord | undefined> {
    return this.ctx.store.transaction((tx) => tx.findBatchAccountByName(name));
  }
}
