import { DEFAULT_QUOTAS, type AccountQuotas } from '../../domain/accounts/quotas.ts';
import type { RoleDefinition } from '../../domain/authorization/roles.ts';
import { REGIONS } from '../../domain/locations.ts';
import type { ProviderView } from '../../domain/resources/resources.ts';
import type {
  BatchAccountRecord,
  ResourceGroupRecord,
  RoleAssignmentRecord,
  SubscriptionRecord,
  TenantRecord,
} from '../../domain/records.ts';

/** Records → ARM JSON. Wire shapes follow the swagger definitions named beside each function. */

/** resources.json ResourceGroup */
export function resourceGroupToWire(g: ResourceGroupRecord) {
  return {
    id: `/subscriptions/${g.subscriptionId}/resourceGroups/${g.name}`,
    name: g.name,
    type: 'Microsoft.Resources/resourceGroups',
    location: g.location,
    ...(g.managedBy === null ? {} : { managedBy: g.managedBy }),
    tags: g.tags,
    properties: { provisioningState: 'Succeeded' },
  };
}

/** subscriptions.json Subscription */
export function subscriptionToWire(s: SubscriptionRecord) {
  return {
    id: `/subscriptions/${s.id}`,
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId: s.id,
    tenantId: s.tenantId,
    displayName: s.displayName,
    state: s.state,
    subscriptionPolicies: {
      locationPlacementId: 'Public_2014-09-01',
      quotaId: 'PayAsYouGo_2014-09-01',
      spendingLimit: 'Off',
    },
  };
}

/** subscriptions.json TenantIdDescription */
export function tenantToWire(t: TenantRecord) {
  return {
    id: `/tenants/${t.id}`,
    tenantId: t.id,
    tenantCategory: 'Home',
    countryCode: 'NL',
    displayName: t.displayName,
    domains: [t.defaultDomain],
    defaultDomain: t.defaultDomain,
    tenantType: 'AAD',
  };
}

/** subscriptions.json Location */
export function locationsToWire(subscriptionId: string) {
  return Object.entries(REGIONS).map(([name, displayName]) => ({
    id: `/subscriptions/${subscriptionId}/locations/${name}`,
    type: 'Region',
    name,
    displayName,
    regionalDisplayName: displayName,
    metadata: { regionType: 'Physical', regionCategory: 'Recommended' },
  }));
}

/** resources.json Provider */
export function providerToWire(subscriptionId: string, p: ProviderView) {
  return {
    id: `/subscriptions/${subscriptionId}/providers/${p.info.namespace}`,
    namespace: p.info.namespace,
    registrationState: p.state,
    registrationPolicy: 'RegistrationRequired',
    resourceTypes: p.info.resourceTypes.map((t) => ({
      resourceType: t.resourceType,
      locations: Object.values(REGIONS),
      apiVersions: t.apiVersions,
      defaultApiVersion: t.apiVersions[0],
      capabilities: 'None',
    })),
  };
}

export function roleDefinitionId(scope: string, guid: string): string {
  const sub = /^\/subscriptions\/[^/]+/i.exec(scope)?.[0] ?? '';
  return `${sub}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
}

/** authorization RoleAssignment (2022-04-01) */
export function roleAssignmentToWire(a: RoleAssignmentRecord) {
  const base = a.scope === '/' ? '' : a.scope;
  return {
    id: `${base}/providers/Microsoft.Authorization/roleAssignments/${a.name}`,
    name: a.name,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: {
      scope: a.scope,
      roleDefinitionId: roleDefinitionId(a.scope, a.roleDefinitionName),
      principalId: a.principalId,
      principalType: a.principalType,
      description: a.description,
      condition: null,
      conditionVersion: null,
      createdOn: a.createdOn,
      updatedOn: a.updatedOn,
      createdBy: a.createdBy,
      updatedBy: a.createdBy,
      delegatedManagedIdentityResourceId: null,
    },
  };
}

/** authorization RoleDefinition (2022-04-01) */
export function roleDefinitionToWire(scope: string, r: RoleDefinition) {
  return {
    id: roleDefinitionId(scope, r.name),
    name: r.name,
    type: 'Microsoft.Authorization/roleDefinitions',
    properties: {
      roleName: r.roleName,
      type: r.type,
      description: r.description,
      assignableScopes: r.assignableScopes,
      permissions: r.permissions,
      createdOn: '2015-02-02T21:55:09.8806423Z',
      updatedOn: '2021-11-11T20:13:47.8628684Z',
      createdBy: null,
      updatedBy: null,
    },
  };
}

/**
 * AutoStorageProperties as Batch answers them: what the client set, plus the required `lastKeySync` (when the
 * storage keys were last synchronised; here, when the account last changed). The response check found it missing.
 */
function autoStorageOf(autoStorage: unknown, updatedAt: string): { autoStorage?: Record<string, unknown> } {
  if (autoStorage === null || typeof autoStorage !== 'object' || Array.isArray(autoStorage)) return {};
  return { autoStorage: { lastKeySync: updatedAt, ...(autoStorage as Record<string, unknown>) } };
}

/** BatchManagement BatchAccount (2023-11-01). `host` is host[:port] as clients reach this server. */
export function batchAccountToWire(
  a: BatchAccountRecord,
  host: string,
  quotas: AccountQuotas = DEFAULT_QUOTAS,
) {
  const id = `/subscriptions/${a.subscriptionId}/resourceGroups/${a.resourceGroup}/providers/Microsoft.Batch/batchAccounts/${a.name}`;
  const { identity, ...kept } = a.extra;
  return {
    id,
    name: a.name,
    type: 'Microsoft.Batch/batchAccounts',
    location: a.location,
    tags: a.tags,
    identity: identity ?? { type: 'None' },
    properties: {
      accountEndpoint: `${host}/batch/${a.name}`,
      nodeManagementEndpoint: `${host}/batch/${a.name}/nodemanagement`,
      provisioningState: a.provisioningState ?? 'Succeeded',
      poolAllocationMode: a.poolAllocationMode,
      publicNetworkAccess: a.publicNetworkAccess,
      networkProfile: {
        accountAccess: { defaultAction: 'Allow' },
        nodeManagementAccess: { defaultAction: 'Allow' },
      },
      encryption: { keySource: 'Microsoft.Batch' },
      ...kept,
      ...autoStorageOf(kept.autoStorage, a.updatedAt),
      dedicatedCoreQuotaPerVMFamilyEnforced: false,
      dedicatedCoreQuota: a.poolAllocationMode === 'BatchService' ? quotas.dedicatedCores : undefined,
      lowPriorityCoreQuota: a.poolAllocationMode === 'BatchService' ? quotas.lowPriorityCores : undefined,
      dedicatedCoreQuotaPerVMFamily: [],
      poolQuota: quotas.pools,
      activeJobAndJobScheduleQuota: quotas.activeJobsAndSchedules,
      allowedAuthenticationModes: a.allowedAuthenticationModes,
    },
  };
}

export function batchKeysToWire(a: BatchAccountRecord) {
  return { accountName: a.name, primary: a.primaryKey, secondary: a.secondaryKey };
}
