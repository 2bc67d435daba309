import { DomainError } from '../../domain/errors.ts';
import type { ComputeAddress } from '../../domain/compute/common.ts';
import type { ComputeResourceRecord } from '../../domain/records.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmRequest, ArmResponse, ArmRoute } from './router.ts';
import { validateArmBody } from './validation.ts';

const COMPUTE =
  '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute';
const SPEC = {
  gallery: 'compute/resource-manager/Microsoft.Compute/GalleryRP/stable/2022-03-03/gallery.json',
  disk: 'compute/resource-manager/Microsoft.Compute/DiskRP/stable/2022-07-02/disk.json',
  snapshot: 'compute/resource-manager/Microsoft.Compute/DiskRP/stable/2022-07-02/snapshot.json',
  image: 'compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2022-11-01/image.json',
} as const;

/** Compute record → ARM JSON (internal content and lineage never leave the server). */
export function computeToWire(r: ComputeResourceRecord, replicationStatus?: unknown) {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    location: r.location,
    tags: r.tags,
    ...(r.sku === null ? {} : { sku: r.sku }),
    properties: { ...r.properties, ...(replicationStatus === undefined ? {} : { replicationStatus }) },
  };
}

/** `galleries/{g}/images/{i}` style type/name pairs from the matched params. */
function address(params: Record<string, string>, types: string[]): ComputeAddress {
  const names = ['name0', 'name1', 'name2'];
  return {
    subscriptionId: params.subscriptionId ?? '',
    resourceGroup: params.resourceGroupName ?? '',
    segments: types.map((type, i) => ({ type, name: params[names[i] ?? ''] ?? '' })),
  };
}

function pattern(types: string[]): string {
  return `${COMPUTE}/${types.map((t, i) => `${t}/{name${i}}`).join('/')}`;
}

/** GET one, GET list (group and, for top-level types, subscription), DELETE — the same for every type. */
function commonRoutes(deps: ArmDeps, types: string[]): ArmRoute[] {
  const type = `Microsoft.Compute/${types.join('/')}`;
  const listPattern = `${COMPUTE}/${types.map((t, i) => (i < types.length - 1 ? `${t}/{name${i}}` : t)).join('/')}`;
  const routes: ArmRoute[] = [
    {
      method: 'GET',
      pattern: pattern(types),
      handler: async ({ caller, params, query }) => {
        const { resource, replicationStatus } = await deps.computeQueries.get(caller, address(params, types));
        const expand = (query.$expand ?? '').toLowerCase() === 'replicationstatus';
        return {
          status: 200,
          body: computeToWire(resource, expand && types.length === 3 ? replicationStatus : undefined),
        };
      },
    },
    {
      method: 'DELETE',
      pattern: pattern(types),
      handler: async ({ caller, params }) => ({
        status: (await deps.computeQueries.delete(caller, address(params, types))) ? 200 : 204,
      }),
    },
    {
      method: 'GET',
      pattern: listPattern,
      handler: async ({ caller, params }) => {
        const parentTypes = types.slice(0, -1);
        const scope =
          parentTypes.length > 0
            ? { parent: address(params, parentTypes) }
            : { resourceGroup: params.resourceGroupName ?? '' };
        const list = await deps.computeQueries.list(caller, params.subscriptionId ?? '', type, scope);
        return { status: 200, body: { value: list.map((r) => computeToWire(r)) } };
      },
    },
  ];
  if (types.length === 1) {
    routes.push({
      method: 'GET',
      pattern: `/subscriptions/{subscriptionId}/providers/Microsoft.Compute/${types[0] ?? ''}`,
      handler: async ({ caller, params }) => {
        const list = await deps.computeQueries.list(caller, params.subscriptionId ?? '', type, {});
        return { status: 200, body: { value: list.map((r) => computeToWire(r)) } };
      },
    });
  }
  return routes;
}

type Writer = (
  req: ArmRequest,
  body: Record<string, unknown>,
) => Promise<{ resource: ComputeResourceRecord; created: boolean; operationId?: string }>;

/** The Azure-AsyncOperation URL a client polls for `operationId` (its location is the resource's). */
function asyncOperationUrl(deps: ArmDeps, req: ArmRequest, location: string, operationId: string): string {
  const apiVersion = req.query['api-version'] ?? '2022-03-03';
  return `${deps.publicOrigin()}/subscriptions/${req.params.subscriptionId ?? ''}/providers/Microsoft.Compute/locations/${location}/operations/${operationId}?api-version=${apiVersion}`;
}

