import { randomUUID } from 'node:crypto';
import type { Digest } from '../../content/blob-store.ts';
import { putManifest, type Manifest } from '../../content/manifests.ts';
import type { RegionStores } from '../../content/regions.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord, ContentRef } from '../../storage/records.ts';
import { requirePermission, type Caller } from '../authorization/access.ts';
import { scopeSubscription } from '../authorization/scopes.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { conflict, invalidInput } from '../errors.ts';
import {
  authorizeRead,
  authorizeWrite,
  computeId,
  obj,
  parseComputeId,
  record,
  requireName,
  requireResource,
  type ComputeAddress,
} from './common.ts';
import { failureOf } from './pending-writes.ts';
import { parseVersionName, targetRegions } from './versions.ts';

const GALLERY_NAME = /^[A-Za-z0-9]([A-Za-z0-9._]{0,78}[A-Za-z0-9])?$/;

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  const hit = allowed.find((a) => typeof value === 'string' && a.toLowerCase() === value.toLowerCase());
  if (hit === undefined) {
    throw invalidInput(
      'InvalidParameter',
      `'${field}' must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}.`,
      field,
    );
  }
  return hit;
}

export interface VersionWrite {
  version: ComputeResourceRecord;
  operationId: string;
  created: boolean;
}

/** Galleries, image definitions and image versions (R6, R7). */
export class GalleryService {
  private readonly ctx: DomainContext;
  private readonly regions: RegionStores;
  constructor(ctx: DomainContext, regions: RegionStores) {
    this.ctx = ctx;
    this.regions = regions;
  }

