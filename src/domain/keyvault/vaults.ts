import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';
import { requirePermission, type Caller } from '../authorization/access.ts';
import { GUID_PATTERN, isoNow, type DomainContext } from '../context.ts';
import { conflict, DomainError, invalidInput, notFound } from '../errors.ts';
import { requireKnownLocation } from '../locations.ts';
import { requireRegistered, requireResourceGroup, rgScope, validateTags } from '../resources/resources.ts';

export const VAULT_TYPE = 'Microsoft.KeyVault/vaults';

/**
 * Object id of the "Microsoft Azure Batch" service principal in this server's tenants (app id
 * ddbf3205-c6bd-46ae-8127-60eb93363864 in Azure): the principal a UserSubscription Batch account's vault must grant
 * secret permissions to. Azure's object id differs per tenant; this one is Lazurite's, fixed for every tenant.
 */
export const BATCH_SERVICE_OBJECT_ID = 'f520d84c-3fd3-4cc8-88d4-2ed25b00d27a';
export const BATCH_SERVICE_APP_ID = 'ddbf3205-c6bd-46ae-8127-60eb93363864';

export interface VaultAddress {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

export interface AccessPolicy {
  tenantId: string;
  objectId: string;
  applicationId?: string;
  permissions: Record<string, string[]>;
}

const NAME = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const SKU_NAMES = ['standard', 'premium'] as const;
const PERMISSION_KINDS = ['keys', 'secrets', 'certificates', 'storage'] as const;
/** Vault switches kept and echoed; they gate what other services may do with the vault's secrets. */
const KEPT = [
  'enabledForDeployment',
  'enabledForDiskEncryption',
  'enabledForTemplateDeployment',
  'enableSoftDelete',
  'softDeleteRetentionInDays',
  'enableRbacAuthorization',
  'enablePurgeProtection',
  'publicNetworkAccess',
] as const;
/** Server-owned or input-only properties a client may send back (az sends vaultUri and provisioningState). */
const IGNORED_ECHOES = ['vaultUri', 'provisioningState', 'hsmPoolResourceId', 'createMode'] as const;

export const vaultId = (a: VaultAddress): string =>
  `${rgScope(a.subscriptionId, a.resourceGroup)}/providers/${VAULT_TYPE}/${a.name}`;

const vaultNotFound = (a: VaultAddress) =>
  notFound(
    'ResourceNotFound',
    `The Resource '${VAULT_TYPE}/${a.name}' under resource group '${a.resourceGroup}' was not found.`,
  );

function guid(value: unknown, field: string): string {
  if (typeof value !== 'string' || !GUID_PATTERN.test(value))
    throw invalidInput('BadRequest', `'${field}' must be a GUID.`, field);
  return value.toLowerCase();
}

/** Checks one access policy entry (tenant and object ids, permission lists of strings). */
function accessPolicy(value: unknown, at: string): AccessPolicy {
  const p = (value ?? {}) as Record<string, unknown>;
  const permsIn = (p.permissions ?? {}) as Record<string, unknown>;
  const permissions: Record<string, string[]> = {};
  for (const [kind, list] of Object.entries(permsIn)) {
    if (!(PERMISSION_KINDS as readonly string[]).includes(kind))
      throw invalidInput(
        'BadRequest',
        `'${at}.permissions.${kind}' is not a permission kind.`,
        `${at}.permissions`,
      );
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string'))
      throw invalidInput(
        'BadRequest',
        `'${at}.permissions.${kind}' must be a list of strings.`,
        `${at}.permissions`,
      );
    permissions[kind] = list as string[];
  }
  return {
    tenantId: guid(p.tenantId, `${at}.tenantId`),
    objectId: guid(p.objectId, `${at}.objectId`),
    ...(p.applicationId === undefined || p.applicationId === null
      ? {}
      : { applicationId: guid(p.applicationId, `${at}.applicationId`) }),
    permissions,
  };
}

export function accessPolicies(value: unknown, at: string): AccessPolicy[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidInput('BadRequest', `'${at}' must be a list.`, at);
  if (value.length > 1024)
    throw invalidInput('BadRequest', `A vault holds at most 1024 access policies ('${at}').`, at);
  return value.map((p, i) => accessPolicy(p, `${at}[${String(i)}]`));
}

/** Validates a vault PUT body's properties into what is stored (tenantId and sku are required, as in Azure). */
function vaultProperties(props: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) {
    if (['tenantId', 'sku', 'accessPolicies', 'networkAcls', ...IGNORED_ECHOES].includes(k)) continue;
    if (!(KEPT as readonly string[]).includes(k))
      throw invalidInput(
        'UnsupportedProperty',
        `The property 'properties.${k}' of a key vault is not supported by Lazurite.`,
        `properties.${k}`,
      );
    out[k] = v;
  }
  const acls = (props.networkAcls ?? {}) as {
    defaultAction?: unknown;
    ipRules?: unknown[];
    virtualNetworkRules?: unknown[];
  };
  if (
    acls.defaultAction === 'Deny' ||
    (acls.ipRules ?? []).length > 0 ||
    (acls.virtualNetworkRules ?? []).length > 0
  )
    throw invalidInput(
      'UnsupportedProperty',
      "Network rules that restrict a vault ('properties.networkAcls') are not supported by Lazurite.",
      'properties.networkAcls',
    );
  if (props.networkAcls !== undefined && props.networkAcls !== null) out.networkAcls = props.networkAcls;
  const sku = (props.sku ?? {}) as { family?: unknown; name?: unknown };
  const skuName = SKU_NAMES.find((s) => typeof sku.name === 'string' && s === sku.name.toLowerCase());
  if (skuName === undefined || (sku.family ?? 'A') !== 'A')
    throw invalidInput(
      'BadRequest',
      "'properties.sku' must be { family: 'A', name: 'standard' | 'premium' }.",
      'properties.sku',
    );
  return {
    tenantId: guid(props.tenantId, 'properties.tenantId'),
    sku: { family: 'A', name: skuName },
    accessPolicies: accessPolicies(props.accessPolicies, 'properties.accessPolicies'),
    ...out,
  };
}

