import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { ConnectionInfo } from '../main.ts';

/** The az CLI commands that register a running Lazurite as a cloud and log in as the well-known principal. */
export function azSetupCommands(c: ConnectionInfo): string[] {
  const arm = `${c.armEndpoint}/`;
  return [
    `export REQUESTS_CA_BUNDLE=${c.caCertPath}`,
    `export AZURE_CONFIG_DIR=$HOME/.azure-lazurite`,
    `az cloud register -n Lazurite --endpoint-resource-manager ${arm} --endpoint-active-directory ${c.authorityHost}/adfs --endpoint-active-directory-resource-id https://management.core.windows.net/ --endpoint-active-directory-graph-resource-id ${arm}graph/ --endpoint-management https://management.core.windows.net/`,
    `az cloud set -n Lazurite`,
    `az login --service-principal -u ${c.clientId} -p ${c.clientSecret} --tenant ${c.tenantId}`,
    `az group list -o table`,
    `az batch account list -o table`,
    `az batch pool supported-images list --account-name ${c.batchAccountName} --account-endpoint ${c.batchUrl} --account-key ${c.batchAccountKey} -o table`,
  ];
}

export function printAzSetup(config: Config): void {
  const connection = JSON.parse(readFileSync(join(config.dataDir, 'connection.json'), 'utf8')) as ConnectionInfo;
  process.stdout.write(`${azSetupCommands(connection).join('\n')}\n`);
}