  putGallery(caller: Caller, a: ComputeAddress, body: Record<string, unknown>) {
    requireName(a.segments[0]?.name ?? '', 'gallery', 'galleryName', GALLERY_NAME);
    return this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      const existing = await tx.findComputeResource(computeId(a));
      const props = obj(body.properties);
      const gallery = record(this.ctx, a, body, existing, {
        properties: {
          ...obj(existing?.properties),
          ...(props.description === undefined ? {} : { description: props.description }),
          identifier: { uniqueName: `${a.subscriptionId}-${(a.segments[0]?.name ?? '').toUpperCase()}` },
          sharingProfile: { permissions: 'Private' },
          provisioningState: 'Succeeded',
        },
      });
      await tx.putComputeResource(gallery);
      return { resource: gallery, created: !existing };
    });
  }

  putDefinition(caller: Caller, a: ComputeAddress, body: Record<string, unknown>) {
    requireName(a.segments[1]?.name ?? '', 'gallery image', 'galleryImageName');
    const props = obj(body.properties);
    const identifier = obj(props.identifier);
    for (const f of ['publisher', 'offer', 'sku'] as const) {
      if (typeof identifier[f] !== 'string' || identifier[f] === '') {
        throw invalidInput(
          'InvalidParameter',
          `'properties.identifier.${f}' is required.`,
          `properties.identifier.${f}`,
        );
      }
    }
    const osType = oneOf(props.osType, ['Linux', 'Windows'], 'properties.osType');
    const osState = oneOf(props.osState, ['Generalized', 'Specialized'], 'properties.osState');
    const hyperVGeneration =
      props.hyperVGeneration === undefined
        ? 'V1'
        : oneOf(props.hyperVGeneration, ['V1', 'V2'], 'properties.hyperVGeneration');
    return this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      const gallery = await requireResource(tx, { ...a, segments: a.segments.slice(0, 1) });
      const existing = await tx.findComputeResource(computeId(a));
      const key = (i: Record<string, unknown>) =>
        ['publisher', 'offer', 'sku'].map((f) => String(i[f]).toLowerCase()).join('/');
      const siblings = await tx.listComputeResources(a.subscriptionId, 'Microsoft.Compute/galleries/images', {
        parentId: gallery.id,
      });
      const twin = siblings.find(
        (s) =>
          s.id.toLowerCase() !== computeId(a).toLowerCase() &&
          key(obj(s.properties.identifier)) === key(identifier),
      );
      if (twin) {
        throw conflict(
          'Conflict',
          `The gallery image identifier '${key(identifier)}' is already used by '${twin.name}' in gallery '${gallery.name}'.`,
          'properties.identifier',
        );
      }
      const definition = record(this.ctx, a, body, existing, {
        properties: {
          ...props,
          osType,
          osState,
          hyperVGeneration,
          identifier,
          provisioningState: 'Succeeded',
        },
      });
      await tx.putComputeResource(definition);
      return { resource: definition, created: !existing };
    });
  }

  /**
   * An operation's state, read from the resource it writes: a version follows its replicas (deleted → failed), a
   * disk, snapshot or image its reserved write (`Failed` carries the write's error).
   */
  operation(caller: Caller, id: string) {
    return this.ctx.store.transaction(async (tx) => {
      const op = await tx.findOperation(id);
      if (!op) return undefined;
      await requirePermission(
        tx,
        caller,
        'Microsoft.Compute/locations/operations/read',
        `/subscriptions/${scopeSubscription(op.resourceId) ?? ''}`,
      );
      const resource = await tx.findComputeResource(op.resourceId);
      const base = { id: op.id, startTime: op.startTime, endTime: resource?.updatedAt ?? isoNow(this.ctx) };
      const gone = { code: 'NotFound', message: 'The resource no longer exists.' };
      if (op.kind === 'write') {
        const state = resource?.properties.provisioningState;
        if (!resource || state === 'Failed')
          return { ...base, state: 'Failed' as const, error: (resource && failureOf(resource)) ?? gone };
        return { ...base, state: state === 'Succeeded' ? ('Succeeded' as const) : ('InProgress' as const) };
      }
      const failed = (await tx.listReplicas(op.resourceId)).find((r) => r.state === 'Failed');
      if (!resource || failed)
        return {
          ...base,
          state: 'Failed' as const,
          error: failed
            ? {
                code: 'ReplicationFailed',
                message: `Replication to ${failed.region} failed: ${failed.details}`,
              }
            : { code: 'ReplicationFailed', message: 'The image version no longer exists.' },
        };
      return {
        ...base,
        state:
          resource.properties.provisioningState === 'Succeeded'
            ? ('Succeeded' as const)
            : ('InProgress' as const),
      };
    });
  }

  /**
   * Writes the image manifest a new version assembles from disks before the version's transaction (a read-only
   * one finds the sources): content-addressed, so the transaction's own write then finds it in place.
   */
  private async prewriteManifest(caller: Caller, a: ComputeAddress, body: Record<string, unknown>) {
    const sources = await this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      const definition = await requireResource(tx, { ...a, segments: a.segments.slice(0, 2) });
      if ((await tx.findComputeResource(computeId(a)))?.content) return undefined;
      return this.versionSources(tx, caller, definition, obj(obj(body.properties).storageProfile));
    });
    if (sources && 'image' in sources)
      await putManifest(await this.regions.get(sources.region), sources.image);
  }

  /** Creates or updates a version; replication to its target regions then runs in the background. */
  async putVersion(caller: Caller, a: ComputeAddress, body: Record<string, unknown>): Promise<VersionWrite> {
    parseVersionName(a.segments[2]?.name ?? '');
    await this.prewriteManifest(caller, a, body);
    return this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      const definition = await requireResource(tx, { ...a, segments: a.segments.slice(0, 2) });
      const existing = await tx.findComputeResource(computeId(a));
      const props = obj(body.properties);
      const location = record(this.ctx, a, body, existing, { properties: {} }).location;
      const profile = obj(props.publishingProfile ?? existing?.properties.publishingProfile);
      const targets = targetRegions(profile, location, this.regions);
      const content = existing?.content
        ? { ref: existing.content, lineage: existing.lineage }
        : await this.versionContent(tx, caller, definition, obj(props.storageProfile));
      const version = record(this.ctx, a, body, existing, {
        properties: {
          publishingProfile: {
            ...profile,
            targetRegions: targets,
            replicaCount: profile.replicaCount ?? 1,
            storageAccountType: profile.storageAccountType ?? 'Standard_LRS',
            publishedDate: existing
              ? obj(existing.properties.publishingProfile).publishedDate
              : isoNow(this.ctx),
            excludeFromLatest: profile.excludeFromLatest === true,
          },
          storageProfile: existing?.properties.storageProfile ?? obj(props.storageProfile),
          safetyProfile: { allowDeletionOfReplicatedLocations: true },
          provisioningState: existing ? 'Updating' : 'Creating',
        },
        content: content.ref,
        lineage: content.lineage,
      });
      await tx.putComputeResource(version);
      await this.syncReplicas(
        tx,
        version,
        targets.map((t) => ({ name: t.name, count: t.regionalReplicaCount })),
      );
      if ((await tx.listReplicas(version.id)).every((r) => r.state === 'Completed')) {
        version.properties.provisioningState = 'Succeeded';
        await tx.putComputeResource(version);
      }
      const operationId = randomUUID();
      await tx.putOperation({
        id: operationId,
        resourceId: version.id,
        kind: 'put',
        startTime: isoNow(this.ctx),
      });
      return { version, operationId, created: !existing };
    });
  }

  /** Adds replica rows for new target regions, drops removed ones, keeps progress of unchanged ones. */
  private async syncReplicas(
    tx: StoreTx,
    version: ComputeResourceRecord,
    targets: { name: string; count: number }[],
  ): Promise<void> {
    const current = await tx.listReplicas(version.id);
    for (const r of current)
      if (!targets.some((t) => t.name === r.region)) await tx.deleteReplica(version.id, r.region);
    for (const t of targets) {
      const have = current.find((r) => r.region === t.name);
      await tx.putReplica(
        have
          ? { ...have, replicaCount: t.count, updatedAt: isoNow(this.ctx) }
          : {
              versionId: version.id,
              region: t.name,
              replicaCount: t.count,
              state: 'Replicating',
              bytesDone: 0,
              bytesTotal: 0,
              details: '',
              updatedAt: isoNow(this.ctx),
            },
      );
    }
  }

  /** The version's bytes (inside its transaction, where the manifest write finds the pre-written blob). */
  private async versionContent(
    tx: StoreTx,
    caller: Caller,
    definition: ComputeResourceRecord,
    storage: Record<string, unknown>,
  ) {
    const sources = await this.versionSources(tx, caller, definition, storage);
    if (!('image' in sources)) return sources;
    const manifest = await putManifest(await this.regions.get(sources.region), sources.image);
    return { ref: { manifest, region: sources.region }, lineage: sources.lineage };
  }

  /** A managed image or another version as is, or snapshots/disks to assemble into an image manifest. */
  private async versionSources(
    tx: StoreTx,
    caller: Caller,
    definition: ComputeResourceRecord,
    storage: Record<string, unknown>,
  ): Promise<
    | { ref: ContentRef; lineage: Record<string, unknown> }
    | { image: Manifest; region: string; lineage: Record<string, unknown> }
  > {
    const sourceId = obj(storage.source).id;
    const osSourceId = obj(obj(storage.osDiskImage).source).id;
    const load = async (id: unknown, field: string) => {
      if (typeof id !== 'string')
        throw invalidInput('InvalidParameter', `'${field}' must be a resource id.`, field);
      const addr = parseComputeId(id, field);
      await authorizeRead(tx, caller, addr);
      const res = await requireResource(tx, addr, field);
      if (!res.content) throw invalidInput('InvalidParameter', `'${id}' has no content yet.`, field);
      return res;
    };
    if (typeof sourceId === 'string') {
      const src = await load(sourceId, 'properties.storageProfile.source.id');
      const srcState = obj(obj(src.properties.storageProfile).osDisk).osState ?? src.lineage.osState;
      if (typeof srcState === 'string' && srcState !== definition.properties.osState) {
        throw invalidInput(
          'InvalidParameter',
          `The source is ${srcState} but image definition '${definition.name}' is ${String(definition.properties.osState)}.`,
          'properties.storageProfile.source.id',
        );
      }
      return { ref: src.content as ContentRef, lineage: src.lineage };
    }
    if (osSourceId === undefined) {
      throw invalidInput(
        'InvalidParameter',
        "Either 'properties.storageProfile.source.id' or 'properties.storageProfile.osDiskImage.source.id' is required.",
        'properties.storageProfile',
      );
    }
    const os = await load(osSourceId, 'properties.storageProfile.osDiskImage.source.id');
    const region = (os.content as ContentRef).region;
    const dataDisks: { lun: number; disk: Digest }[] = [];
    for (const [i, d] of (Array.isArray(storage.dataDiskImages) ? storage.dataDiskImages : []).entries()) {
      const field = `properties.storageProfile.dataDiskImages[${i}]`;
      const lun = obj(d).lun;
      if (typeof lun !== 'number' || dataDisks.some((x) => x.lun === lun))
        throw invalidInput('InvalidParameter', 'Data disk luns must be unique integers.', `${field}.lun`);
      const src = await load(obj(obj(d).source).id, `${field}.source.id`);
      if (src.content?.region !== region)
        throw invalidInput(
          'InvalidParameter',
          'All source disks must be in the same region.',
          `${field}.source.id`,
        );
      dataDisks.push({ lun, disk: src.content.manifest as Digest });
    }
    return {
      image: { kind: 'image', osDisk: (os.content as ContentRef).manifest as Digest, dataDisks },
      region,
      lineage: { ...os.lineage, osState: definition.properties.osState },
    };
  }
}
