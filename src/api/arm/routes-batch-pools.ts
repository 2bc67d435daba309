import { isDeepStrictEqual } from 'node:util';
import type { Caller } from '../../domain/authorization/access.ts';
import { DomainError } from '../../domain/errors.ts';
import type { PoolView } from '../../domain/pools/pools.ts';
import type { BatchAccountRecord } from '../../domain/records.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmRoute } from './router.ts';
import { ARM_SPECS, objectOrEmpty, validateArmBody } from './validation.ts';
import { packageReferencesIn, poolAddFromArm, poolToArm, scaleIn } from './wire-batch-pools.ts';

const ACCOUNT =
  '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Batch/batchAccounts/{accountName}';
const POOLS = `${ACCOUNT}/pools`;
const POOL = `${POOLS}/{poolName}`;

type Json = Record<string, unknown>;
type Verb = 'read' | 'write' | 'delete';

/** Management properties a pool update may change (BatchManagement.json Pool_Update); others are fixed. */
const UPDATABLE = new Set([
  'scaleSettings',
  'startTask',
  'metadata',
  'certificates',
  'applicationPackages',
  'targetNodeCommunicationMode',
]);

const idsOf = (p: Record<string, string>) => ({
  subscriptionId: p.subscriptionId ?? '',
  group: p.resourceGroupName ?? '',
  name: p.accountName ?? '',
});

/** The account of the request, once the caller holds `Microsoft.Batch/batchAccounts/pools/<verb>` on the pool. */
function accountFor(deps: ArmDeps, caller: Caller, params: Record<string, string>, verb: Verb) {
  const child = params.poolName === undefined ? 'pools' : `pools/${params.poolName}`;
  return deps.batchAccounts.forChild(
    caller,
    idsOf(params),
    `Microsoft.Batch/batchAccounts/pools/${verb}`,
    child,
  );
}

async function findPool(
  deps: ArmDeps,
  account: BatchAccountRecord,
  id: string,
): Promise<PoolView | undefined> {
  try {
    return await deps.pools.get(account, id);
  } catch (err) {
    if (err instanceof DomainError && err.category === 'not-found') return undefined;
    throw err;
  }
}

/** Refuses a change of a property the management plane cannot update (vmSize, deploymentConfiguration, …). */
/** User accounts as a pool keeps them: passwords are write-only (ADR 0026), so a PUT repeating them is no change. */
function withoutPasswords(accounts: unknown): unknown {
  if (!Array.isArray(accounts)) return accounts;
  return accounts.map((a: unknown) => {
    if (a === null || typeof a !== 'object') return a;
    return Object.fromEntries(Object.entries(a as Json).filter(([k]) => k !== 'password'));
  });
}

function refuseFixedChanges(current: Json, properties: Json): void {
  for (const [k, v] of Object.entries(properties)) {
    if (UPDATABLE.has(k) || v === undefined) continue;
    if (k in current && isDeepStrictEqual(current[k], k === 'userAccounts' ? withoutPasswords(v) : v))
      continue;
    throw new DomainError(
      'invalid-input',
      'PropertyChangeNotAllowed',
      `Changing property '${k}' is not allowed: a pool's ${k} is fixed when the pool is created.`,
      { target: `properties.${k}` },
    );
  }
}

/** Applies an update's changeable properties through the data plane's operations. */
async function applyUpdate(deps: ArmDeps, account: BatchAccountRecord, view: PoolView, properties: Json) {
  const current = poolToArm(account, view.pool, view.nodes).properties as Json;
  refuseFixedChanges(current, properties);
  const patch: Json = {};
  if (properties.startTask !== undefined) patch.startTask = properties.startTask;
  if (properties.metadata !== undefined) patch.metadata = properties.metadata;
  if (properties.certificates !== undefined) patch.certificateReferences = properties.certificates;
  if (properties.applicationPackages !== undefined)
    patch.applicationPackageReferences = packageReferencesIn(properties.applicationPackages);
  if (properties.targetNodeCommunicationMode !== undefined)
    patch.targetNodeCommunicationMode = properties.targetNodeCommunicationMode;
  const id = view.pool.id;
  if (Object.keys(patch).length > 0) await deps.pools.patch(account, id, patch);
  if (properties.scaleSettings === undefined) return;
  const scale = scaleIn(properties.scaleSettings);
  if (scale.enableAutoScale === true) {
    await deps.pools.enableAutoScale(account, id, scale);
    return;
  }
  const pool = view.pool.autoScale ? await deps.pools.disableAutoScale(account, id) : view.pool;
  const same =
    scale.targetDedicatedNodes === pool.targetDedicatedNodes &&
    (scale.targetLowPriorityNodes ?? 0) === pool.targetLowPriorityNodes;
  if (!same) await deps.pools.resize(account, id, scale);
}

