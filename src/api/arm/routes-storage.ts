import type { StorageAccountService } from '../../domain/storage/storage-accounts.ts';
import type { ComputeResourceRecord } from '../../domain/records.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmRequest, ArmRoute } from './router.ts';
import { objectOrEmpty } from './validation.ts';

const SUB = '/subscriptions/{subscriptionId}';
const PROVIDER = 'providers/Microsoft.Storage';
const GROUP = `${SUB}/resourceGroups/{resourceGroupName}/${PROVIDER}/storageAccounts`;
const ITEM = `${GROUP}/{accountName}`;

/**
 * The StorageAccount wire shape (storage RP's `StorageAccount` definition; its swagger is not in specs/, so the
 * shape follows the REST reference). Only a blob endpoint exists: Lazurite backs accounts with blob services only.
 */
export function storageAccountToWire(r: ComputeResourceRecord, blobEndpoint: string | undefined) {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    location: r.location,
    tags: r.tags,
    sku: r.sku,
    kind: r.lineage.kind,
    properties: {
      ...r.properties,
      primaryEndpoints: blobEndpoint === undefined ? {} : { blob: blobEndpoint },
      primaryLocation: r.location,
      statusOfPrimary: 'available',
    },
  };
}

const addressOf = (req: ArmRequest) => ({
  subscriptionId: req.params.subscriptionId ?? '',
  resourceGroup: req.params.resourceGroupName ?? '',
  name: req.params.accountName ?? '',
});

function pollUrl(deps: ArmDeps, req: ArmRequest, location: string, operationId: string): string {
  const apiVersion = req.query['api-version'] ?? '2023-01-01';
  return `${deps.publicOrigin()}/subscriptions/${req.params.subscriptionId ?? ''}/${PROVIDER}/locations/${location}/asyncoperations/${operationId}?monitor=true&api-version=${apiVersion}`;
}

/** Microsoft.Storage/storageAccounts: create (202 + Location, as the storage RP answers), get, list, delete, keys. */
export function storageRoutes(deps: ArmDeps, accounts: StorageAccountService): ArmRoute[] {
  const wire = (r: ComputeResourceRecord) => storageAccountToWire(r, accounts.blobEndpointOf(r.name));
  return [createRoute(deps, accounts, wire), ...readRoutes(accounts, wire)];
}

type Wire = (r: ComputeResourceRecord) => unknown;

function createRoute(deps: ArmDeps, accounts: StorageAccountService, wire: Wire): ArmRoute {
  return {
    method: 'PUT',
    pattern: ITEM,
    handler: async (req) => {
      const { account, operationId } = await accounts.createOrUpdate(
        req.caller,
        addressOf(req),
        objectOrEmpty(req.body),
      );
      if (operationId === undefined) return { status: 200, body: wire(account) };
      return {
        status: 202,
        headers: { location: pollUrl(deps, req, account.location, operationId), 'retry-after': '1' },
      };
    },
  };
}

function readRoutes(accounts: StorageAccountService, wire: Wire): ArmRoute[] {
  return [
    {
      method: 'GET',
      pattern: `${SUB}/${PROVIDER}/locations/{location}/asyncoperations/{operationId}`,
      handler: async (req) => ({
        status: 200,
        body: wire(
          await accounts.operationResult(
            req.caller,
            req.params.subscriptionId ?? '',
            req.params.operationId ?? '',
          ),
        ),
      }),
    },
    {
      method: 'GET',
      pattern: ITEM,
      handler: async (req) => ({ status: 200, body: wire(await accounts.get(req.caller, addressOf(req))) }),
    },
    {
      method: 'DELETE',
      pattern: ITEM,
      handler: async (req) => ({ status: (await accounts.delete(req.caller, addressOf(req))) ? 200 : 204 }),
    },
    {
      method: 'GET',
      pattern: GROUP,
      handler: async (req) => {
        const { subscriptionId, resourceGroup } = addressOf(req);
        const list = await accounts.list(req.caller, subscriptionId, resourceGroup);
        return { status: 200, body: { value: list.map(wire) } };
      },
    },
    {
      method: 'GET',
      pattern: `${SUB}/${PROVIDER}/storageAccounts`,
      handler: async (req) => {
        const list = await accounts.list(req.caller, req.params.subscriptionId ?? '');
        return { status: 200, body: { value: list.map(wire) } };
      },
    },
    {
      method: 'POST',
      pattern: `${ITEM}/listKeys`,
      handler: async (req) => {
        const { keys } = await accounts.listKeys(req.caller, addressOf(req));
        return { status: 200, body: { keys } };
      },
    },
    {
      method: 'POST',
      pattern: `${SUB}/${PROVIDER}/checkNameAvailability`,
      handler: async (req) => ({
        status: 200,
        body: await accounts.checkName(
          req.caller,
          req.params.subscriptionId ?? '',
          objectOrEmpty(req.body).name,
        ),
      }),
    },
  ];
}