async function vaultsNamed(tx: StoreTx, name: string): Promise<ComputeResourceRecord[]> {
  const out: ComputeResourceRecord[] = [];
  for (const sub of await tx.listSubscriptions()) {
    const all = await tx.listComputeResources(sub.id, VAULT_TYPE);
    out.push(...all.filter((r) => r.name.toLowerCase() === name.toLowerCase()));
  }
  return out;
}

/**
 * Microsoft.KeyVault/vaults as ARM resources (issue 17): properties and access policies are kept and returned;
 * there is no secret store behind them (the data plane is refused). Batch accounts in UserSubscription mode name
 * one (`keyVaultReference`), checked by `requireBatchVault`.
 */
export class VaultService {
  private readonly ctx: DomainContext;
  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  async createOrUpdate(caller: Caller, a: VaultAddress, body: Record<string, unknown>) {
    if (!NAME.test(a.name))
      throw invalidInput(
        'VaultNameNotValid',
        `The vault name '${a.name}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.`,
        'name',
      );
    const props = vaultProperties((body.properties ?? {}) as Record<string, unknown>);
    return this.ctx.store.transaction(async (tx) => {
      const rg = await requireResourceGroup(tx, a.subscriptionId, a.resourceGroup);
      const id = vaultId({ ...a, resourceGroup: rg.name });
      await requirePermission(tx, caller, `${VAULT_TYPE}/write`, id);
      await requireRegistered(tx, a.subscriptionId, 'Microsoft.KeyVault');
      const location = requireKnownLocation(body.location);
      const existing = await tx.findComputeResource(id);
      if (!existing && (await vaultsNamed(tx, a.name)).length > 0)
        throw conflict(
          'VaultAlreadyExists',
          `The vault name '${a.name}' is already in use. Vault names are globally unique so it is possible that the name is already taken.`,
        );
      if (existing && existing.location !== location)
        throw invalidInput('BadRequest', `The location of vault '${a.name}' cannot be changed.`, 'location');
      const now = isoNow(this.ctx);
      const record: ComputeResourceRecord = {
        id: existing?.id ?? id,
        subscriptionId: a.subscriptionId.toLowerCase(),
        resourceGroup: rg.name,
        type: VAULT_TYPE,
        name: existing?.name ?? a.name,
        parentId: null,
        location,
        tags: validateTags(body.tags),
        properties: { ...props, provisioningState: 'Succeeded' },
        sku: null,
        content: null,
        lineage: {},
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putComputeResource(record);
      return { vault: record, created: !existing };
    });
  }

  /** PATCH: tags and the listed properties; access policies replaced when given. */
  update(caller: Caller, a: VaultAddress, body: Record<string, unknown>) {
    return this.ctx.store.transaction(async (tx) => {
      const r = await this.require(tx, caller, a, 'write');
      const patch = (body.properties ?? {}) as Record<string, unknown>;
      const merged = vaultProperties({ ...r.properties, ...patch });
      const updated: ComputeResourceRecord = {
        ...r,
        tags: body.tags === undefined ? r.tags : validateTags(body.tags),
        properties: { ...merged, provisioningState: 'Succeeded' },
        updatedAt: isoNow(this.ctx),
      };
      await tx.putComputeResource(updated);
      return updated;
    });
  }

  /** PUT vaults/{name}/accessPolicies/{add|replace|remove}: the vault's policies after the change. */
  async updateAccessPolicies(caller: Caller, a: VaultAddress, kind: string, body: Record<string, unknown>) {
    const op = ['add', 'replace', 'remove'].find((k) => k === kind.toLowerCase());
    if (op === undefined)
      throw invalidInput('BadRequest', `'${kind}' is not one of add, replace, remove.`, 'operationKind');
    const given = accessPolicies(
      ((body.properties ?? {}) as Record<string, unknown>).accessPolicies,
      'properties.accessPolicies',
    );
    return this.ctx.store.transaction(async (tx) => {
      const r = await this.require(tx, caller, a, 'write');
      const current = (r.properties.accessPolicies ?? []) as AccessPolicy[];
      const policies = changePolicies(current, given, op);
      const updated = {
        ...r,
        properties: { ...r.properties, accessPolicies: policies },
        updatedAt: isoNow(this.ctx),
      };
      await tx.putComputeResource(updated);
      return { vault: updated, policies, op };
    });
  }

  get(caller: Caller, a: VaultAddress): Promise<ComputeResourceRecord> {
    return this.ctx.store.transaction((tx) => this.require(tx, caller, a, 'read'));
  }

  list(caller: Caller, subscriptionId: string, resourceGroup?: string): Promise<ComputeResourceRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      if (resourceGroup !== undefined) await requireResourceGroup(tx, subscriptionId, resourceGroup);
      const scope =
        resourceGroup === undefined
          ? `/subscriptions/${subscriptionId}`
          : rgScope(subscriptionId, resourceGroup);
      await requirePermission(tx, caller, `${VAULT_TYPE}/read`, scope);
      return tx.listComputeResources(
        subscriptionId,
        VAULT_TYPE,
        resourceGroup === undefined ? {} : { resourceGroup },
      );
    });
  }

  /** `checkNameAvailability`: free unless invalid or taken in any subscription. */
  async checkName(caller: Caller, subscriptionId: string, name: unknown) {
    if (typeof name !== 'string')
      throw invalidInput('BadRequest', "The property 'name' is required.", 'name');
    if (!NAME.test(name))
      return {
        nameAvailable: false,
        reason: 'AccountNameInvalid',
        message: `The vault name '${name}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.`,
      };
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${VAULT_TYPE}/read`, `/subscriptions/${subscriptionId}`);
      return (await vaultsNamed(tx, name)).length > 0
        ? {
            nameAvailable: false,
            reason: 'AlreadyExists',
            message: `The vault name '${name}' is already in use.`,
          }
        : { nameAvailable: true };
    });
  }

  /** Deletes at once: Lazurite keeps no soft-deleted vaults (no deletedVaults, nothing to recover or purge). */
  delete(caller: Caller, a: VaultAddress): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${VAULT_TYPE}/delete`, vaultId(a));
      return tx.deleteComputeResource(vaultId(a));
    });
  }

  private async require(tx: StoreTx, caller: Caller, a: VaultAddress, verb: 'read' | 'write') {
    await requirePermission(tx, caller, `${VAULT_TYPE}/${verb}`, vaultId(a));
    const r = await tx.findComputeResource(vaultId(a));
    if (!r) throw vaultNotFound(a);
    return r;
  }
}

