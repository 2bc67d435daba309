import { KeyVaultManagementClient, type Vault } from '@azure/arm-keyvault';
import { BATCH_SERVICE_OBJECT_ID } from '../../src/domain/keyvault/vaults.ts';
import { credentialFor, type TestServer } from './harness.ts';

export function keyVaultClient(server: TestServer): KeyVaultManagementClient {
  const c = server.connection;
  return new KeyVaultManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
}

/** A vault in the server's group whose access policies give the Batch service what a UserSubscription account needs. */
export async function batchReadyVault(server: TestServer, name: string): Promise<Vault> {
  const c = server.connection;
  return keyVaultClient(server).vaults.createOrUpdate(c.resourceGroup, name, {
    location: c.location,
    properties: {
      tenantId: c.tenantId,
      sku: { family: 'A', name: 'standard' },
      accessPolicies: [
        {
          tenantId: c.tenantId,
          objectId: BATCH_SERVICE_OBJECT_ID,
          permissions: { secrets: ['get', 'list', 'set', 'delete', 'recover'] },
        },
      ],
    },
  });
}
