import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { ConnectionInfo } from '../main.ts';

/**
 * The az CLI cloud definition for a running server: ARM at the root, the AD FS-style authority at /adfs
 * (MSAL skips its public-cloud authority check only for AD FS), and the resource ids tokens are issued for.
 */
export function azCloudConfig(c: ConnectionInfo) {
  return {
    endpoints: {
      resourceManager: `${c.armEndpoint}/`,
      activeDirectory: `${c.authorityHost}/adfs`,
      activeDirectoryResourceId: 'https://management.core.windows.net/',
      activeDirectoryGraphResourceId: `${c.armEndpoint}/graph/`,
      microsoftGraphResourceId: `${c.armEndpoint}/graph/`,
      management: 'https://management.core.windows.net/',
      batchResourceId: 'https://batch.core.windows.net/',
      gallery: `${c.armEndpoint}/`,
    },
  };
}

/** Shell commands that register the server as a cloud, log in as the well-known principal and use it. */
export function azSetupCommands(c: ConnectionInfo, cloudConfigPath: string): string[] {
  return [
    `export REQUESTS_CA_BUNDLE=${c.caCertPath}`,
    `export AZURE_CONFIG_DIR=$HOME/.azure-lazurite`,
    `az cloud register -n Lazurite --cloud-config @${cloudConfigPath}`,
    `az cloud set -n Lazurite`,
    `az login --service-principal -u ${c.clientId} -p ${c.clientSecret} --tenant ${c.tenantId}`,
    `az group list -o table`,
    `az batch account list -o table`,
    `az batch pool supported-images list --account-name ${c.batchAccountName} --account-endpoint ${c.batchUrl} --account-key ${c.batchAccountKey} -o table`,
    `az batch account login -g ${c.resourceGroup} -n ${c.batchAccountName}   # Entra ID for the data plane`,
    `az batch pool supported-images list -o table`,
    '# az vm / az image on Debian: its azure-mgmt-compute lacks API 2022-11-01, so switch to the hybrid profile',
    `az cloud update -n Lazurite --profile 2020-09-01-hybrid   # and back: --profile latest (az batch needs latest)`,
  ];
}

/** `lazurite az-setup`: writes `<data-dir>/az-cloud.json` and prints the commands. */
export function printAzSetup(config: Config): void {
  const connection = JSON.parse(
    readFileSync(join(config.dataDir, 'connection.json'), 'utf8'),
  ) as ConnectionInfo;
  const cloudPath = join(config.dataDir, 'az-cloud.json');
  writeFileSync(cloudPath, `${JSON.stringify(azCloudConfig(connection), null, 2)}\n`);
  process.stdout.write(`${azSetupCommands(connection, cloudPath).join('\n')}\n`);
}
