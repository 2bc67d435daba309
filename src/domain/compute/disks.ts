import type { RegionStores } from '../../content/regions.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';
import type { Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { conflict, invalidInput } from '../errors.ts';
import type { VmService } from './vms.ts';
import { DEFAULT_DOWNLOAD_LIMITS } from '../../content/download.ts';
import { storageAccountForBlob, type StorageBackings } from '../storage/storage-accounts.ts';
import type { BaseImageService } from '../images/base-images.ts';
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
import {
  checkBlobUri,
  ContentWriter,
  needsNoIo,
  type ContentPlan,
  type ContentProducer,
} from './content-writer.ts';
import { PendingWrites, pendingOf, type PendingWritesOptions } from './pending-writes.ts';

const PLATFORM_IMAGE =
  /\/Publishers\/([^/]+)\/ArtifactTypes\/VMImage\/Offers\/([^/]+)\/Skus\/([^/]+)\/Versions\/([^/]+)$/i;
const GIB = 1024 * 1024 * 1024;

/** What a disk, snapshot or image PUT answers: the record, and the operation to poll while it is in progress. */
export interface ComputeWrite {
  resource: ComputeResourceRecord;
  created: boolean;
  operationId?: string;
}

/** A source disk or snapshot as a plan: as it is when the write runs when a VM holds it, else its content. */
function sourcePlan(src: ComputeResourceRecord, field: string): ContentPlan {
  const owner = src.properties.managedBy;
  if (typeof owner === 'string' && owner !== '') return { kind: 'disk', id: src.id };
  if (!src.content) throw invalidInput('InvalidParameter', `'${src.id}' has no content yet.`, field);
  return { kind: 'stored', ref: src.content };
}

/**
 * Managed disks, snapshots and managed images (R4, R5): records that point at content manifests. A write checks
 * and reserves in one transaction, then captures, copies or imports outside it (`PendingWrites`).
 */
export class DiskService {
  private readonly ctx: DomainContext;
  private readonly baseImages: BaseImageService;
  private readonly uploads: string;
  private readonly writes: PendingWrites;
  /** Storage accounts' blob endpoints and keys: an image's `blobUri` in one of them is read with its key. */
  private readonly storageBackings: StorageBackings;
  constructor(
    ctx: DomainContext,
    regions: RegionStores,
    baseImages: BaseImageService,
    vms: VmService,
    uploads: string,
    options: PendingWritesOptions & { producer?: ContentProducer; storageBackings?: StorageBackings } = {},
  ) {
    this.ctx = ctx;
    this.storageBackings = options.storageBackings ?? (() => undefined);
    this.uploads = uploads;
    this.baseImages = baseImages;
    this.writes = new PendingWrites(
      ctx,
      options.producer ??
        new ContentWriter(ctx, regions, vms, uploads, DEFAULT_DOWNLOAD_LIMITS, this.storageBackings),
      options,
    );
  }

  /** Start-up: runs again the writes a crash left reserved. */
  recover(): Promise<number> {
    return this.writes.recover();
  }

  /** Runs again every reserved write that nothing runs in this process. */
  resume(): Promise<number> {
    return this.writes.resume();
  }

  /** Then, every `intervalMs`: runs again a reserved write nothing runs (e.g. its commit failed). */
  resumeEvery(intervalMs: number): void {
    this.writes.resumeEvery(intervalMs);
  }

  /** Resolves when no write is running. */
  idle(): Promise<void> {
    return this.writes.idle();
  }

  /** Aborts running writes (their reservations stay for the next start). */
  stop(): Promise<void> {
    return this.writes.stop();
  }

  /** Stops resuming reserved writes (another server runs the loops now); writes of requests go on. */
  stopResuming(): Promise<void> {
    return this.writes.stopResuming();
  }

  /** Step 2 and 3 of a write whose transaction committed (nothing to do when it needed no I/O). */
  private async finish(w: ComputeWrite): Promise<ComputeWrite> {
    const work = pendingOf(w.resource);
    if (!work) return w;
    return { ...w, resource: await this.writes.run(w.resource), operationId: work.operationId };
  }

  /** The record as written: at once when `plan` needs no I/O, else reserved for the I/O that follows. */
  private async write(
    tx: StoreTx,
    resource: ComputeResourceRecord,
    plan: ContentPlan,
    existing: ComputeResourceRecord | undefined,
  ): Promise<ComputeWrite> {
    if (plan.kind === 'stored' && needsNoIo(plan, resource.location)) {
      const lineage = { ...resource.lineage };
      delete lineage.failure;
      const done = { ...resource, content: plan.ref, lineage };
      await tx.putComputeResource(done);
      return { resource: done, created: !existing };
    }
    const reserved = await this.writes.reserveIn(
      tx,
      resource,
      plan,
      resource.location,
      existing !== undefined,
    );
    return { resource: reserved, created: !existing };
  }

  private async loadSource(
    tx: StoreTx,
    caller: Caller,
    id: unknown,
    field: string,
    types: string[],
  ): Promise<ComputeResourceRecord> {
    if (typeof id !== 'string' || id === '')
      throw invalidInput('InvalidParameter', `'${field}' is required.`, field);
    const a = parseComputeId(id, field);
    if (!types.includes(a.segments.map((s) => s.type.toLowerCase()).join('/'))) {
      throw invalidInput('InvalidParameter', `'${id}' must be one of: ${types.join(', ')}.`, field);
    }
    await authorizeRead(tx, caller, a);
    return requireResource(tx, a, field);
  }

  /** PUT disks/{name} or snapshots/{name}. */
  async putDiskOrSnapshot(
    caller: Caller,
    a: ComputeAddress,
    body: Record<string, unknown>,
  ): Promise<ComputeWrite> {
    const kind = a.segments[0]?.type.toLowerCase() === 'snapshots' ? 'snapshot' : 'disk';
    requireName(a.segments[0]?.name ?? '', kind, kind === 'disk' ? 'diskName' : 'snapshotName');
    const props = obj(body.properties);
    const creation = obj(props.creationData);
    const written = await this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      const existing = await tx.findComputeResource(computeId(a));
      PendingWrites.requireIdle(existing);
      const made = existing?.content
        ? { plan: { kind: 'stored', ref: existing.content } as const, facts: {}, lineage: existing.lineage }
        : await this.plan(tx, caller, kind, creation, props);
      const resource = record(this.ctx, a, body, existing, {
        sku: obj(body.sku).name === undefined ? { name: 'Standard_LRS', tier: 'Standard' } : obj(body.sku),
        properties: {
          ...obj(existing?.properties),
          ...props,
          ...made.facts,
          creationData: existing?.properties.creationData ?? creation,
          timeCreated: existing?.properties.timeCreated ?? isoNow(this.ctx),
          uniqueId: existing?.properties.uniqueId ?? this.ctx.ids.uuid(),
          provisioningState: 'Succeeded',
          diskState: 'Unattached',
        },
        lineage: made.lineage,
      });
      return this.write(tx, resource, made.plan, existing);
    });
    return this.finish(written);
  }

  /** What a new disk or snapshot will hold, checked and authorised (the I/O comes later). */
  private async plan(
    tx: StoreTx,
    caller: Caller,
    kind: 'disk' | 'snapshot',
    creation: Record<string, unknown>,
    props: Record<string, unknown>,
  ): Promise<{ plan: ContentPlan; facts: Record<string, unknown>; lineage: Record<string, unknown> }> {
    const option = typeof creation.createOption === 'string' ? creation.createOption.toLowerCase() : '';
    if (option === 'copy') {
      const field = 'properties.creationData.sourceResourceId';
      const src = await this.loadSource(tx, caller, creation.sourceResourceId, field, ['disks', 'snapshots']);
      const facts = {
        osType: src.properties.osType,
        hyperVGeneration: src.properties.hyperVGeneration ?? 'V1',
        diskSizeGB: src.properties.diskSizeGB,
        diskSizeBytes: src.properties.diskSizeBytes,
      };
      return { plan: sourcePlan(src, field), facts, lineage: src.lineage };
    }
    if (kind === 'snapshot') {
      throw invalidInput(
        'InvalidParameter',
        "Snapshots are created with creationData.createOption 'Copy' from a disk or snapshot id.",
        'properties.creationData.createOption',
      );
    }
    if (option === 'empty') {
      const size = props.diskSizeGB;
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 32767) {
        throw invalidInput(
          'InvalidParameter',
          "'properties.diskSizeGB' must be an integer from 1 to 32767 for an empty disk.",
          'properties.diskSizeGB',
        );
      }
      return {
        plan: { kind: 'empty', sizeBytes: size * GIB },
        facts: { diskSizeBytes: size * GIB },
        lineage: {},
      };
    }
    if (option === 'fromimage') {
      const ref = obj(creation.imageReference).id;
      const m = typeof ref === 'string' ? PLATFORM_IMAGE.exec(ref) : null;
      if (!m)
        throw invalidInput(
          'InvalidParameter',
          "'properties.creationData.imageReference.id' must be a platform image id (.../Publishers/{p}/ArtifactTypes/VMImage/Offers/{o}/Skus/{s}/Versions/{v}).",
          'properties.creationData.imageReference.id',
        );
      const base = await this.baseImages.requireRunnableIn(tx, {
        publisher: m[1] ?? '',
        offer: m[2] ?? '',
        sku: m[3] ?? '',
      });
      const size = typeof props.diskSizeGB === 'number' ? props.diskSizeGB : 30;
      return {
        plan: { kind: 'stored', ref: { manifest: base.manifest, region: base.region } },
        facts: { osType: 'Linux', hyperVGeneration: 'V1', diskSizeGB: size, diskSizeBytes: size * GIB },
        lineage: { baseImage: base.key },
      };
    }
    throw invalidInput(
      'InvalidParameter',
      `createOption '${String(creation.createOption)}' is not supported; use Empty, FromImage or Copy.`,
      'properties.creationData.createOption',
    );
  }

  /** An image captured from a generalized VM: its OS disk (base + changes) and data disks, as they are then. */
  private async imageFromVm(
    tx: StoreTx,
    a: ComputeAddress,
    body: Record<string, unknown>,
    vm: ComputeResourceRecord,
  ): Promise<ComputeWrite> {
    if (vm.lineage.generalized !== true) {
      throw conflict(
        'OperationNotAllowed',
        `The operation 'Create Image' is not allowed on VM '${vm.name}' since the VM is not generalized. Deallocate and generalize it first.`,
        'properties.sourceVirtualMachine.id',
      );
    }
    const existing = await tx.findComputeResource(computeId(a));
    PendingWrites.requireIdle(existing);
    const location = record(this.ctx, a, body, existing, { properties: {} }).location;
    if (location !== vm.location)
      throw invalidInput(
        'InvalidParameter',
        `The image must be in the VM's region '${vm.location}'.`,
        'location',
      );
    const ids = obj(vm.lineage.diskIds) as { os: string; data: { lun: number; id: string }[] };
    const plan: ContentPlan = {
      kind: 'image',
      os: { kind: 'disk', id: ids.os },
      data: ids.data.map((d) => ({ lun: d.lun, plan: { kind: 'disk', id: d.id } })),
    };
    const storageProfile = {
      osDisk: {
        osType: 'Linux',
        osState: 'Generalized',
        managedDisk: { id: ids.os },
        caching: vm.lineage.osDiskCaching ?? 'ReadWrite',
        storageAccountType: 'Premium_LRS',
      },
      dataDisks: ids.data.map((d) => ({
        lun: d.lun,
        managedDisk: { id: d.id },
        caching: 'None',
        storageAccountType: 'Premium_LRS',
      })),
    };
    const image = record(this.ctx, a, body, existing, {
      properties: {
        sourceVirtualMachine: { id: vm.id },
        storageProfile,
        hyperVGeneration: 'V1',
        provisioningState: 'Succeeded',
      },
      lineage: { ...vm.lineage, osState: 'Generalized', sourceVirtualMachine: vm.id },
    });
    return this.write(tx, image, plan, existing);
  }

  /** PUT images/{name} from OS (and data) disk snapshots, managed disks, an uploaded disk or a generalized VM. */
  async putImage(caller: Caller, a: ComputeAddress, body: Record<string, unknown>): Promise<ComputeWrite> {
    requireName(a.segments[0]?.name ?? '', 'image', 'imageName');
    const props = obj(body.properties);
    const written = await this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      if (props.sourceVirtualMachine !== undefined) {
        const vm = await this.loadSource(
          tx,
          caller,
          obj(props.sourceVirtualMachine).id,
          'properties.sourceVirtualMachine.id',
          ['virtualmachines'],
        );
        return this.imageFromVm(tx, a, body, vm);
      }
      return this.imageFromDisks(tx, caller, a, body);
    });
    return this.finish(written);
  }

  private async imageFromDisks(
    tx: StoreTx,
    caller: Caller,
    a: ComputeAddress,
    body: Record<string, unknown>,
  ): Promise<ComputeWrite> {
    const props = obj(body.properties);
    const storage = obj(props.storageProfile);
    const os = obj(storage.osDisk);
    const osState = os.osState;
    if (osState !== 'Generalized' && osState !== 'Specialized') {
      throw invalidInput(
        'InvalidParameter',
        "'properties.storageProfile.osDisk.osState' must be Generalized or Specialized.",
        'properties.storageProfile.osDisk.osState',
      );
    }
    const existing = await tx.findComputeResource(computeId(a));
    PendingWrites.requireIdle(existing);
    const diskRef = async (d: Record<string, unknown>, field: string) => {
      const id = obj(d.snapshot).id ?? obj(d.managedDisk).id;
      const src = await this.loadSource(tx, caller, id, `${field}.snapshot.id`, ['snapshots', 'disks']);
      return { lineage: src.lineage, plan: sourcePlan(src, `${field}.snapshot.id`) };
    };
    let osDisk: { lineage: Record<string, unknown>; plan: ContentPlan };
    if (typeof os.blobUri === 'string') {
      checkBlobUri(os.blobUri, this.uploads);
      const account = await storageAccountForBlob(tx, a.subscriptionId, os.blobUri, this.storageBackings);
      osDisk = {
        lineage: {},
        plan: {
          kind: 'upload',
          blobUri: os.blobUri,
          ...(account === undefined ? {} : { storageAccount: account }),
        },
      };
    } else osDisk = await diskRef(os, 'properties.storageProfile.osDisk');
    const data: { lun: number; plan: ContentPlan }[] = [];
    for (const [i, d] of (Array.isArray(storage.dataDisks) ? storage.dataDisks : []).entries()) {
      const lun = obj(d).lun;
      if (typeof lun !== 'number' || data.some((x) => x.lun === lun))
        throw invalidInput(
          'InvalidParameter',
          'Data disk luns must be unique integers.',
          `properties.storageProfile.dataDisks[${i}].lun`,
        );
      data.push({ lun, plan: (await diskRef(obj(d), `properties.storageProfile.dataDisks[${i}]`)).plan });
    }
    const image = record(this.ctx, a, body, existing, {
      properties: {
        ...props,
        storageProfile: { ...storage, osDisk: { ...os, caching: os.caching ?? 'ReadWrite' } },
        hyperVGeneration: props.hyperVGeneration ?? 'V1',
        provisioningState: 'Succeeded',
      },
      lineage: { ...osDisk.lineage, osState },
    });
    return this.write(tx, image, { kind: 'image', os: osDisk.plan, data }, existing);
  }
}
