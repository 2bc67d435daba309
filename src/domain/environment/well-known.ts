import { OWNER_ROLE_ID } from '../authorization/roles.ts';
import type { DomainContext } from '../context.ts';
import { hashSecret } from '../../platform/secrets.ts';

/**
 * The well-known environment every fresh data dir starts with, like Azurite's devstoreaccount1. These values are
 * public: they are for local development and tests, never for anything reachable by others.
 */
export const WELL_KNOWN = {
  tenantId: '6c6f6361-6c00-4a7a-8000-000000000001',
  tenantDomain: 'lazurite.local',
  subscriptionId: '6c6f6361-6c00-4a7a-8000-0000000000a1',
  subscriptionName: 'Lazurite Local Subscription',
  clientId: '6c6f6361-6c00-4a7a-8000-0000000000c1',
  principalObjectId: '6c6f6361-6c00-4a7a-8000-0000000000b1',
  clientSecret: 'lazurite-well-known-client-secret',
  principalName: 'lazurite-admin',
  ownerAssignmentName: '6c6f6361-6c00-4a7a-8000-0000000000d1',
  resourceGroup: 'lazurite-rg',
  location: 'westeurope',
  batchAccountName: 'lazurite',
  batchAccountKey: 'bGF6dXJpdGUtd2VsbC1rbm93bi1wcmltYXJ5LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA==',
  batchAccountSecondaryKey:
    'bGF6dXJpdGUtd2VsbC1rbm93bi1zZWNvbmRhcnkta2V5LTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA==',
} as const;

/**
 * Seeds the well-known environment on first start (an empty store). Later starts only put back the tenant,
 * subscription and admin principal if they are missing, so a user's changes (a regenerated key, a deleted
 * group, a removed role assignment) survive restarts.
 */
export async function seedWellKnownEnvironment(ctx: DomainContext): Promise<void> {
  const w = WELL_KNOWN;
  const now = ctx.clock.now().toISOString();
  const principalMissing = await ctx.store.transaction(
    async (tx) => !(await tx.findPrincipalByAppId(w.clientId)),
  );
  // scrypt is slow on purpose: hashed before the transaction, and only when the principal must be put back.
  const secretHash = principalMissing ? await hashSecret(w.clientSecret) : undefined;
  await ctx.store.transaction(async (tx) => {
    const firstStart = !(await tx.findTenant(w.tenantId));
    if (firstStart) {
      await tx.putTenant({
        id: w.tenantId,
        displayName: 'Lazurite Local Tenant',
        defaultDomain: w.tenantDomain,
      });
    }
    if (!(await tx.findSubscription(w.subscriptionId))) {
      await tx.putSubscription({
        id: w.subscriptionId,
        tenantId: w.tenantId,
        displayName: w.subscriptionName,
        state: 'Enabled',
      });
    }
    if (secretHash !== undefined && !(await tx.findPrincipalByAppId(w.clientId))) {
      await tx.addPrincipal({
        objectId: w.principalObjectId,
        appId: w.clientId,
        tenantId: w.tenantId,
        displayName: w.principalName,
        secretSalt: w.clientId,
        secretHash,
        createdAt: now,
      });
    }
    if (!firstStart) return;
    await tx.putRoleAssignment({
      name: w.ownerAssignmentName,
      scope: `/subscriptions/${w.subscriptionId}`,
      roleDefinitionName: OWNER_ROLE_ID,
      principalId: w.principalObjectId,
      principalType: 'ServicePrincipal',
      description: 'Well-known Lazurite administrator',
      createdOn: now,
      updatedOn: now,
      createdBy: null,
    });
    for (const namespace of [
      'Microsoft.Batch',
      'Microsoft.Compute',
      'Microsoft.Storage',
      'Microsoft.KeyVault',
    ]) {
      await tx.setProviderState({ subscriptionId: w.subscriptionId, namespace, state: 'Registered' });
    }
    await tx.putResourceGroup({
      subscriptionId: w.subscriptionId,
      name: w.resourceGroup,
      location: w.location,
      tags: {},
      managedBy: null,
      createdAt: now,
    });
    await tx.putBatchAccount({
      subscriptionId: w.subscriptionId,
      resourceGroup: w.resourceGroup,
      name: w.batchAccountName,
      location: w.location,
      tags: {},
      poolAllocationMode: 'BatchService',
      publicNetworkAccess: 'Enabled',
      allowedAuthenticationModes: ['SharedKey', 'AAD', 'TaskAuthenticationToken'],
      extra: {},
      primaryKey: w.batchAccountKey,
      secondaryKey: w.batchAccountSecondaryKey,
      createdAt: now,
      updatedAt: now,
    });
  });
}
