import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import type { Caller } from '../authorization/access.ts';
import { RoleAssignmentService } from '../authorization/assignments.ts';
import { READER_ROLE_ID } from '../authorization/roles.ts';
import type { DomainContext } from '../context.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../environment/well-known.ts';
import { DomainError } from '../errors.ts';
import { PrincipalService } from '../identity/principals.ts';
import { VaultService } from '../keyvault/vaults.ts';
import { StorageAccountService, storageAccountForBlob } from './storage-accounts.ts';

const SUB = WELL_KNOWN.subscriptionId;
const RG = WELL_KNOWN.resourceGroup;
const owner: Caller = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const BACKINGS = {
  acct1: { blobEndpoint: 'http://127.0.0.1:10000/acct1', key: Buffer.from('k1').toString('base64') },
  acct2: { blobEndpoint: 'https://acct2.blob.example.net/', key: Buffer.from('k2').toString('base64') },
};
const backings = (name: string) => BACKINGS[name.toLowerCase() as keyof typeof BACKINGS];
const at = (name: string, resourceGroup: string = RG) => ({ subscriptionId: SUB, resourceGroup, name });
const create = { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' };

async function world() {
  const ctx: DomainContext = {
    store: await openSqliteStore(':memory:'),
    clock: new ManualClock(),
    ids: sequentialIds(),
  };
  await seedWellKnownEnvironment(ctx);
  const { principal } = await new PrincipalService(ctx).create({
    tenantId: WELL_KNOWN.tenantId,
    displayName: 'reader',
  });
  const reader: Caller = {
    objectId: principal.objectId,
    tenantId: principal.tenantId,
    appId: principal.appId,
  };
  await new RoleAssignmentService(ctx).create(
    owner,
    `/subscriptions/${SUB}`,
    '00000000-0000-4000-8000-00000000cccc',
    {
      roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
      principalId: reader.objectId,
      principalType: 'ServicePrincipal',
    },
  );
  return { ctx, reader, accounts: new StorageAccountService(ctx, backings), vaults: new VaultService(ctx) };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof DomainError, String(e));
    return e.code;
  }
}

describe('storage accounts and vaults (domain)', () => {
  test('create records a poll operation once; names are checked, global, and must be backed', async () => {
    const { accounts } = await world();
    const first = await accounts.createOrUpdate(owner, at('acct1'), create);
    assert.equal(first.created, true);
    assert.ok(first.operationId !== undefined);
    const again = await accounts.createOrUpdate(owner, at('acct1'), { ...create, tags: { a: 'b' } });
    assert.deepEqual([again.created, again.operationId, again.account.tags], [false, undefined, { a: 'b' }]);
    assert.equal((await accounts.operationResult(owner, SUB, first.operationId)).name, 'acct1');
    assert.equal(await code(accounts.createOrUpdate(owner, at('Acct_1'), create)), 'AccountNameInvalid');
    assert.equal(
      await code(accounts.createOrUpdate(owner, at('nobacking'), create)),
      'StorageAccountNotConfigured',
    );
    assert.equal(
      await code(accounts.createOrUpdate(owner, at('acct2'), { ...create, sku: {} })),
      'MissingRequiredProperty',
    );
    assert.equal(
      await code(
        accounts.createOrUpdate(owner, at('acct2'), { ...create, properties: { isSftpEnabled: true } }),
      ),
      'UnsupportedProperty',
    );
    assert.deepEqual(await accounts.checkName(owner, SUB, 'acct1'), {
      nameAvailable: false,
      reason: 'AlreadyExists',
      message: 'The storage account named acct1 is already taken.',
    });
    assert.deepEqual(await accounts.checkName(owner, SUB, 'acct2'), { nameAvailable: true });
  });

  test('RBAC: a Reader lists and reads, but cannot create, delete or list keys', async () => {
    const { accounts, reader } = await world();
    await accounts.createOrUpdate(owner, at('acct1'), create);
    assert.deepEqual(
      (await accounts.list(reader, SUB)).map((a) => a.name),
      ['acct1'],
    );
    assert.equal((await accounts.get(reader, at('acct1'))).name, 'acct1');
    assert.equal(await code(accounts.listKeys(reader, at('acct1'))), 'AuthorizationFailed');
    assert.equal(await code(accounts.createOrUpdate(reader, at('acct2'), create)), 'AuthorizationFailed');
    assert.equal(await code(accounts.delete(reader, at('acct1'))), 'AuthorizationFailed');
    const { keys } = await accounts.listKeys(owner, at('acct1'));
    assert.deepEqual(
      keys.map((k) => [k.keyName, k.value]),
      [['key1', BACKINGS.acct1.key]],
    );
    assert.equal(await accounts.delete(owner, at('acct1')), true);
    assert.equal(await code(accounts.get(owner, at('acct1'))), 'ResourceNotFound');
  });

  test('a blob URL belongs to the subscription account whose endpoint it is under', async () => {
    const { ctx, accounts } = await world();
    await accounts.createOrUpdate(owner, at('acct1'), create);
    const find = (url: string) =>
      ctx.store.transaction((tx) => storageAccountForBlob(tx, SUB, url, backings));
    assert.equal(await find('http://127.0.0.1:10000/acct1/system/a.vhd'), 'acct1');
    assert.equal(
      await find('http://127.0.0.1:10000/acct10/system/a.vhd'),
      undefined,
      'a path prefix is no match',
    );
    assert.equal(
      await find('https://acct2.blob.example.net/system/a.vhd'),
      undefined,
      'acct2 is no resource here',
    );
    assert.equal(await find('not a url'), undefined);
  });

  test('vault access policies: add merges permissions, remove takes them away and drops empty policies', async () => {
    const { vaults } = await world();
    const t = WELL_KNOWN.tenantId;
    const p = (objectId: string, secrets: string[]) => ({ tenantId: t, objectId, permissions: { secrets } });
    const a = '00000000-0000-4000-8000-0000000000a1';
    const b = '00000000-0000-4000-8000-0000000000b2';
    await vaults.createOrUpdate(owner, at('kv-1'), {
      location: 'westeurope',
      properties: { tenantId: t, sku: { family: 'A', name: 'standard' }, accessPolicies: [p(a, ['get'])] },
    });
    await vaults.updateAccessPolicies(owner, at('kv-1'), 'add', {
      properties: { accessPolicies: [p(a, ['list']), p(b, ['get'])] },
    });
    const { policies } = await vaults.updateAccessPolicies(owner, at('kv-1'), 'remove', {
      properties: { accessPolicies: [p(b, ['get'])] },
    });
    assert.deepEqual(policies, [p(a, ['get', 'list'])]);
    assert.equal(
      await code(vaults.createOrUpdate(owner, at('kv--bad'), { location: 'westeurope' })),
      'VaultNameNotValid',
    );
    assert.equal(
      await code(
        vaults.createOrUpdate(owner, at('kv-1', 'other'), {
          location: 'westeurope',
          properties: { tenantId: t, sku: { family: 'A', name: 'standard' } },
        }),
      ),
      'ResourceGroupNotFound',
    );
  });
});