/**
 * PUT answering 201 on create and 200 on update, or always 200 where the swagger allows only 200|202
 * (disks and snapshots; az's msrest rejects a 201 there). A write still in progress (provisioningState
 * Creating/Updating) carries an Azure-AsyncOperation to poll, as Azure's do.
 */
function putRoute(
  deps: ArmDeps,
  types: string[],
  spec: string,
  definition: string,
  write: Writer,
  createdStatus = 201,
): ArmRoute {
  return {
    method: 'PUT',
    pattern: pattern(types),
    handler: async (req) => {
      const body = validateArmBody(deps.specs, spec, definition, req.body);
      const { resource, created, operationId } = await write(req, body);
      const state = resource.properties.provisioningState;
      const polling =
        operationId !== undefined && (state === 'Creating' || state === 'Updating')
          ? {
              headers: {
                'azure-asyncoperation': asyncOperationUrl(deps, req, resource.location, operationId),
                'retry-after': '1',
              },
            }
          : {};
      return { status: created ? createdStatus : 200, ...polling, body: computeToWire(resource) };
    },
  };
}

/** PUT/PATCH of a version: 201/200 with provisioningState Creating/Updating and an Azure-AsyncOperation to poll. */
async function putVersion(deps: ArmDeps, req: ArmRequest, patch: boolean): Promise<ArmResponse> {
  const types = ['galleries', 'images', 'versions'];
  const a = address(req.params, types);
  const body = patch
    ? ((req.body as Record<string, unknown> | undefined) ?? {})
    : validateArmBody(deps.specs, SPEC.gallery, 'GalleryImageVersion', req.body);
  if (patch) {
    const { resource } = await deps.computeQueries.get(req.caller, a);
    body.location = resource.location;
  }
  const { version, operationId, created } = await deps.gallery.putVersion(req.caller, a, body);
  const op = asyncOperationUrl(deps, req, version.location, operationId);
  return {
    status: created && !patch ? 201 : 200,
    headers: { 'azure-asyncoperation': op, 'retry-after': '1' },
    body: computeToWire(version),
  };
}

/** Microsoft.Compute: galleries, image definitions, versions (with replication), disks, snapshots, images. */
export function computeRoutes(deps: ArmDeps): ArmRoute[] {
  const g = ['galleries'];
  const gi = ['galleries', 'images'];
  const giv = ['galleries', 'images', 'versions'];
  return [
    putRoute(deps, g, SPEC.gallery, 'Gallery', (req, body) =>
      deps.gallery.putGallery(req.caller, address(req.params, g), body),
    ),
    putRoute(deps, gi, SPEC.gallery, 'GalleryImage', (req, body) =>
      deps.gallery.putDefinition(req.caller, address(req.params, gi), body),
    ),
    { method: 'PUT', pattern: pattern(giv), handler: (req) => putVersion(deps, req, false) },
    { method: 'PATCH', pattern: pattern(giv), handler: (req) => putVersion(deps, req, true) },
    putRoute(
      deps,
      ['disks'],
      SPEC.disk,
      'Disk',
      (req, body) => deps.disks.putDiskOrSnapshot(req.caller, address(req.params, ['disks']), body),
      200,
    ),
    putRoute(
      deps,
      ['snapshots'],
      SPEC.snapshot,
      'Snapshot',
      (req, body) => deps.disks.putDiskOrSnapshot(req.caller, address(req.params, ['snapshots']), body),
      200,
    ),
    putRoute(deps, ['images'], SPEC.image, 'Image', (req, body) =>
      deps.disks.putImage(req.caller, address(req.params, ['images']), body),
    ),
    ...[g, gi, giv, ['disks'], ['snapshots'], ['images']].flatMap((types) => commonRoutes(deps, types)),
    {
      method: 'GET',
      pattern:
        '/subscriptions/{subscriptionId}/providers/Microsoft.Compute/locations/{location}/operations/{operationId}',
      handler: async ({ caller, params }) => ({
        status: 200,
        body: await operationStatus(deps, caller, params.operationId ?? ''),
      }),
    },
  ];
}

async function operationStatus(deps: ArmDeps, caller: ArmRequest['caller'], id: string) {
  const op = await deps.gallery.operation(caller, id);
  if (!op) throw new DomainError('not-found', 'NotFound', `The operation '${id}' was not found.`);
  const base = { name: op.id, startTime: op.startTime };
  switch (op.state) {
    case 'Succeeded':
      return { ...base, status: 'Succeeded', endTime: op.endTime };
    case 'Failed':
      return { ...base, status: 'Failed', endTime: op.endTime, error: op.error };
    case 'InProgress':
      return { ...base, status: 'InProgress' };
  }
}
