import { startAccountDeletion } from '../accounts/account-deletion.ts';
import type { StoreTx } from '../../storage/port.ts';
import type {
  ProviderRegistrationState,
  ResourceGroupRecord,
  SubscriptionRecord,
  Tags,
} from '../../storage/records.ts';
import { hasAnyAssignmentAround, requirePermission, type Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { DomainError, conflict, invalidInput, notFound } from '../errors.ts';
import { requireKnownLocation } from '../locations.ts';
import { PROVIDERS, findProvider, type ProviderInfo } from './providers.ts';

const RG_NAME = /^[-\w.()]{1,90}$/u;

export function subscriptionNotFound(id: string): DomainError {
  return notFound('SubscriptionNotFound', `The subscription '${id}' could not be found.`);
}

export function resourceGroupNotFound(name: string): DomainError {
  return notFound('ResourceGroupNotFound', `Resource group '${name}' could not be found.`);
}

export async function requireSubscription(tx: StoreTx, id: string): Promise<SubscriptionRecord> {
  const sub = await tx.findSubscription(id);
  if (!sub) throw subscriptionNotFound(id);
  return sub;
}

export async function requireResourceGroup(tx: StoreTx, subscriptionId: string, name: string) {
  await requireSubscription(tx, subscriptionId);
  const group = await tx.findResourceGroup(subscriptionId, name);
  if (!group) throw resourceGroupNotFound(name);
  return group;
}

export function validateTags(tags: unknown, field = 'tags'): Tags {
  if (tags === undefined || tags === null) return {};
  if (typeof tags !== 'object' || Array.isArray(tags)) {
    throw invalidInput(
      'InvalidRequestContent',
      `The value of '${field}' must be an object of strings.`,
      field,
    );
  }
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS)
    throw invalidInput(
      'InvalidTag',
      `A resource can have at most ${String(MAX_TAGS)} tags; ${String(entries.length)} were given.`,
      field,
    );
  const out: Tags = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string') {
      throw invalidInput('InvalidTagValue', `The tag '${k}' must have a string value.`, `${field}.${k}`);
    }
    if (k === '' || k.length > MAX_TAG_NAME || /[<>%&\\?/]|\p{Cc}/u.test(k))
      throw invalidInput(
        'InvalidTagNameCharacters',
        `The tag name '${k.slice(0, 40)}${k.length > 40 ? '…' : ''}' is empty, longer than ${String(MAX_TAG_NAME)} characters, or has reserved characters '<,>,%,&,\\,?,/' or control characters.`,
        field,
      );
    if (v.length > MAX_TAG_VALUE)
      throw invalidInput(
        'InvalidTagValue',
        `The value of tag '${k}' is longer than ${String(MAX_TAG_VALUE)} characters.`,
        `${field}.${k}`,
      );
    out[k] = v;
  }
  return out;
}

/** ARM's tag limits: 50 tags per resource, names up to 512 characters, values up to 256. */
const MAX_TAGS = 50;
const MAX_TAG_NAME = 512;
const MAX_TAG_VALUE = 256;

export interface ProviderView {
  info: ProviderInfo;
  state: ProviderRegistrationState;
}

