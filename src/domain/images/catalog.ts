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

/**
 * When Batch stopped accepting pools for a node agent SKU, as its retirement notices in the Azure/Batch GitHub
 * repository say (ADR 0028): #106 (Ubuntu 16.04), #152 (Ubuntu 18.04), #174 (Ubuntu 20.04).
 */
const UBUNTU_16_04_END = '2021-05-21T00:00:00Z';
const UBUNTU_18_04_END = '2023-05-30T00:00:00Z';
const UBUNTU_20_04_END = '2025-04-23T00:00:00Z';

export const BASE_IMAGES: readonly CatalogImage[] = [
  // What Batch listed when the seeds were written (their az and Python snippets name these SKUs).
  linux('Canonical', 'UbuntuServer', '16.04-LTS', 'batch.node.ubuntu 16.04', {
    batchSupportEndOfLife: UBUNTU_16_04_END,
  }),
  linux('Canonical', 'UbuntuServer', '18.04-LTS', 'batch.node.ubuntu 18.04', {
    batchSupportEndOfLife: UBUNTU_18_04_END,
  }),
  linux('canonical', '0001-com-ubuntu-server-focal', '20_04-lts', 'batch.node.ubuntu 20.04', {
    batchSupportEndOfLife: UBUNTU_20_04_END,
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
    batchSupportEndOfLife: UBUNTU_20_04_END,
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

/**
 * When Batch retired a node agent SKU: the latest `batchSupportEndOfLife` of its catalog entries if every one of
 * them has one, else undefined (still supported).
 */
export function skuEndOfLife(skuId: string): string | undefined {
  const entries = BASE_IMAGES.filter((i) => i.nodeAgentSkuId.toLowerCase() === skuId.toLowerCase());
  const ends = entries.map((i) => i.batchSupportEndOfLife);
  if (entries.length === 0 || ends.some((e) => e === undefined)) return undefined;
  return (ends as string[]).sort().at(-1);
}
