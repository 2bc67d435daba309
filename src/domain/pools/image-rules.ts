import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';
import { isPermitted, type Caller } from '../authorization/access.ts';
import { parseComputeId } from '../compute/common.ts';
import { resolveLatest } from '../compute/versions.ts';
import { DomainError } from '../errors.ts';
import { catalogKey, findCatalogEntry } from '../images/base-images.ts';
import { BASE_IMAGES, nodeAgentSkus, skuEndOfLife } from '../images/catalog.ts';
import { providerRegistered } from '../resources/resources.ts';
import { invalidProperty } from './pool-spec.ts';

/** How the request reaching the pool was authenticated (Batch's rules differ for SharedKey). */
export type PoolCaller = { scheme: 'SharedKey' } | { scheme: 'AAD'; caller: Caller };

export interface PoolAccount {
  subscriptionId: string;
  tenantId: string;
  location: string;
}

/** What a pool's image reference resolved to. */
export interface PoolImage {
  kind: 'marketplace' | 'gallery' | 'managed';
  /** The resource that supplies the bytes (gallery version or managed image); undefined for marketplace. */
  resource: ComputeResourceRecord | undefined;
  exactVersion: string | undefined;
  /** Whether a completed replica (or the image itself) is in the account's region; if not, allocation fails. */
  inAccountRegion: boolean;
}

/** `strict`: refuse pools whose node agent SKU Batch retired, as Azure does today (ADR 0028). */
export interface ImageSupportPolicy {
  strict: boolean;
}

const SHARED_KEY_REFUSED =
  'The specified type of authentication SharedKey is not allowed when external resources of type Compute are linked.';

/**
 * The node agent SKU must exist (404 `NodeAgentSKUNotFound`) and fit the image's OS and distribution (R9): an image
 * derived from a catalog entry runs that entry's SKU, whose OS its /etc/os-release was checked against when the
 * entry got its root file system. A SKU past its Batch support end of life is refused when `policy.strict` (the
 * pool service warns about it otherwise, once the pool is stored).
 */
function checkNodeAgent(
  skuId: string,
  image: { osType: string; baseKey: string | undefined },
  now: Date,
  policy: ImageSupportPolicy,
): void {
  const sku = nodeAgentSkus().find((s) => s.id.toLowerCase() === skuId.toLowerCase());
  if (!sku) {
    throw new DomainError(
      'not-found',
      'NodeAgentSKUNotFound',
      `The specified node agent SKU '${skuId}' does not exist.`,
      { values: { NodeAgentSKUId: skuId } },
    );
  }
  if (sku.osType !== image.osType.toLowerCase()) {
    throw invalidProperty(
      'nodeAgentSKUId',
      `The node agent SKU '${skuId}' is for ${sku.osType} but the image's OS type is ${image.osType}.`,
    );
  }
  const base =
    image.baseKey === undefined ? undefined : BASE_IMAGES.find((b) => catalogKey(b) === image.baseKey);
  if (base && base.nodeAgentSkuId.toLowerCase() !== skuId.toLowerCase()) {
    throw invalidProperty(
      'nodeAgentSKUId',
      `The image derives from '${image.baseKey}', whose /etc/os-release is that of node agent SKU '${base.nodeAgentSkuId}', not '${skuId}'.`,
    );
  }
  const endOfLife = skuEndOfLife(sku.id);
  if (endOfLife !== undefined && Date.parse(endOfLife) <= now.getTime() && policy.strict) {
    throw invalidProperty(
      'nodeAgentSKUId',
      `The node agent SKU '${sku.id}' reached its Batch support end of life on ${endOfLife.slice(0, 10)}; pools can no longer be created with it.`,
    );
  }
}

/** R3: an image whose history has VM extensions, an encrypted OS disk or a purchase-plan base cannot make pools. */
function checkLineage(image: ComputeResourceRecord): void {
  const l = image.lineage;
  const property = 'virtualMachineImageId';
  if (Array.isArray(l.extensions) && l.extensions.length > 0) {
    throw invalidProperty(
      property,
      `The image was made from a VM with extensions installed (${(l.extensions as string[]).join(', ')}); images for Batch pools must not carry VM extensions.`,
    );
  }
  if (l.osDiskEncrypted === true)
    throw invalidProperty(
      property,
      'The image was made from a VM whose OS disk is encrypted; Batch pools need an unencrypted OS disk image.',
    );
  if (l.purchasePlan !== undefined && l.purchasePlan !== null) {
    throw invalidProperty(
      property,
      'The image derives from a third-party base image with a purchase plan; only first-party base images can make custom images for Batch.',
    );
  }
}

