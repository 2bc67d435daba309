/**
 * Marketplace base images that Batch supports (R1), each with its node agent SKU. Whether an entry can run work
 * here depends on a root file system being present for it (the image pipeline adds that); the catalog itself is
 * the list `GET /supportedimages` serves.
 */
export interface CatalogImage {
  publisher: string;
  offer: string;
  sku: string;
  version: string;
  nodeAgentSkuId: string;
  osType: 'linux' | 'windows';
  verificationType: 'verified' | 'unverified';
  capabilities: string[];
  batchSupportEndOfLife?: string;
  /** First-party bases carry no purchase plan; third-party ones do and may not be used for custom images (R3). */
  purchasePlan?: { name: string; product: string; publisher: string };
}

const linux = (
  publisher: string,
  offer: string,
  sku: string,
  nodeAgentSkuId: string,
  extra: Partial<CatalogImage> = {},
): CatalogImage => ({
  publisher,
  offer,
  sku,
  version: 'latest',
  nodeAgentSkuId,
  osType: 'linux',
  verificationType: 'verified',
  capabilities: [],
  ...extra,
});

export const BASE_IMAGES: readonly CatalogImage[] = [
  linux('canonical', '0001-com-ubuntu-server-focal', '20_04-lts', 'batch.node.ubuntu 20.04', {
    batchSupportEndOfLife: '2025-04-30T00:00:00Z',
  }),
  linux('canonical', '0001-com-ubuntu-server-jammy', '22_04-lts', 'batch.node.ubuntu 22.04'),
  linux('canonical', 'ubuntu-24_04-lts', 'server', 'batch.node.ubuntu 24.04'),
  linux('debian', 'debian-12', '12', 'batch.node.debian 12'),
  linux('debian', 'debian-11', '11', 'batch.node.debian 11', {
    batchSupportEndOfLife: '2026-08-14T00:00:00Z',
  }),
  linux('almalinux', 'almalinux', '9-gen1', 'batch.node.el 9', { verificationType: 'unverified' }),
  linux('microsoft-azure-batch', 'ubuntu-server-container', '20-04-lts', 'batch.node.ubuntu 20.04', {
    capabilities: ['DockerCompatible', 'NvidiaTeslaDriverInstalled'],
  }),
  linux('microsoft-dsvm', 'ubuntu-hpc', '2204', 'batch.node.ubuntu 22.04', {
    verificationType: 'unverified',
    capabilities: ['NvidiaTeslaDriverInstalled'],
  }),
  linux('lazurite', 'tiny', 'busybox', 'batch.node.lazurite tiny', { verificationType: 'unverified' }),
  linux('cognosys', 'centos-8-stream-free', 'centos-8-stream-free', 'batch.node.centos 8', {
    verificationType: 'unverified',
    purchasePlan: { name: 'centos-8-stream-free', product: 'centos-8-stream-free', publisher: 'cognosys' },
  }),
  {
    publisher: 'microsoftwindowsserver',
    offer: 'windowsserver',
    sku: '2022-datacenter',
    version: 'latest',
    nodeAgentSkuId: 'batch.node.windows amd64',
    osType: 'windows',
    verificationType: 'verified',
    capabilities: [],
  },
  {
    publisher: 'microsoftwindowsserver',
    offer: 'windowsserver',
    sku: '2019-datacenter-core',
    version: 'latest',
    nodeAgentSkuId: 'batch.node.windows amd64',
    osType: 'windows',
    verificationType: 'verified',
    capabilities: [],
  },
];

/** Node agent SKUs, derived from the catalog. */
export function nodeAgentSkus(): { id: string; osType: 'linux' | 'windows' }[] {
  const seen = new Map<string, 'linux' | 'windows'>();
  for (const i of BASE_IMAGES) seen.set(i.nodeAgentSkuId, i.osType);
  return [...seen].map(([id, osType]) => ({ id, osType }));
}
