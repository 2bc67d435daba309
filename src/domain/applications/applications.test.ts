import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startAccountDeletion } from '../accounts/account-deletion.ts';
import { DomainError } from '../errors.ts';
import { world } from '../pools/pools.fixture.ts';
import { ApplicationService, type PackageBlob, type PackageStorage } from './applications.ts';

/** Blob storage in memory: the known storage account is `store1`; `uploaded` holds `container/blob` keys. */
function memoryStorage() {
  const uploaded = new Set<string>();
  const containers = new Set<string>();
  const known = (id: string) => id.endsWith('/store1');
  const key = (w: PackageBlob) => `${w.container}/${w.blob}`;
  const storage: PackageStorage = {
    blobUrl: (w, write, expiresOn) =>
      known(w.storageAccountId)
        ? `https://store1.example/${key(w)}?sp=${write ? 'rcw' : 'r'}&se=${expiresOn.toISOString()}`
        : undefined,
    ensureContainer: (id, container) => {
      if (known(id)) containers.add(container);
      return Promise.resolve(known(id));
    },
    blobExists: (w) => Promise.resolve(known(w.storageAccountId) ? uploaded.has(key(w)) : undefined),
    deleteBlob: (w) => {
      uploaded.delete(key(w));
      return Promise.resolve();
    },
  };
  return { storage, uploaded, containers };
}

const code = (c: string) => (e: unknown) => e instanceof DomainError && e.code === c;

async function setUp(
  autoStorage:
    string | null = '/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/store1',
) {
  const w = await world();
  const mem = memoryStorage();
  const account = {
    ...w.account,
    extra: autoStorage === null ? {} : { autoStorage: { storageAccountId: autoStorage } },
  };
  return { w, mem, account, apps: new ApplicationService(w.ctx, mem.storage) };
}

test('a package goes Pending with a write URL, and Active once its blob is there', async () => {
  const { w, mem, account, apps } = await setUp();
  const app = await apps.putApplication(account, 'blender', { displayName: 'Blender' }, false);
  assert.deepEqual([app.displayName, app.allowUpdates, app.defaultVersion], ['Blender', true, undefined]);
  const pending = await apps.putPackage(account, 'blender', '2.1');
  assert.equal(pending.state, 'Pending');
  assert.match(
    pending.storageUrl ?? '',
    /^https:\/\/store1\.example\/app-[a-z0-9]+\/blender\/2\.1\/.+\.zip\?sp=rcw/,
  );
  const fourHours = new Date(w.ctx.clock.now().getTime() + 4 * 3_600_000).toISOString();
  assert.equal(pending.storageUrlExpiry, fourHours);
  assert.equal(mem.containers.size, 1, 'the container is made for the upload');
  await assert.rejects(
    apps.activate(account, 'blender', '2.1', 'zip'),
    code('ApplicationPackageBlobNotFound'),
  );
  mem.uploaded.add(new URL(pending.storageUrl ?? '').pathname.slice(1));
  await assert.rejects(
    apps.activate(account, 'blender', '2.1', 'tar'),
    code('InvalidApplicationPackageFormat'),
  );
  const active = await apps.activate(account, 'blender', '2.1', 'zip');
  assert.deepEqual([active.state, active.format], ['Active', 'zip']);
  assert.ok(active.lastActivationTime);
  assert.deepEqual(await apps.summaries(account), [
    { id: 'blender', displayName: 'Blender', versions: ['2.1'] },
  ]);
});

test('the data plane lists only active versions; an application without one is ApplicationNotFound', async () => {
  const { account, apps } = await setUp();
  await apps.putApplication(account, 'tool', {}, false);
  await apps.putPackage(account, 'tool', '1');
  assert.deepEqual(await apps.summaries(account), []);
  await assert.rejects(apps.summary(account, 'tool'), code('ApplicationNotFound'));
  await assert.rejects(apps.summary(account, 'nothing'), code('ApplicationNotFound'));
});

test('defaultVersion must name an existing package; deleting that package clears it', async () => {
  const { account, apps } = await setUp();
  await apps.putApplication(account, 'tool', {}, false);
  await assert.rejects(
    apps.putApplication(account, 'tool', { defaultVersion: '9' }, true),
    code('InvalidDefaultVersion'),
  );
  await apps.putPackage(account, 'tool', '9');
  const patched = await apps.putApplication(account, 'tool', { defaultVersion: '9' }, true);
  assert.equal(patched.defaultVersion, '9');
  assert.equal(await apps.deletePackage(account, 'tool', '9'), true);
  assert.equal((await apps.getApplication(account, 'tool')).defaultVersion, undefined);
  assert.equal(await apps.deletePackage(account, 'tool', '9'), false);
});

test('without auto-storage (or with one the server cannot reach) a package is AutoStorageNotConfigured', async () => {
  const none = await setUp(null);
  await none.apps.putApplication(none.account, 'tool', {}, false);
  await assert.rejects(none.apps.putPackage(none.account, 'tool', '1'), code('AutoStorageNotConfigured'));
  const unknown = await setUp(
    '/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/other',
  );
  await unknown.apps.putApplication(unknown.account, 'tool', {}, false);
  await assert.rejects(
    unknown.apps.putPackage(unknown.account, 'tool', '1'),
    code('AutoStorageNotConfigured'),
  );
});

test('names, missing parents, updates of active packages and PATCH of a missing application are refused', async () => {
  const { mem, account, apps } = await setUp();
  await assert.rejects(apps.putApplication(account, 'bad name', {}, false), code('InvalidResourceName'));
  await assert.rejects(apps.putApplication(account, 'ghost', {}, true), code('ApplicationNotFound'));
  await assert.rejects(apps.putPackage(account, 'ghost', '1'), code('ApplicationNotFound'));
  await apps.putApplication(account, 'fixed', { allowUpdates: false }, false);
  const p = await apps.putPackage(account, 'fixed', '1');
  await assert.rejects(apps.getPackage(account, 'fixed', '2'), code('ApplicationPackageNotFound'));
  mem.uploaded.add(new URL(p.storageUrl ?? '').pathname.slice(1));
  await apps.activate(account, 'fixed', '1', 'zip');
  await assert.rejects(apps.putPackage(account, 'fixed', '1'), code('ApplicationPackageUpdateNotAllowed'));
});

test('deleting an application removes its packages and their blobs; deleting the account removes its applications', async () => {
  const { w, mem, account, apps } = await setUp();
  await apps.putApplication(account, 'a', {}, false);
  const p = await apps.putPackage(account, 'a', '1');
  mem.uploaded.add(new URL(p.storageUrl ?? '').pathname.slice(1));
  assert.equal(await apps.deleteApplication(account, 'a'), true);
  assert.equal(mem.uploaded.size, 0);
  assert.deepEqual(await apps.listApplications(account), []);
  assert.equal(await apps.deleteApplication(account, 'a'), false);

  await apps.putApplication(account, 'b', {}, false);
  await apps.putPackage(account, 'b', '1');
  await w.ctx.store.transaction((tx) => startAccountDeletion(tx, account, '2025-01-01T00:00:00Z'));
  const left = await w.ctx.store.transaction((tx) =>
    tx.listComputeResources(account.subscriptionId, 'Microsoft.Batch/batchAccounts/applications/versions'),
  );
  assert.deepEqual(left, []);
  assert.deepEqual(await apps.listApplications(account), []);
});