/** R11/R12: Entra ID only, same tenant, Microsoft.Batch registered where the image lives, and a role that can read it. */
async function checkImageAccess(tx: StoreTx, who: PoolCaller, account: PoolAccount, id: string) {
  const property = 'virtualMachineImageId';
  if (who.scheme === 'SharedKey')
    throw new DomainError('forbidden', 'AuthenticationFailed', SHARED_KEY_REFUSED, {
      values: { AuthenticationErrorDetail: SHARED_KEY_REFUSED },
    });
  const a = parseComputeId(id, property);
  if (a.subscriptionId.toLowerCase() !== account.subscriptionId.toLowerCase()) {
    const other = await tx.findSubscription(a.subscriptionId);
    if (!other || other.tenantId !== account.tenantId.toLowerCase())
      throw invalidProperty(
        property,
        `The image's subscription '${a.subscriptionId}' is not in the Batch account's tenant.`,
      );
    if (!(await providerRegistered(tx, a.subscriptionId, 'Microsoft.Batch'))) {
      throw invalidProperty(
        property,
        `The image's subscription '${a.subscriptionId}' must have the Microsoft.Batch resource provider registered.`,
      );
    }
  }
  if (
    !(await isPermitted(
      tx,
      who.caller,
      `Microsoft.Compute/${a.segments.map((s) => s.type).join('/')}/read`,
      id,
    ))
  ) {
    throw new DomainError(
      'forbidden',
      'AuthorizationFailed',
      `The client '${who.caller.appId}' with object id '${who.caller.objectId}' has no role assignment that allows reading the image '${id}'.`,
      {
        values: { ImageId: id },
      },
    );
  }
  return a;
}

/** Looks up the image a `virtualMachineImageId` names and applies R10–R12 and R3; see PoolImage. */
async function customImage(
  tx: StoreTx,
  who: PoolCaller,
  account: PoolAccount,
  id: string,
  now: Date,
): Promise<{ image: PoolImage; osType: string; baseKey: string | undefined }> {
  const property = 'virtualMachineImageId';
  const a = await checkImageAccess(tx, who, account, id);
  let resource = await tx.findComputeResource(id.startsWith('/') ? id : `/${id}`);
  if (!resource) throw invalidProperty(property, `The image '${id}' does not exist.`);
  const type = resource.type.toLowerCase();
  let definition: ComputeResourceRecord | undefined;
  if (type === 'microsoft.compute/galleries/images') {
    definition = resource;
    const versions = await tx.listComputeResources(
      a.subscriptionId,
      'Microsoft.Compute/galleries/images/versions',
      { parentId: resource.id },
    );
    resource =
      resolveLatest(versions, account.location, now) ??
      versions.find((v) => v.properties.provisioningState === 'Succeeded');
    if (!resource) throw invalidProperty(property, `Image definition '${definition.name}' has no version.`);
  } else if (type === 'microsoft.compute/galleries/images/versions') {
    definition = resource.parentId === null ? undefined : await tx.findComputeResource(resource.parentId);
  } else if (type !== 'microsoft.compute/images') {
    throw invalidProperty(
      property,
      `'${id}' is not a gallery image, gallery image version or managed image.`,
    );
  }
  if (definition && definition.properties.osState !== 'Generalized') {
    throw invalidProperty(
      property,
      `Image definition '${definition.name}' is Specialized; only Generalized images can make Batch pools.`,
    );
  }
  if (type === 'microsoft.compute/images' && resource.lineage.osState === 'Specialized') {
    throw invalidProperty(
      property,
      `The managed image '${resource.name}' is Specialized; only Generalized images can make Batch pools.`,
    );
  }
  checkLineage(resource);
  const gallery = type !== 'microsoft.compute/images';
  const inAccountRegion = gallery
    ? (await tx.listReplicas(resource.id)).some(
        (r) => r.region === account.location && r.state === 'Completed',
      )
    : resource.content?.region === account.location;
  const declared = definition?.properties.osType;
  const osType = typeof declared === 'string' ? declared : 'Linux';
  const baseKey = typeof resource.lineage.baseImage === 'string' ? resource.lineage.baseImage : undefined;
  return {
    image: {
      kind: gallery ? 'gallery' : 'managed',
      resource,
      exactVersion: gallery ? resource.name : undefined,
      inAccountRegion,
    },
    osType,
    baseKey,
  };
}

/**
 * Resolves and checks a pool's `virtualMachineConfiguration` image: a marketplace reference or a
 * `virtualMachineImageId` (gallery version, image definition = latest, or managed image), with the Batch rules
 * R3, R9–R12 and the errors the service gives for each.
 */
export async function resolvePoolImage(
  tx: StoreTx,
  who: PoolCaller,
  account: PoolAccount,
  config: { imageReference?: Record<string, unknown>; nodeAgentSKUId?: unknown },
  now: Date,
  policy: ImageSupportPolicy = { strict: false },
): Promise<PoolImage> {
  const ref = config.imageReference ?? {};
  const skuId = typeof config.nodeAgentSKUId === 'string' ? config.nodeAgentSKUId : '';
  const id = ref.virtualMachineImageId;
  if (typeof id === 'string' && id !== '') {
    if (['publisher', 'offer', 'sku', 'version'].some((k) => ref[k] !== undefined)) {
      throw invalidProperty(
        'imageReference',
        'virtualMachineImageId cannot be combined with publisher, offer, sku or version.',
      );
    }
    const { image, osType, baseKey } = await customImage(tx, who, account, id, now);
    checkNodeAgent(skuId, { osType, baseKey }, now, policy);
    return image;
  }
  for (const k of ['publisher', 'offer', 'sku'] as const) {
    if (typeof ref[k] !== 'string')
      throw invalidProperty(
        `imageReference.${k}`,
        `imageReference.${k} is required unless virtualMachineImageId is given.`,
      );
  }
  const entry = findCatalogEntry(
    catalogKey({ publisher: String(ref.publisher), offer: String(ref.offer), sku: String(ref.sku) }),
  );
  checkNodeAgent(skuId, { osType: entry.osType, baseKey: catalogKey(entry) }, now, policy);
  return { kind: 'marketplace', resource: undefined, exactVersion: undefined, inAccountRegion: true };
}
