import type { Digest } from '../../content/blob-store.ts';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { packDirectory, putManifest } from '../../content/manifests.ts';
import { importDiskImage } from '../../content/rootfs/disk-image.ts';
import type { RegionStores } from '../../content/regions.ts';
import { replicate } from '../../content/replication.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord, ContentRef } from '../../storage/records.ts';
import type { Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { conflict, invalidInput } from '../errors.ts';
import type { VmService } from './vms.ts';
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

const PLATFORM_IMAGE =
  /\/Publishers\/([^/]+)\/ArtifactTypes\/VMImage\/Offers\/([^/]+)\/Skus\/([^/]+)\/Versions\/([^/]+)$/i;
const GIB = 1024 * 1024 * 1024;

/** Managed disks, snapshots and managed images (R4, R5): records that point at content manifests. */
export class DiskService {
  private readonly ctx: DomainContext;
  private readonly regions: RegionStores;
  private readonly baseImages: BaseImageService;
  private readonly vms: VmService;
  private readonly uploads: string;
  constructor(
    ctx: DomainContext,
    regions: RegionStores,
    baseImages: BaseImageService,
    vms: VmService,
    uploads: string,
  ) {
    this.ctx = ctx;
    this.uploads = uploads;
    this.regions = regions;
    this.baseImages = baseImages;
    this.vms = vms;
  }

  /** A disk's content now: for a disk attached to a VM, what the VM has written so far. */
  private async currentContent(tx: StoreTx, disk: ComputeResourceRecord): Promise<ContentRef> {
    const owner = disk.properties.managedBy;
    const vm = typeof owner === 'string' && owner !== '' ? await tx.findComputeResource(owner) : undefined;
    if (!vm) return disk.content as ContentRef;
    return { manifest: await this.vms.captureAttached(vm, disk.id), region: vm.location };
  }

  /** Content in `region`, replicating it there first when it lives elsewhere. */
  private async inRegion(ref: ContentRef, region: string): Promise<ContentRef> {
    if (ref.region === region) return ref;
    await replicate(
      await this.regions.get(ref.region),
      await this.regions.get(region),
      ref.manifest as Digest,
    );
    return { manifest: ref.manifest, region };
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
  putDiskOrSnapshot(caller: Caller, a: ComputeAddress, body: Record<string, unknown>) {
    const kind = a.segments[0]?.type.toLowerCase() === 'snapshots' ? 'snapshot' : 'disk';
    requireName(a.segments[0]?.name ?? '', kind, kind === 'disk' ? 'diskName' : 'snapshotName');
    const props = obj(body.properties);
    const creation = obj(props.creationData);
    return this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      const existing = await tx.findComputeResource(computeId(a));
      const base = record(this.ctx, a, body, existing, { properties: {} });
      const made = existing?.content
        ? { content: existing.content, facts: {}, lineage: existing.lineage }
        : await this.create(tx, caller, kind, creation, props, base.location);
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
        content: made.content,
        lineage: made.lineage,
      });
      await tx.putComputeResource(resource);
      return { resource, created: !existing };
    });
  }

  private async create(
    tx: StoreTx,
    caller: Caller,
    kind: 'disk' | 'snapshot',
    creation: Record<string, unknown>,
    props: Record<string, unknown>,
    location: string,
  ) {
    const option = typeof creation.createOption === 'string' ? creation.createOption.toLowerCase() : '';
    if (option === 'copy') {
      const src = await this.loadSource(
        tx,
        caller,
        creation.sourceResourceId,
        'properties.creationData.sourceResourceId',
        ['disks', 'snapshots'],
      );
      const content = await this.inRegion(await this.currentContent(tx, src), location);
      const facts = {
        osType: src.properties.osType,
        hyperVGeneration: src.properties.hyperVGeneration ?? 'V1',
        diskSizeGB: src.properties.diskSizeGB,
        diskSizeBytes: src.properties.diskSizeBytes,
      };
      return { content, facts, lineage: src.lineage };
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
      const store = await this.regions.get(location);
      const manifest = await putManifest(store, {
        kind: 'raw',
        sizeBytes: size * GIB,
        chunkSize: 4 * 1024 * 1024,
        chunks: [],
      });
      return { content: { manifest, region: location }, facts: { diskSizeBytes: size * GIB }, lineage: {} };
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
      const content = await this.inRegion({ manifest: base.manifest, region: base.region }, location);
      const size = typeof props.diskSizeGB === 'number' ? props.diskSizeGB : 30;
      return {
        content,
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

  /**
   * R5(c): an OS disk uploaded from elsewhere, named by `blobUri`: `file:///.../uploads/<file>` under this
   * server's uploads folder (nothing else on the host is readable this way) or an http(s) URL (e.g. a blob SAS).
   */
  private async uploadedOsDisk(blobUri: string, location: string) {
    const field = 'properties.storageProfile.osDisk.blobUri';
    const work = join(this.uploads, '..', 'cache', 'build', `upload-${this.ctx.ids.uuid()}`);
    await mkdir(work, { recursive: true });
    try {
      let file: string;
      if (blobUri.startsWith('file://')) {
        file = resolve(fileURLToPath(blobUri));
        if (!file.startsWith(`${resolve(this.uploads)}/`) || !existsSync(file)) {
          throw invalidInput(
            'InvalidParameter',
            `'${blobUri}' must name an existing file in this server's uploads folder (${this.uploads}).`,
            field,
          );
        }
      } else if (/^https?:\/\//.test(blobUri)) {
        const res = await fetch(blobUri).catch(() => undefined);
        if (!res?.ok || !res.body)
          throw invalidInput(
            'InvalidParameter',
            `'${blobUri}' could not be downloaded (${String(res?.status ?? 'no response')}).`,
            field,
          );
        file = join(work, 'download');
        await pipeline(Readable.fromWeb(res.body), createWriteStream(file));
      } else {
        throw invalidInput('InvalidParameter', `'${blobUri}' must be an https, http or file URL.`, field);
      }
      const root = join(work, 'root');
      const kind = await importDiskImage(file, root).catch((err: unknown) => {
        throw invalidInput(
          'InvalidParameter',
          `'${blobUri}' is neither a root file system tarball nor a disk image with a mountable file system: ${(err as Error).message}`,
          field,
        );
      });
      const store = await this.regions.get(location);
      const layer = await packDirectory(store, root);
      const manifest = await putManifest(store, { kind: 'filesystem', sizeGB: 30, layers: [layer] });
      return { lineage: { uploaded: kind }, content: { manifest, region: location } };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** An image captured from a generalized VM: its OS disk (base + changes) and data disks, as they are now. */
  private async imageFromVm(
    tx: StoreTx,
    a: ComputeAddress,
    body: Record<string, unknown>,
    vm: ComputeResourceRecord,
  ) {
    if (vm.lineage.generalized !== true) {
      throw conflict(
        'OperationNotAllowed',
        `The operation 'Create Image' is not allowed on VM '${vm.name}' since the VM is not generalized. Deallocate and generalize it first.`,
        'properties.sourceVirtualMachine.id',
      );
    }
    const existing = await tx.findComputeResource(computeId(a));
    const location = record(this.ctx, a, body, existing, { properties: {} }).location;
    if (location !== vm.location)
      throw invalidInput(
        'InvalidParameter',
        `The image must be in the VM's region '${vm.location}'.`,
        'location',
      );
    const ids = obj(vm.lineage.diskIds) as { os: string; data: { lun: number; id: string }[] };
    const osDisk = (await this.vms.captureAttached(vm, ids.os)) as Digest;
    const dataDisks: { lun: number; disk: Digest }[] = [];
    for (const d of ids.data)
      dataDisks.push({ lun: d.lun, disk: (await this.vms.captureAttached(vm, d.id)) as Digest });
    const manifest = await putManifest(await this.regions.get(location), {
      kind: 'image',
      osDisk,
      dataDisks,
    });
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
      content: { manifest, region: location },
      lineage: { ...vm.lineage, osState: 'Generalized', sourceVirtualMachine: vm.id },
    });
    await tx.putComputeResource(image);
    return { resource: image, created: !existing };
  }

  /** PUT images/{name} from OS (and data) disk snapshots or managed disks. */
  putImage(caller: Caller, a: ComputeAddress, body: Record<string, unknown>) {
    requireName(a.segments[0]?.name ?? '', 'image', 'imageName');
    const props = obj(body.properties);
    const storage = obj(props.storageProfile);
    const os = obj(storage.osDisk);
    return this.ctx.store.transaction(async (tx) => {
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
      const osState = os.osState;
      if (osState !== 'Generalized' && osState !== 'Specialized') {
        throw invalidInput(
          'InvalidParameter',
          "'properties.storageProfile.osDisk.osState' must be Generalized or Specialized.",
          'properties.storageProfile.osDisk.osState',
        );
      }
      const existing = await tx.findComputeResource(computeId(a));
      const location = record(this.ctx, a, body, existing, { properties: {} }).location;
      const diskRef = async (d: Record<string, unknown>, field: string) => {
        const id = obj(d.snapshot).id ?? obj(d.managedDisk).id;
        const src = await this.loadSource(tx, caller, id, `${field}.snapshot.id`, ['snapshots', 'disks']);
        return {
          lineage: src.lineage,
          content: await this.inRegion(await this.currentContent(tx, src), location),
        };
      };
      const osDisk =
        typeof os.blobUri === 'string'
          ? await this.uploadedOsDisk(os.blobUri, location)
          : await diskRef(os, 'properties.storageProfile.osDisk');
      const dataDisks: { lun: number; disk: Digest }[] = [];
      for (const [i, d] of (Array.isArray(storage.dataDisks) ? storage.dataDisks : []).entries()) {
        const lun = obj(d).lun;
        if (typeof lun !== 'number' || dataDisks.some((x) => x.lun === lun))
          throw invalidInput(
            'InvalidParameter',
            'Data disk luns must be unique integers.',
            `properties.storageProfile.dataDisks[${i}].lun`,
          );
        dataDisks.push({
          lun,
          disk: (await diskRef(obj(d), `properties.storageProfile.dataDisks[${i}]`)).content
            .manifest as Digest,
        });
      }
      const store = await this.regions.get(location);
      const manifest = await putManifest(store, {
        kind: 'image',
        osDisk: osDisk.content.manifest as Digest,
        dataDisks,
      });
      const image = record(this.ctx, a, body, existing, {
        properties: {
          ...props,
          storageProfile: { ...storage, osDisk: { ...os, caching: os.caching ?? 'ReadWrite' } },
          hyperVGeneration: props.hyperVGeneration ?? 'V1',
          provisioningState: 'Succeeded',
        },
        content: { manifest, region: location },
        lineage: { ...osDisk.lineage, osState },
      });
      await tx.putComputeResource(image);
      return { resource: image, created: !existing };
    });
  }
}