/** Subscriptions, resource groups and resource provider registration. */
export class ResourceService {
  private readonly ctx: DomainContext;
  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  /** Subscriptions in the caller's tenant where the caller holds any role. */
  listSubscriptions(caller: Caller): Promise<SubscriptionRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      const subs = await tx.listSubscriptions(caller.tenantId);
      const visible: SubscriptionRecord[] = [];
      for (const s of subs)
        if (await hasAnyAssignmentAround(tx, caller, `/subscriptions/${s.id}`)) visible.push(s);
      return visible;
    });
  }

  getSubscription(caller: Caller, id: string): Promise<SubscriptionRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const sub = await tx.findSubscription(id);
      if (!sub || !(await hasAnyAssignmentAround(tx, caller, `/subscriptions/${id}`)))
        throw subscriptionNotFound(id);
      return sub;
    });
  }

  async putResourceGroup(
    caller: Caller,
    subscriptionId: string,
    name: string,
    input: { location?: unknown; tags?: unknown; managedBy?: unknown },
  ): Promise<{ group: ResourceGroupRecord; created: boolean }> {
    if (!RG_NAME.test(name) || name.endsWith('.')) {
      throw invalidInput(
        'InvalidResourceGroupName',
        `The resource group name '${name}' is invalid. It must be 1-90 characters of letters, digits, underscores, periods, hyphens or parentheses and must not end in a period.`,
        'resourceGroupName',
      );
    }
    const location = requireKnownLocation(input.location);
    const tags = validateTags(input.tags);
    return this.ctx.store.transaction(async (tx) => {
      await requireSubscription(tx, subscriptionId);
      await requirePermission(
        tx,
        caller,
        'Microsoft.Resources/subscriptions/resourceGroups/write',
        rgScope(subscriptionId, name),
      );
      const existing = await tx.findResourceGroup(subscriptionId, name);
      if (existing && existing.location !== location) {
        throw invalidInput(
          'InvalidResourceGroupLocation',
          `Invalid resource group location '${location}'. The Resource group already exists in location '${existing.location}'.`,
          'location',
        );
      }
      const group: ResourceGroupRecord = {
        subscriptionId: subscriptionId.toLowerCase(),
        name: existing?.name ?? name,
        location,
        tags,
        managedBy: typeof input.managedBy === 'string' ? input.managedBy : null,
        createdAt: existing?.createdAt ?? isoNow(this.ctx),
      };
      await tx.putResourceGroup(group);
      return { group, created: !existing };
    });
  }

  async patchResourceGroup(caller: Caller, subscriptionId: string, name: string, input: { tags?: unknown }) {
    const tags = input.tags === undefined ? undefined : validateTags(input.tags);
    return this.ctx.store.transaction(async (tx) => {
      const group = await requireResourceGroup(tx, subscriptionId, name);
      await requirePermission(
        tx,
        caller,
        'Microsoft.Resources/subscriptions/resourceGroups/write',
        rgScope(subscriptionId, name),
      );
      const updated = { ...group, tags: tags ?? group.tags };
      await tx.putResourceGroup(updated);
      return updated;
    });
  }

  getResourceGroup(caller: Caller, subscriptionId: string, name: string): Promise<ResourceGroupRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const group = await requireResourceGroup(tx, subscriptionId, name);
      await requirePermission(
        tx,
        caller,
        'Microsoft.Resources/subscriptions/resourceGroups/read',
        rgScope(subscriptionId, name),
      );
      return group;
    });
  }

  listResourceGroups(caller: Caller, subscriptionId: string): Promise<ResourceGroupRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      await requireSubscription(tx, subscriptionId);
      await requirePermission(
        tx,
        caller,
        'Microsoft.Resources/subscriptions/resourceGroups/read',
        `/subscriptions/${subscriptionId}`,
      );
      return tx.listResourceGroups(subscriptionId);
    });
  }

  /** Deletes the group and everything in it, atomically. */
  deleteResourceGroup(caller: Caller, subscriptionId: string, name: string): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      await requireSubscription(tx, subscriptionId);
      const group = await tx.findResourceGroup(subscriptionId, name);
      if (!group) throw resourceGroupNotFound(name);
      await requirePermission(
        tx,
        caller,
        'Microsoft.Resources/subscriptions/resourceGroups/delete',
        rgScope(subscriptionId, name),
      );
      // Its Batch accounts are deleted with everything under them; those with pools stay Deleting (they name
      // no group row) until the deletion reconciler removes them.
      const now = this.ctx.clock.now().toISOString();
      for (const account of await tx.listBatchAccounts(subscriptionId, group.name))
        await startAccountDeletion(tx, account, now);
      return tx.deleteResourceGroupWithContents(subscriptionId, name);
    });
  }

  listProviders(caller: Caller, subscriptionId: string): Promise<ProviderView[]> {
    return this.ctx.store.transaction(async (tx) => {
      await requireSubscription(tx, subscriptionId);
      await requirePermission(
        tx,
        caller,
        'Microsoft.Resources/subscriptions/providers/read',
        `/subscriptions/${subscriptionId}`,
      );
      const states = await tx.listProviderStates(subscriptionId);
      return PROVIDERS.map((info) => ({ info, state: providerState(info, states) }));
    });
  }

  async getProvider(caller: Caller, subscriptionId: string, namespace: string): Promise<ProviderView> {
    const info = requireProvider(namespace);
    const all = await this.listProviders(caller, subscriptionId);
    return all.find((p) => p.info === info) ?? { info, state: 'NotRegistered' };
  }

  /** Registration completes at once: there is nothing to provision behind a provider here. */
  async setRegistration(caller: Caller, subscriptionId: string, namespace: string, register: boolean) {
    const info = requireProvider(namespace);
    return this.ctx.store.transaction(async (tx) => {
      await requireSubscription(tx, subscriptionId);
      await requirePermission(
        tx,
        caller,
        `${info.namespace}/register/action`,
        `/subscriptions/${subscriptionId}`,
      );
      if (info.alwaysRegistered && !register) {
        throw conflict(
          'CannotUnregisterProvider',
          `The resource provider '${info.namespace}' cannot be unregistered.`,
        );
      }
      const state: ProviderRegistrationState = register ? 'Registered' : 'NotRegistered';
      await tx.setProviderState({ subscriptionId, namespace: info.namespace, state });
      return { info, state };
    });
  }
}

export const rgScope = (subscriptionId: string, group: string): string =>
  `/subscriptions/${subscriptionId}/resourceGroups/${group}`;

function requireProvider(namespace: string): ProviderInfo {
  const info = findProvider(namespace);
  if (!info) {
    throw notFound(
      'InvalidResourceNamespace',
      `The resource namespace '${namespace}' is invalid.`,
      'resourceProviderNamespace',
    );
  }
  return info;
}

function providerState(
  info: ProviderInfo,
  states: { namespace: string; state: ProviderRegistrationState }[],
): ProviderRegistrationState {
  if (info.alwaysRegistered) return 'Registered';
  return (
    states.find((s) => s.namespace.toLowerCase() === info.namespace.toLowerCase())?.state ?? 'NotRegistered'
  );
}

/** Whether `namespace` is registered for the subscription. */
export async function providerRegistered(
  tx: StoreTx,
  subscriptionId: string,
  namespace: string,
): Promise<boolean> {
  return (
    providerState(requireProvider(namespace), await tx.listProviderStates(subscriptionId)) === 'Registered'
  );
}

/** Throws `MissingSubscriptionRegistration` when `namespace` is not registered for the subscription. */
export async function requireRegistered(
  tx: StoreTx,
  subscriptionId: string,
  namespace: string,
): Promise<void> {
  const info = requireProvider(namespace);
  if (!(await providerRegistered(tx, subscriptionId, namespace))) {
    throw conflict(
      'MissingSubscriptionRegistration',
      `The subscription is not registered to use namespace '${info.namespace}'. See https://aka.ms/rps-not-found for how to register subscriptions.`,
      info.namespace,
    );
  }
}
