import { notFound } from '../../domain/errors.ts';
import { BASE_IMAGES, type CatalogImage } from '../../domain/images/catalog.ts';
import { requireKnownLocation } from '../../domain/locations.ts';
import type { ArmRoute } from './router.ts';

const BASE = '/subscriptions/{subscriptionId}/providers/Microsoft.Compute/locations/{location}/publishers';
/** Catalog entries carry `latest`; ARM lists concrete versions, so each entry shows this one. */
export const PLATFORM_IMAGE_VERSION = '1.0.0';

const eq = (a: string, b: string | undefined) => a.toLowerCase() === (b ?? '').toLowerCase();

function entries(p: Record<string, string>, depth: number): CatalogImage[] {
  const keys = ['publisher', 'offer', 'sku'] as const;
  const found = BASE_IMAGES.filter((i) => keys.slice(0, depth).every((k) => eq(i[k], p[k])));
  if (found.length === 0) throw notFound('NotFound', 'Artifact: VMImage was not found.');
  return found;
}

/** VirtualMachineImageResource list entries, de-duplicated by name. */
function list(p: Record<string, string>, names: string[], path: (n: string) => string) {
  const location = requireKnownLocation(p.location, 'location');
  return [...new Set(names)].map((name) => ({
    name,
    location,
    id: `/Subscriptions/${p.subscriptionId ?? ''}/Providers/Microsoft.Compute/Locations/${location}/Publishers/${path(name)}`,
  }));
}

/** One platform image version: OS type, generation and (for third-party bases) its purchase plan. */
function showVersion(params: Record<string, string>) {
  const [image] = entries(params, 3);
  if (!image || !(eq(params.version ?? '', PLATFORM_IMAGE_VERSION) || eq(params.version ?? '', 'latest'))) {
    throw notFound('NotFound', 'Artifact: VMImage was not found.');
  }
  const [entry] = list(
    params,
    [PLATFORM_IMAGE_VERSION],
    (n) => `${image.publisher}/ArtifactTypes/VMImage/Offers/${image.offer}/Skus/${image.sku}/Versions/${n}`,
  );
  return {
    ...entry,
    properties: {
      osDiskImage: { operatingSystem: image.osType === 'linux' ? 'Linux' : 'Windows' },
      dataDiskImages: [],
      hyperVGeneration: 'V1',
      architecture: 'x64',
      automaticOSUpgradeProperties: { automaticOSUpgradeSupported: false },
      ...(image.purchasePlan ? { plan: image.purchasePlan } : {}),
    },
  };
}

/** Platform image look-ups (`az vm image list/show`, disk `FromImage` references), from the Batch catalog (R1). */
export function vmImageRoutes(): ArmRoute[] {
  const ok = (body: unknown) => Promise.resolve({ status: 200, body });
  return [
    {
      method: 'GET',
      pattern: BASE,
      handler: ({ params }) =>
        ok(
          list(
            params,
            BASE_IMAGES.map((i) => i.publisher),
            (n) => n,
          ),
        ),
    },
    {
      method: 'GET',
      pattern: `${BASE}/{publisher}/artifacttypes/vmimage/offers`,
      handler: ({ params }) =>
        ok(
          list(
            params,
            entries(params, 1).map((i) => i.offer),
            (n) => `${params.publisher ?? ''}/ArtifactTypes/VMImage/Offers/${n}`,
          ),
        ),
    },
    {
      method: 'GET',
      pattern: `${BASE}/{publisher}/artifacttypes/vmimage/offers/{offer}/skus`,
      handler: ({ params }) =>
        ok(
          list(
            params,
            entries(params, 2).map((i) => i.sku),
            (n) => `${params.publisher ?? ''}/ArtifactTypes/VMImage/Offers/${params.offer ?? ''}/Skus/${n}`,
          ),
        ),
    },
    {
      method: 'GET',
      pattern: `${BASE}/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions`,
      handler: ({ params }) => {
        entries(params, 3);
        return ok(
          list(
            params,
            [PLATFORM_IMAGE_VERSION],
            (n) =>
              `${params.publisher ?? ''}/ArtifactTypes/VMImage/Offers/${params.offer ?? ''}/Skus/${params.sku ?? ''}/Versions/${n}`,
          ),
        );
      },
    },
    {
      method: 'GET',
      pattern: `${BASE}/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions/{version}`,
      handler: ({ params }) => ok(showVersion(params)),
    },
  ];
}
