import { DomainError } from '../../domain/errors.ts';
import type { VaultService } from '../../domain/keyvault/vaults.ts';
import type { ComputeResourceRecord } from '../../domain/records.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmRequest, ArmRoute } from './router.ts';
import { objectOrEmpty } from './validation.ts';

const SUB = '/subscriptions/{subscriptionId}';
const GROUP = `${SUB}/resourceGroups/{resourceGroupName}/providers/Microsoft.KeyVault/vaults`;
const ITEM = `${GROUP}/{vaultName}`;

/** The vault's data-plane URI, under the cloud's `keyVaultDns` suffix (`.vault.<host>`, metadata.ts). */
export function vaultUri(name: string, publicOrigin: string): string {
  return `https://${name}.vault.${new URL(publicOrigin).host}/`;
}

/**
 * The KeyVault RP's `Vault` shape (its swagger is not in specs/; the shape follows the REST reference). The
 * vaultUri is where the data plane would be: Lazurite serves none (no secret store), so nothing answers there.
 */
function toWire(r: ComputeResourceRecord, origin: string) {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    location: r.location,
    tags: r.tags,
    systemData: { createdAt: r.createdAt, lastModifiedAt: r.updatedAt },
    properties: { ...r.properties, vaultUri: vaultUri(r.name, origin) },
  };
}

const addressOf = (req: ArmRequest) => ({
  subscriptionId: req.params.subscriptionId ?? '',
  resourceGroup: req.params.resourceGroupName ?? '',
  name: req.params.vaultName ?? '',
});

/** Microsoft.KeyVault/vaults: create/update (PUT, PATCH), get, list, delete, access policy updates. */
export function keyVaultRoutes(deps: ArmDeps, vaults: VaultService): ArmRoute[] {
  const wire = (r: ComputeResourceRecord) => toWire(r, deps.publicOrigin());
  return [...itemRoutes(vaults, wire), ...collectionRoutes(vaults, wire)];
}

function collectionRoutes(vaults: VaultService, wire: (r: ComputeResourceRecord) => unknown): ArmRoute[] {
  return [
    {
      method: 'GET',
      pattern: GROUP,
      handler: async (req) => {
        const { subscriptionId, resourceGroup } = addressOf(req);
        return {
          status: 200,
          body: { value: (await vaults.list(req.caller, subscriptionId, resourceGroup)).map(wire) },
        };
      },
    },
    {
      method: 'POST',
      pattern: `${SUB}/providers/Microsoft.KeyVault/checkNameAvailability`,
      handler: async (req) => ({
        status: 200,
        body: await vaults.checkName(
          req.caller,
          req.params.subscriptionId ?? '',
          objectOrEmpty(req.body).name,
        ),
      }),
    },
    {
      // Deletion is immediate (ADR 0035): there is never a soft-deleted vault to show, recover or purge.
      method: 'GET',
      pattern: `${SUB}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{vaultName}`,
      handler: (req) =>
        Promise.reject(
          new DomainError(
            'not-found',
            'ResourceNotFound',
            `The deleted vault '${req.params.vaultName ?? ''}' was not found: Lazurite deletes vaults at once and keeps none.`,
          ),
        ),
    },
    {
      method: 'GET',
      pattern: `${SUB}/providers/Microsoft.KeyVault/vaults`,
      handler: async (req) => ({
        status: 200,
        body: { value: (await vaults.list(req.caller, req.params.subscriptionId ?? '')).map(wire) },
      }),
    },
  ];
}

function itemRoutes(vaults: VaultService, wire: (r: ComputeResourceRecord) => unknown): ArmRoute[] {
  return [
    {
      method: 'PUT',
      pattern: ITEM,
      handler: async (req) => {
        const { vault, created } = await vaults.createOrUpdate(
          req.caller,
          addressOf(req),
          objectOrEmpty(req.body),
        );
        return { status: created ? 201 : 200, body: wire(vault) };
      },
    },
    {
      method: 'PATCH',
      pattern: ITEM,
      handler: async (req) => ({
        status: 200,
        body: wire(await vaults.update(req.caller, addressOf(req), objectOrEmpty(req.body))),
      }),
    },
    {
      method: 'GET',
      pattern: ITEM,
      handler: async (req) => ({ status: 200, body: wire(await vaults.get(req.caller, addressOf(req))) }),
    },
    {
      method: 'DELETE',
      pattern: ITEM,
      handler: async (req) => ({ status: (await vaults.delete(req.caller, addressOf(req))) ? 200 : 204 }),
    },
    {
      method: 'PUT',
      pattern: `${ITEM}/accessPolicies/{operationKind}`,
      handler: async (req) => {
        const { vault, policies, op } = await vaults.updateAccessPolicies(
          req.caller,
          addressOf(req),
          req.params.operationKind ?? '',
          objectOrEmpty(req.body),
        );
        return {
          status: 200,
          body: {
            id: `${vault.id}/accessPolicies/${op}`,
            name: op,
            type: 'Microsoft.KeyVault/vaults/accessPolicies',
            location: vault.location,
            properties: { accessPolicies: policies },
          },
        };
      },
    },
  ];
}