/** The Location a pool deletion's poller follows (202 while the pool is going, 200 once it is gone). */
function deletionLocation(
  deps: ArmDeps,
  path: string,
  query: Record<string, string>,
): Record<string, string> {
  const version = query['api-version'] ?? '2024-02-01';
  return {
    location: `${deps.publicOrigin()}${path}/operationResults/delete?api-version=${encodeURIComponent(version)}`,
    'retry-after': '1',
  };
}

function writeRoutes(deps: ArmDeps): ArmRoute[] {
  const answer = async (account: BatchAccountRecord, id: string) => {
    const view = await deps.pools.get(account, id);
    return { status: 200, body: poolToArm(account, view.pool, view.nodes) };
  };
  const update = async (caller: Caller, params: Record<string, string>, body: unknown, create: boolean) => {
    const input = validateArmBody(deps.specs, ARM_SPECS.batch, 'Pool', body);
    if (input.identity !== undefined && input.identity !== null)
      throw new DomainError('invalid-input', 'UnsupportedProperty', 'Pool identities are not supported.', {
        target: 'identity',
      });
    const properties = objectOrEmpty(input.properties);
    const account = await accountFor(deps, caller, params, 'write');
    const id = params.poolName ?? '';
    const view = await findPool(deps, account, id);
    if (view) await applyUpdate(deps, account, view, properties);
    else if (create) await deps.pools.add(account, { scheme: 'AAD', caller }, poolAddFromArm(id, properties));
    else throw poolNotFound(id);
    return answer(account, id);
  };
  return [
    {
      method: 'PUT',
      pattern: POOL,
      handler: ({ caller, params, body }) => update(caller, params, body, true),
    },
    {
      method: 'PATCH',
      pattern: POOL,
      handler: ({ caller, params, body }) => update(caller, params, body, false),
    },
    {
      method: 'POST',
      pattern: `${POOL}/disableAutoScale`,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'write');
        await deps.pools.disableAutoScale(account, params.poolName ?? '');
        return answer(account, params.poolName ?? '');
      },
    },
    {
      method: 'POST',
      pattern: `${POOL}/stopResize`,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'write');
        await deps.pools.stopResize(account, params.poolName ?? '');
        return answer(account, params.poolName ?? '');
      },
    },
  ];
}

function poolNotFound(id: string): DomainError {
  return new DomainError('not-found', 'PoolNotFound', `The specified pool '${id}' does not exist.`);
}

function readRoutes(deps: ArmDeps): ArmRoute[] {
  return [
    {
      method: 'GET',
      pattern: POOL,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'read');
        const view = await findPool(deps, account, params.poolName ?? '');
        if (!view) throw poolNotFound(params.poolName ?? '');
        return { status: 200, body: poolToArm(account, view.pool, view.nodes) };
      },
    },
    {
      method: 'GET',
      pattern: POOLS,
      handler: async ({ caller, params, query }) => {
        for (const q of ['$filter', '$select'])
          if (query[q] !== undefined)
            throw new DomainError(
              'not-implemented',
              'NotImplemented',
              `Listing pools with ${q} is not supported.`,
            );
        const account = await accountFor(deps, caller, params, 'read');
        const views = await deps.pools.list(account);
        return { status: 200, body: { value: views.map((v) => poolToArm(account, v.pool, v.nodes)) } };
      },
    },
    {
      method: 'DELETE',
      pattern: POOL,
      handler: async ({ caller, params, path, query }) => {
        const account = await accountFor(deps, caller, params, 'delete');
        const view = await findPool(deps, account, params.poolName ?? '');
        if (!view) return { status: 204 };
        await deps.pools.delete(account, view.pool.id);
        return { status: 202, headers: deletionLocation(deps, path, query) };
      },
    },
    {
      method: 'GET',
      pattern: `${POOL}/operationResults/delete`,
      handler: async ({ caller, params }) => {
        const account = await accountFor(deps, caller, params, 'read');
        const view = await findPool(deps, account, params.poolName ?? '');
        return view ? { status: 202, headers: { 'retry-after': '1' } } : { status: 200 };
      },
    },
  ];
}

/** Microsoft.Batch `batchAccounts/pools` through ARM: the same pools the data plane serves. */
export function batchPoolRoutes(deps: ArmDeps): ArmRoute[] {
  return [...writeRoutes(deps), ...readRoutes(deps)];
}
