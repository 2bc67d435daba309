import type { ConnectionInfo } from '../app/main.ts';

/** Single-quoted for POSIX shells. */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The environment variables the Azure tools read, for this server: @azure/identity's EnvironmentCredential
 * (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST), the az CLI's Batch settings
 * (AZURE_BATCH_ACCOUNT, AZURE_BATCH_ACCESS_KEY, AZURE_BATCH_ENDPOINT), and the CA bundle for Node and Python.
 */
export function environmentOf(c: ConnectionInfo): Record<string, string> {
  return {
    AZURE_TENANT_ID: c.tenantId,
    AZURE_CLIENT_ID: c.clientId,
    AZURE_CLIENT_SECRET: c.clientSecret,
    AZURE_AUTHORITY_HOST: c.authorityHost,
    AZURE_SUBSCRIPTION_ID: c.subscriptionId,
    AZURE_RESOURCE_MANAGER_ENDPOINT: c.armEndpoint,
    AZURE_BATCH_ACCOUNT: c.batchAccountName,
    AZURE_BATCH_ACCESS_KEY: c.batchAccountKey,
    AZURE_BATCH_ENDPOINT: c.batchUrl,
    NODE_EXTRA_CA_CERTS: c.caCertPath,
    REQUESTS_CA_BUNDLE: c.caCertPath,
  };
}

/** `lazurite env --export`: lines for `eval "$(lazurite env --export)"`. */
export function exportLines(c: ConnectionInfo): string {
  return Object.entries(environmentOf(c))
    .map(([k, v]) => `export ${k}=${quote(v)}\n`)
    .join('');
}

/** `lazurite env`: the connection details, aligned. */
export function describeConnection(c: ConnectionInfo): string {
  const rows: [string, string][] = [
    ['ARM endpoint', c.armEndpoint],
    ['authority host', c.authorityHost],
    ['tenant', c.tenantId],
    ['subscription', c.subscriptionId],
    ['resource group', `${c.resourceGroup} (${c.location})`],
    ['client id', c.clientId],
    ['client secret', c.clientSecret],
    ['Batch account', c.batchAccountName],
    ['Batch URL', c.batchUrl],
    ['Batch key', c.batchAccountKey],
    ['CA certificate', c.caCertPath],
  ];
  return `${rows.map(([k, v]) => `${k.padEnd(16)}${v}`).join('\n')}\n\nshell variables: eval "$(lazurite env --export)"\n`;
}