function samePrincipal(x: AccessPolicy, y: AccessPolicy): boolean {
  return x.tenantId === y.tenantId && x.objectId === y.objectId && x.applicationId === y.applicationId;
}

/** Key Vault's access policy update: add merges permissions, remove takes them away, replace sets them. */
function changePolicies(current: AccessPolicy[], given: AccessPolicy[], op: string): AccessPolicy[] {
  if (op === 'replace') return given;
  const out = current.map((p) => ({ ...p, permissions: { ...p.permissions } }));
  for (const g of given) {
    const hit = out.find((p) => samePrincipal(p, g));
    if (op === 'add') {
      if (!hit) out.push(g);
      else
        for (const [kind, list] of Object.entries(g.permissions))
          hit.permissions[kind] = [...new Set([...(hit.permissions[kind] ?? []), ...list])];
    } else if (hit) {
      for (const [kind, list] of Object.entries(g.permissions)) {
        const drop = new Set(list.map((x) => x.toLowerCase()));
        hit.permissions[kind] = (hit.permissions[kind] ?? []).filter((x) => !drop.has(x.toLowerCase()));
      }
    }
  }
  return out.filter((p) => Object.values(p.permissions).some((l) => l.length > 0));
}

/** Secret permissions Batch needs on a UserSubscription account's vault (Batch docs: Get, List, Set, Delete). */
const BATCH_SECRET_PERMISSIONS = ['get', 'list', 'set', 'delete'];

