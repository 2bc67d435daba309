import { RESOURCES } from '../../domain/identity/principals.ts';

/**
 * Cloud metadata as ARM serves it at /metadata/endpoints. api-version 2015-01-01 answers the single-cloud
 * object older clients read; newer versions answer the list of clouds (az `cloud register --endpoint-resource-manager`).
 */
export function cloudMetadata(origin: string, apiVersion: string | undefined) {
  const host = new URL(origin).host;
  if (apiVersion === '2015-01-01') {
    return {
      galleryEndpoint: `${origin}/`,
      graphEndpoint: `${origin}/graph/`,
      portalEndpoint: `${origin}/portal/`,
      authentication: {
        loginEndpoint: `${origin}/adfs`,
        audiences: [RESOURCES.managementClassic, RESOURCES.management],
      },
    };
  }
  return [
    {
      name: 'Lazurite',
      portal: `${origin}/portal/`,
      authentication: {
        loginEndpoint: `${origin}/adfs`,
        audiences: [RESOURCES.managementClassic, RESOURCES.management],
        tenant: 'adfs',
        identityProvider: 'ADFS',
      },
      media: `${origin}/`,
      graphAudience: `${origin}/graph/`,
      graph: `${origin}/graph/`,
      batch: RESOURCES.batch,
      resourceManager: `${origin}/`,
      vmImageAliasDoc: `${origin}/aliases.json`,
      activeDirectoryDataLake: `${origin}/`,
      sqlManagement: `${origin}/`,
      gallery: `${origin}/`,
      microsoftGraphResourceId: `${origin}/graph/`,
      suffixes: {
        storage: host,
        keyVaultDns: `.vault.${host}`,
        acrLoginServer: `.acr.${host}`,
        sqlServerHostname: `.sql.${host}`,
      },
    },
  ];
}
