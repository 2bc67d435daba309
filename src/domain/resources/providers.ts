/** Resource providers this server implements, with the resource types it serves for each. */
export interface ProviderInfo {
  namespace: string;
  resourceTypes: { resourceType: string; apiVersions: string[] }[];
  /** Registered for every subscription without asking (as Azure does for these). */
  alwaysRegistered: boolean;
}

export const PROVIDERS: readonly ProviderInfo[] = [
  {
    namespace: 'Microsoft.Resources',
    alwaysRegistered: true,
    resourceTypes: [
      { resourceType: 'resourceGroups', apiVersions: ['2024-03-01', '2021-04-01'] },
      { resourceType: 'subscriptions', apiVersions: ['2022-12-01', '2021-01-01'] },
    ],
  },
  {
    namespace: 'Microsoft.Authorization',
    alwaysRegistered: true,
    resourceTypes: [
      { resourceType: 'roleAssignments', apiVersions: ['2022-04-01', '2020-04-01-preview'] },
      { resourceType: 'roleDefinitions', apiVersions: ['2022-04-01', '2018-01-01-preview'] },
    ],
  },
  {
    namespace: 'Microsoft.Batch',
    alwaysRegistered: false,
    resourceTypes: [
      { resourceType: 'batchAccounts', apiVersions: ['2024-02-01', '2023-11-01', '2022-10-01'] },
      { resourceType: 'locations', apiVersions: ['2024-02-01', '2023-11-01'] },
      { resourceType: 'locations/quotas', apiVersions: ['2024-02-01', '2023-11-01'] },
      { resourceType: 'operations', apiVersions: ['2024-02-01', '2023-11-01'] },
    ],
  },
  {
    namespace: 'Microsoft.Compute',
    alwaysRegistered: false,
    resourceTypes: [
      { resourceType: 'virtualMachines', apiVersions: ['2024-03-01', '2022-11-01'] },
      { resourceType: 'disks', apiVersions: ['2023-10-02', '2022-07-02'] },
      { resourceType: 'snapshots', apiVersions: ['2023-10-02', '2022-07-02'] },
      { resourceType: 'images', apiVersions: ['2024-03-01', '2022-11-01'] },
      { resourceType: 'galleries', apiVersions: ['2023-07-03', '2022-03-03'] },
      { resourceType: 'galleries/images', apiVersions: ['2023-07-03', '2022-03-03'] },
      { resourceType: 'galleries/images/versions', apiVersions: ['2023-07-03', '2022-03-03'] },
      { resourceType: 'locations', apiVersions: ['2024-03-01'] },
    ],
  },
  {
    namespace: 'Microsoft.Storage',
    alwaysRegistered: false,
    resourceTypes: [
      { resourceType: 'storageAccounts', apiVersions: ['2023-01-01', '2022-09-01', '2021-09-01'] },
      { resourceType: 'checkNameAvailability', apiVersions: ['2023-01-01', '2022-09-01'] },
      { resourceType: 'locations/asyncoperations', apiVersions: ['2023-01-01', '2022-09-01'] },
    ],
  },
  {
    namespace: 'Microsoft.KeyVault',
    alwaysRegistered: false,
    resourceTypes: [{ resourceType: 'vaults', apiVersions: ['2023-07-01', '2022-07-01', '2019-09-01'] }],
  },
];

export function findProvider(namespace: string): ProviderInfo | undefined {
  return PROVIDERS.find((p) => p.namespace.toLowerCase() === namespace.toLowerCase());
}
