import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ManualClock } from '../platform/clock.ts';
import { sequentialIds } from '../platform/ids.ts';
import { openSqliteStore } from '../storage/sqlite/open.ts';
import { BatchAccountService } from './accounts/batch-accounts.ts';
import type { Caller } from './authorization/access.ts';
import { RoleAssignmentService } from './authorization/assignments.ts';
import { CONTRIBUTOR_ROLE_ID, READER_ROLE_ID } from './authorization/roles.ts';
import type { DomainContext } from './context.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from './environment/well-known.ts';
import { DomainError } from './errors.ts';
import { PrincipalService } from './identity/principals.ts';
import { ResourceService } from './resources/resources.ts';

const SUB = WELL_KNOWN.subscriptionId;
const owner: Caller = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const roleId = (guid: string) =>
  `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

async function world() {
  const ctx: DomainContext = {
    store: await openSqliteStore(':memory:'),
    clock: new ManualClock(),
    ids: sequentialIds(),
  };
  await seedWellKnownEnvironment(ctx);
  const principals = new PrincipalService(ctx);
  const roles = new RoleAssignmentService(ctx);
  const newCaller = async (name: string): Promise<Caller> => {
    const { principal } = await principals.create({ tenantId: WELL_KNOWN.tenantId, displayName: name });
    return { objectId: principal.objectId, tenantId: principal.tenantId, appId: principal.appId };
  };
  return {
    ctx,
    principals,
    roles,
    resources: new ResourceService(ctx),
    accounts: new BatchAccountService(ctx),
    newCaller,
  };
}

async function failsWith(p: Promise<unknown>, code: string): Promise<DomainError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DomainError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('domain rules', () => {
  test('client secrets stored as one round of sha256 are wrapped in scrypt at start-up and still authenticate', async () => {
    const { principals, ctx } = await world();
    const legacy = createHash('sha256').update(`salt-1:old-secret`).digest('base64');
    await ctx.store.transaction((tx) =>
      tx.addPrincipal({
        objectId: '0f0f0f0f-0000-4000-8000-000000000001',
        appId: '0f0f0f0f-0000-4000-8000-0000000000a1',
        tenantId: WELL_KNOWN.tenantId,
        displayName: 'old',
        secretSalt: 'salt-1',
        secretHash: legacy,
        createdAt: 'then',
      }),
    );
    assert.equal(await principals.upgradeSecretHashes(), 1);
    assert.equal(await principals.upgradeSecretHashes(), 0, 'nothing left to wrap');
    const row = await ctx.store.transaction((tx) =>
      tx.findPrincipalByAppId('0f0f0f0f-0000-4000-8000-0000000000a1'),
    );
    assert.match(row?.secretHash ?? '', /^scrypt-sha256\$/);
    const ok = await principals.authenticateClient(WELL_KNOWN.tenantId, row?.appId ?? '', 'old-secret');
    assert.equal(ok.principal.displayName, 'old');
    await failsWith(
      principals.authenticateClient(WELL_KNOWN.tenantId, row?.appId ?? '', legacy),
      'invalid_client',
    );
  });

  test('client secrets: right secret authenticates, wrong one and unknown tenant/app fail with AADSTS codes', async () => {
    const { principals } = await world();
    const ok = await principals.authenticateClient(
      WELL_KNOWN.tenantId,
      WELL_KNOWN.clientId,
      WELL_KNOWN.clientSecret,
    );
    assert.equal(ok.principal.objectId, WELL_KNOWN.principalObjectId);
    const adfs = await principals.authenticateClient(undefined, WELL_KNOWN.clientId, WELL_KNOWN.clientSecret);
    assert.equal(adfs.tenant.id, WELL_KNOWN.tenantId, 'the ADFS authority resolves the home tenant');
    await failsWith(
      principals.authenticateClient(WELL_KNOWN.tenantId, WELL_KNOWN.clientId, 'wrong'),
      'invalid_client',
    );
    await failsWith(
      principals.authenticateClient('11111111-1111-1111-1111-111111111111', WELL_KNOWN.clientId, 'x'),
      'invalid_request',
    );
    await failsWith(
      principals.authenticateClient(WELL_KNOWN.tenantId, '11111111-1111-1111-1111-111111111111', 'x'),
      'unauthorized_client',
    );
  });

  test('RBAC: a Reader reads but cannot write; a Contributor writes but cannot assign roles', async () => {
    const { roles, resources, newCaller } = await world();
    const reader = await newCaller('reader');
    const contributor = await newCaller('contributor');
    const rgScope = `/subscriptions/${SUB}/resourceGroups/${WELL_KNOWN.resourceGroup}`;
    await roles.create(owner, rgScope, '00000000-0000-4000-8000-00000000aaaa', {
      roleDefinitionId: roleId(READER_ROLE_ID),
      principalId: reader.objectId,
      principalType: 'ServicePrincipal',
    });
    await roles.create(owner, `/subscriptions/${SUB}`, '00000000-0000-4000-8000-00000000bbbb', {
      roleDefinitionId: roleId(CONTRIBUTOR_ROLE_ID),
      principalId: contributor.objectId,
    });
    assert.equal(
      (await resources.getResourceGroup(reader, SUB, WELL_KNOWN.resourceGroup)).name,
      WELL_KNOWN.resourceGroup,
    );
    const denied = await failsWith(
      resources.putResourceGroup(reader, SUB, 'other', { location: 'westeurope' }),
      'AuthorizationFailed',
    );
    assert.match(denied.message, /Microsoft\.Resources\/subscriptions\/resourceGroups\/write/);
    assert.equal(
      (await resources.putResourceGroup(contributor, SUB, 'other', { location: 'westeurope' })).created,
      true,
    );
    await failsWith(
      roles.create(contributor, rgScope, '00000000-0000-4000-8000-00000000cccc', {
        roleDefinitionId: roleId(READER_ROLE_ID),
        principalId: reader.objectId,
      }),
      'AuthorizationFailed',
    );
    assert.deepEqual(
      (await resources.listSubscriptions(reader)).map((s) => s.id),
      [SUB],
      'a role below the subscription makes it visible',
    );
  });

  test('role assignments: identical PUT is idempotent, a duplicate under another name conflicts, bad input is named', async () => {
    const { roles, newCaller } = await world();
    const p = await newCaller('p');
    const scope = `/subscriptions/${SUB}`;
    const input = { roleDefinitionId: roleId(READER_ROLE_ID), principalId: p.objectId };
    assert.equal(
      (await roles.create(owner, scope, '00000000-0000-4000-8000-000000000a01', input)).created,
      true,
    );
    assert.equal(
      (await roles.create(owner, scope, '00000000-0000-4000-8000-000000000a01', input)).created,
      false,
    );
    await failsWith(
      roles.create(owner, scope, '00000000-0000-4000-8000-000000000a02', input),
      'RoleAssignmentExists',
    );
    await failsWith(roles.create(owner, scope, 'not-a-guid', input), 'InvalidRoleAssignmentId');
    await failsWith(
      roles.create(owner, scope, '00000000-0000-4000-8000-000000000a03', {
        ...input,
        principalId: '99999999-0000-4000-8000-000000000000',
      }),
      'PrincipalNotFound',
    );
    await failsWith(
      roles.create(owner, scope, '00000000-0000-4000-8000-000000000a04', {
        ...input,
        roleDefinitionId: roleId('99999999-0000-4000-8000-000000000000'),
      }),
      'RoleDefinitionDoesNotExist',
    );
    await failsWith(
      roles.create(owner, `${scope}/resourceGroups/missing`, '00000000-0000-4000-8000-000000000a05', input),
      'ResourceGroupNotFound',
    );
    assert.ok(await roles.delete(owner, scope, '00000000-0000-4000-8000-000000000a01'));
    assert.equal(await roles.delete(owner, scope, '00000000-0000-4000-8000-000000000a01'), undefined);
  });

  test('Batch accounts: names are validated, unique server-wide, need the provider registered; group delete cascades', async () => {
    const { accounts, resources } = await world();
    await failsWith(
      accounts.createOrUpdate(owner, SUB, WELL_KNOWN.resourceGroup, 'Bad_Name', { location: 'westeurope' }),
      'AccountNameInvalid',
    );
    await failsWith(
      accounts.createOrUpdate(owner, SUB, WELL_KNOWN.resourceGroup, 'acct1', { location: 'mars' }),
      'LocationNotAvailableForResourceType',
    );
    await failsWith(
      accounts.createOrUpdate(owner, SUB, WELL_KNOWN.resourceGroup, 'acct1', {
        location: 'westeurope',
        properties: { poolAllocationMode: 'UserSubscription' },
      }),
      'InvalidRequestBody',
    );
    await failsWith(
      accounts.createOrUpdate(owner, SUB, WELL_KNOWN.resourceGroup, 'acct9', {
        location: 'westeurope',
        properties: { autoStorage: { storageAccountId: 'not-an-id' } },
      }),
      'LinkedInvalidPropertyId',
    );
    await failsWith(
      accounts.createOrUpdate(owner, SUB, WELL_KNOWN.resourceGroup, 'acct9', {
        location: 'westeurope',
        properties: {
          autoStorage: {
            storageAccountId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/d1`,
          },
        },
      }),
      'LinkedInvalidPropertyId',
    );
    await resources.putResourceGroup(owner, SUB, 'rg2', { location: 'westeurope' });
    const { account } = await accounts.createOrUpdate(owner, SUB, 'rg2', 'acct1', {
      location: 'West Europe',
    });
    assert.equal(account.location, 'westeurope');
    await failsWith(
      accounts.createOrUpdate(owner, SUB, WELL_KNOWN.resourceGroup, 'acct1', { location: 'westeurope' }),
      'AccountNameNotAvailable',
    );
    const again = await accounts.createOrUpdate(owner, SUB, 'rg2', 'acct1', {
      location: 'westeurope',
      tags: { a: 'b' },
    });
    assert.equal(again.created, false);
    assert.equal(again.account.primaryKey, account.primaryKey, 'an update keeps the keys');
    await resources.setRegistration(owner, SUB, 'Microsoft.Batch', false);
    await failsWith(
      accounts.createOrUpdate(owner, SUB, 'rg2', 'acct2', { location: 'westeurope' }),
      'MissingSubscriptionRegistration',
    );
    await resources.deleteResourceGroup(owner, SUB, 'rg2');
    assert.equal(await accounts.findByName('acct1'), undefined);
  });

  test('keys: regenerate replaces only the named key; disabling SharedKey blocks listing keys', async () => {
    const { accounts } = await world();
    const before = await accounts.listKeys(owner, SUB, WELL_KNOWN.resourceGroup, WELL_KNOWN.batchAccountName);
    const after = await accounts.regenerateKey(
      owner,
      SUB,
      WELL_KNOWN.resourceGroup,
      WELL_KNOWN.batchAccountName,
      'primary',
    );
    assert.notEqual(after.primaryKey, before.primaryKey);
    assert.equal(after.secondaryKey, before.secondaryKey);
    await failsWith(
      accounts.regenerateKey(owner, SUB, WELL_KNOWN.resourceGroup, WELL_KNOWN.batchAccountName, 'Tertiary'),
      'InvalidParameter',
    );
    await accounts.update(owner, SUB, WELL_KNOWN.resourceGroup, WELL_KNOWN.batchAccountName, {
      properties: { allowedAuthenticationModes: ['AAD'] },
    });
    await failsWith(
      accounts.listKeys(owner, SUB, WELL_KNOWN.resourceGroup, WELL_KNOWN.batchAccountName),
      'OperationNotAllowed',
    );
  });

  test('restart seeding keeps user changes: a deleted group stays deleted', async () => {
    const { ctx, resources } = await world();
    await resources.deleteResourceGroup(owner, SUB, WELL_KNOWN.resourceGroup);
    await seedWellKnownEnvironment(ctx);
    await failsWith(
      resources.getResourceGroup(owner, SUB, WELL_KNOWN.resourceGroup),
      'ResourceGroupNotFound',
    );
  });
});