function invalidKeyVaultReference(reason: string): DomainError {
  return new DomainError(
    'invalid-input',
    'InvalidKeyVaultReference',
    'The specified Key Vault reference is invalid.',
    {
      target: 'properties.keyVaultReference',
      details: [{ code: 'Reason', message: reason }],
    },
  );
}

function grantsBatch(p: AccessPolicy, tenantId: string, softDelete: boolean): boolean {
  const isBatch = p.objectId === BATCH_SERVICE_OBJECT_ID || p.applicationId === BATCH_SERVICE_APP_ID;
  const secrets = new Set((p.permissions.secrets ?? []).map((s) => s.toLowerCase()));
  const needed = softDelete ? [...BATCH_SECRET_PERMISSIONS, 'recover'] : BATCH_SECRET_PERMISSIONS;
  return isBatch && p.tenantId === tenantId && (secrets.has('all') || needed.every((s) => secrets.has(s)));
}

/**
 * The vault a UserSubscription Batch account names, checked as Batch does at account creation: an existing vault
 * of the account's subscription and region, at the URL given, whose access policies grant the Batch service its
 * secret permissions (InvalidKeyVaultReference, the reason in details). Vaults with RBAC authorization are
 * refused too: Lazurite checks only access policies.
 */
export async function requireBatchVault(
  tx: StoreTx,
  subscriptionId: string,
  location: string,
  reference: unknown,
): Promise<{ id: string; url: string }> {
  const ref = (reference ?? {}) as { id?: unknown; url?: unknown };
  const id = typeof ref.id === 'string' ? ref.id : '';
  const m =
    /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)$/i.exec(
      id,
    );
  if (!m)
    throw invalidInput(
      'LinkedInvalidPropertyId',
      `Property id '${id}' at path 'properties.keyVaultReference.id' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}' and name a Microsoft.KeyVault/vaults resource.`,
      'properties.keyVaultReference.id',
    );
  if (typeof ref.url !== 'string')
    throw invalidInput(
      'InvalidRequestBody',
      "'properties.keyVaultReference.url' is required.",
      'properties.keyVaultReference.url',
    );
  const vault = await tx.findComputeResource(id);
  if (!vault || vault.type.toLowerCase() !== VAULT_TYPE.toLowerCase())
    throw invalidKeyVaultReference(`The specified Key Vault ${id} does not exist.`);
  if (vault.subscriptionId !== subscriptionId.toLowerCase())
    throw invalidKeyVaultReference(
      `The specified Key Vault ${id} is not in the Batch account's subscription.`,
    );
  if (vault.location !== location)
    throw invalidKeyVaultReference(
      `The specified Key Vault ${id} is in '${vault.location}', not in the Batch account's region '${location}'.`,
    );
  // A string match, not `new URL`: a vault host under an IPv4 server address (`kv.vault.127.0.0.1`) is no valid URL.
  const named = /^https:\/\/([^./:]+)\.vault\./i.exec(ref.url)?.[1]?.toLowerCase();
  if (named !== vault.name.toLowerCase())
    throw invalidKeyVaultReference(`The Key Vault url '${ref.url}' is not the url of ${id}.`);
  const props = vault.properties;
  if (props.enableRbacAuthorization === true)
    throw invalidKeyVaultReference(
      `The specified Key Vault ${id} uses RBAC authorization; Lazurite checks the Batch Service's access through access policies.`,
    );
  const policies = (props.accessPolicies ?? []) as AccessPolicy[];
  const tenantId = String(props.tenantId);
  if (!policies.some((p) => grantsBatch(p, tenantId, props.enableSoftDelete === true)))
    throw invalidKeyVaultReference(
      `The specified Key Vault ${id} does not have the Batch Service in access policies.`,
    );
  return { id: vault.id, url: ref.url };
}
