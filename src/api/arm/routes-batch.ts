import { quotasFor } from '../../domain/accounts/quotas.ts';
import { invalidInput } from '../../domain/errors.ts';
import { requireKnownLocation } from '../../domain/locations.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmRoute } from './router.ts';
import { ARM_SPECS, objectOrEmpty, validateArmBody } from './validation.ts';
import { batchAccountToWire, batchKeysToWire } from './wire.ts';

const ACCOUNTS =
  '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Batch/batchAccounts';
const ACCOUNT = `${ACCOUNTS}/{accountName}`;

const accountIds = (p: Record<string, string>) =>
  [p.subscriptionId ?? '', p.resourceGroupName ?? '', p.accountName ?? ''] as const;

/** Location and Retry-After of a running account deletion (polled at `<account>/operationResults/delete`). */
function deletionPoll(deps: ArmDeps, path: string, query: Record<string, unknown>): Record<string, string> {
  const account = path.replace(/\/operationResults\/delete$/i, '');
  const version = typeof query['api-version'] === 'string' ? query['api-version'] : '2024-07-01';
  return {
    location: `${deps.publicOrigin()}${account}/operationResults/delete?api-version=${encodeURIComponent(version)}`,
    'retry-after': '1',
  };
}

/** Batch account create, update, get, list and delete. */
function accountRoutes(deps: ArmDeps): ArmRoute[] {
  const svc = deps.batchAccounts;
  const host = () => new URL(deps.publicOrigin()).host;
  const wire = (a: Parameters<typeof batchAccountToWire>[0]) =>
    batchAccountToWire(a, host(), quotasFor(deps.config.accountQuotas, a.name));
  return [
    {
      method: 'PUT',
      pattern: ACCOUNT,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(deps.specs, ARM_SPECS.batch, 'BatchAccountCreateParameters', body);
        const props = objectOrEmpty(input.properties);
        const { account } = await svc.createOrUpdate(caller, ...accountIds(params), {
          ...input,
          properties: props,
        });
        return { status: 200, body: wire(account) };
      },
    },
    {
      method: 'PATCH',
      pattern: ACCOUNT,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(deps.specs, ARM_SPECS.batch, 'BatchAccountUpdateParameters', body);
        const account = await svc.update(caller, ...accountIds(params), {
          ...input,
          properties: objectOrEmpty(input.properties),
        });
        return { status: 200, body: wire(account) };
      },
    },
    {
      method: 'GET',
      pattern: ACCOUNT,
      handler: async ({ caller, params }) => ({
        status: 200,
        body: wire(await svc.get(caller, ...accountIds(params))),
      }),
    },
    {
      method: 'DELETE',
      pattern: ACCOUNT,
      handler: async ({ caller, params, path, query }) => {
        const outcome = await svc.delete(caller, ...accountIds(params));
        if (outcome === 'absent') return { status: 204 };
        if (outcome === 'deleted') return { status: 200 };
        return { status: 202, headers: deletionPoll(deps, path, query) };
      },
    },
    {
      // The Location of an account deletion (final-state-via: location): 202 while it runs, 200 once it is gone.
      method: 'GET',
      pattern: `${ACCOUNT}/operationResults/delete`,
      handler: async ({ caller, params, path, query }) => {
        const running = await svc.deletionRunning(caller, ...accountIds(params));
        return running ? { status: 202, headers: deletionPoll(deps, path, query) } : { status: 200 };
      },
    },
    {
      method: 'GET',
      pattern: ACCOUNTS,
      handler: async ({ caller, params }) => ({
        status: 200,
        body: {
          value: (await svc.list(caller, params.subscriptionId ?? '', params.resourceGroupName)).map(wire),
        },
      }),
    },
    {
      method: 'GET',
      pattern: '/subscriptions/{subscriptionId}/providers/Microsoft.Batch/batchAccounts',
      handler: async ({ caller, params }) => ({
        status: 200,
        body: { value: (await svc.list(caller, params.subscriptionId ?? '')).map(wire) },
      }),
    },
  ];
}

/** Account keys: listKeys and regenerateKeys. */
function keyRoutes(deps: ArmDeps): ArmRoute[] {
  const svc = deps.batchAccounts;
  return [
    {
      method: 'POST',
      pattern: `${ACCOUNT}/listKeys`,
      handler: async ({ caller, params }) => ({
        status: 200,
        body: batchKeysToWire(await svc.listKeys(caller, ...accountIds(params))),
      }),
    },
    {
      method: 'POST',
      pattern: `${ACCOUNT}/regenerateKeys`,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(
          deps.specs,
          ARM_SPECS.batch,
          'BatchAccountRegenerateKeyParameters',
          body,
        );
        return {
          status: 200,
          body: batchKeysToWire(await svc.regenerateKey(caller, ...accountIds(params), input.keyName)),
        };
      },
    },
  ];
}

/** Per-location quotas and name availability. */
function locationRoutes(deps: ArmDeps): ArmRoute[] {
  const svc = deps.batchAccounts;
  return [
    {
      method: 'GET',
      pattern: '/subscriptions/{subscriptionId}/providers/Microsoft.Batch/locations/{locationName}/quotas',
      handler: ({ params }) => {
        requireKnownLocation(params.locationName, 'locationName');
        return Promise.resolve({ status: 200, body: { accountQuota: 50 } });
      },
    },
    {
      method: 'POST',
      pattern:
        '/subscriptions/{subscriptionId}/providers/Microsoft.Batch/locations/{locationName}/checkNameAvailability',
      handler: async ({ params, body }) => {
        requireKnownLocation(params.locationName, 'locationName');
        const input = validateArmBody(deps.specs, ARM_SPECS.batch, 'CheckNameAvailabilityParameters', body);
        const name = typeof input.name === 'string' ? input.name : '';
        if (!/^[a-z0-9]{3,24}$/.test(name)) {
          return {
            status: 200,
            body: {
              nameAvailable: false,
              reason: 'Invalid',
              message: 'Account names must be 3 to 24 characters of lower-case letters and digits.',
            },
          };
        }
        if (input.type !== 'Microsoft.Batch/batchAccounts')
          throw invalidInput('InvalidParameter', "'type' must be 'Microsoft.Batch/batchAccounts'.", 'type');
        const taken = (await svc.findByName(name)) !== undefined;
        return {
          status: 200,
          body: taken
            ? {
                nameAvailable: false,
                reason: 'AlreadyExists',
                message: `An account named '${name}' is already in use.`,
              }
            : { nameAvailable: true },
        };
      },
    },
  ];
}

/** Microsoft.Batch management plane: Batch accounts and their keys. */
export function batchAccountRoutes(deps: ArmDeps): ArmRoute[] {
  return [...accountRoutes(deps), ...keyRoutes(deps), ...locationRoutes(deps)];
}
