import type { VmDisks, VmRuntime } from '../../backends/port.ts';
import { readManifest } from '../../content/manifests.ts';
import type { RegionStores } from '../../content/regions.ts';
import type { Digest } from '../../content/blob-store.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord, ContentRef } from '../../storage/records.ts';
import { requirePermission, type Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { conflict, invalidInput } from '../errors.ts';
import type { BaseImageService } from '../images/base-images.ts';
import { findCatalogEntry, catalogKey } from '../images/base-images.ts';
import { resolveLatest } from './versions.ts';
import {
  checkCreateOptions,
  checkVmSize,
  emptyDiskManifests,
  GENERALIZE_SCRIPT,
  powerState,
  storageProfileOf,
  vmDisks,
  vmSizeOf,
  type PowerState,
  type RunCommandResult,
} from './vm-parts.ts';
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

/** Virtual machines (R2, R3): created from a base image, customised with runCommand, generalized. */
export class VmService {
  private readonly ctx: DomainContext;
  private readonly regions: RegionStores;
  private readonly baseImages: BaseImageService;
  private readonly host: VmRuntime;
  /** How long a runCommand may run before every process of the VM is killed. */
  private readonly runCommandTimeoutMs: number;
  constructor(
    ctx: DomainContext,
    regions: RegionStores,
    baseImages: BaseImageService,
    host: VmRuntime,
    runCommandTimeoutMs = 30 * 60 * 1000,
  ) {
    this.ctx = ctx;
    this.regions = regions;
    this.baseImages = baseImages;
    this.host = host;
    this.runCommandTimeoutMs = runCommandTimeoutMs;
  }

  async putVm(caller: Caller, a: ComputeAddress, body: Record<string, unknown>) {
    requireName(
      a.segments[0]?.name ?? '',
      'virtual machine',
      'vmName',
      /^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9_])?$/,
    );
    const props = obj(body.properties);
    const storage = obj(props.storageProfile);
    if (typeof obj(props.hardwareProfile).vmSize !== 'string') {
      throw invalidInput(
        'InvalidParameter',
        "'properties.hardwareProfile.vmSize' is required.",
        'properties.hardwareProfile.vmSize',
      );
    }
    checkVmSize(obj(props.hardwareProfile).vmSize as string);
    checkCreateOptions(storage);
    const empty = await emptyDiskManifests(this.regions, body.location, storage.dataDisks);
    const created = await this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      const existing = await tx.findComputeResource(computeId(a));
      if (existing) {
        const updated = {
          ...existing,
          tags: body.tags === undefined ? existing.tags : (body.tags as Record<string, string>),
          updatedAt: isoNow(this.ctx),
        };
        await tx.putComputeResource(updated);
        return { vm: updated, created: false };
      }
      return { vm: await this.createVm(tx, caller, a, body, { props, storage, empty }), created: true };
    });
    await this.host.prepare(created.vm.properties.vmId as string, vmDisks(created.vm));
    return { resource: created.vm, created: created.created };
  }

  /** A managed disk record attached to a new VM. */
  private newDisk(
    a: ComputeAddress,
    location: string,
    name: string,
    content: string,
    extra: Record<string, unknown>,
  ) {
    return record(
      this.ctx,
      { ...a, segments: [{ type: 'disks', name }] },
      { location, tags: {} },
      undefined,
      {
        properties: {
          ...extra,
          provisioningState: 'Succeeded',
          diskState: 'Attached',
          timeCreated: isoNow(this.ctx),
          uniqueId: this.ctx.ids.uuid(),
        },
        content: { manifest: content, region: location },
        sku: { name: 'Premium_LRS', tier: 'Premium' },
      },
    );
  }

  /** Empty data disks from `storageProfile.dataDisks` (lun 0..63, unique; 1..32767 GB). */
  private newDataDisks(
    a: ComputeAddress,
    location: string,
    specs: unknown,
    taken: number[],
    suffix: string,
    empty: Map<number, string>,
  ) {
    const out: {
      lun: number;
      manifest: string;
      disk: ComputeResourceRecord;
      spec: Record<string, unknown>;
    }[] = [];
    for (const [i, d] of (Array.isArray(specs) ? specs : []).entries()) {
      const spec = obj(d);
      const { lun, diskSizeGB: size } = spec;
      const field = `properties.storageProfile.dataDisks[${i}]`;
      if (
        typeof lun !== 'number' ||
        !Number.isInteger(lun) ||
        lun < 0 ||
        lun > 63 ||
        taken.includes(lun) ||
        out.some((x) => x.lun === lun)
      ) {
        throw invalidInput(
          'InvalidParameter',
          'Data disk luns must be unique integers from 0 to 63.',
          `${field}.lun`,
        );
      }
      if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 32767) {
        throw invalidInput(
          'InvalidParameter',
          "'diskSizeGB' must be an integer from 1 to 32767.",
          `${field}.diskSizeGB`,
        );
      }
      const manifest = empty.get(size);
      if (manifest === undefined) throw new Error(`no empty disk manifest of ${size} GB in '${location}'`);
      const name =
        typeof spec.name === 'string' ? spec.name : `${a.segments[0]?.name ?? 'vm'}_lun_${lun}_${suffix}`;
      const disk = this.newDisk(a, location, name, manifest, {
        diskSizeGB: size,
        creationData: { createOption: 'Empty' },
      });
      out.push({
        lun,
        manifest,
        disk,
        spec: {
          lun,
          name,
          createOption: 'Empty',
          caching: spec.caching ?? 'None',
          diskSizeGB: size,
          managedDisk: { id: disk.id, storageAccountType: 'Premium_LRS' },
        },
      });
    }
    return out;
  }

  private async createVm(
    tx: StoreTx,
    caller: Caller,
    a: ComputeAddress,
    body: Record<string, unknown>,
    input: {
      props: Record<string, unknown>;
      storage: Record<string, unknown>;
      empty: Map<number, string>;
    },
  ) {
    const { props, storage } = input;
    const vmId = this.ctx.ids.uuid();
    const suffix = vmId.replace(/-/g, '');
    const location = record(this.ctx, a, body, undefined, { properties: {} }).location;
    const ref = obj(storage.imageReference);
    const source = await this.osSource(tx, caller, ref, location);
    const osDisk = obj(storage.osDisk);
    const encrypted =
      obj(osDisk.encryptionSettings).enabled === true ||
      obj(obj(osDisk.managedDisk).diskEncryptionSet).id !== undefined ||
      obj(props.securityProfile).encryptionAtHost === true;
    const osName =
      typeof osDisk.name === 'string' ? osDisk.name : `${a.segments[0]?.name ?? 'vm'}_OsDisk_1_${suffix}`;
    const size = typeof osDisk.diskSizeGB === 'number' ? osDisk.diskSizeGB : 30;
    const os = this.newDisk(a, location, osName, source.osBase, {
      osType: 'Linux',
      hyperVGeneration: 'V1',
      diskSizeGB: size,
      creationData: { createOption: 'FromImage', imageReference: ref },
    });
    const data = this.newDataDisks(
      a,
      location,
      storage.dataDisks,
      source.dataDisks.map((d) => d.lun),
      suffix,
      input.empty,
    );
    const osProfile = obj(props.osProfile);
    const caching = osDisk.caching ?? 'ReadWrite';
    const vm = record(this.ctx, a, body, undefined, {
      properties: {
        vmId,
        hardwareProfile: props.hardwareProfile,
        storageProfile: storageProfileOf(ref, source.exactVersion, os, caching, size, data),
        osProfile: {
          computerName: osProfile.computerName ?? a.segments[0]?.name,
          adminUsername: osProfile.adminUsername ?? 'azureuser',
          linuxConfiguration: obj(osProfile.linuxConfiguration),
          allowExtensionOperations: true,
        },
        networkProfile: obj(props.networkProfile),
        provisioningState: 'Succeeded',
        timeCreated: isoNow(this.ctx),
      },
      lineage: {
        ...source.lineage,
        osDiskEncrypted: encrypted,
        osDiskCaching: caching,
        extensions: [],
        generalized: false,
        powerState: 'running',
        disks: {
          region: location,
          osBase: source.osBase,
          dataDisks: [...source.dataDisks, ...data.map((d) => ({ lun: d.lun, manifest: d.manifest }))],
        } satisfies VmDisks,
        diskIds: { os: os.id, data: data.map((d) => ({ lun: d.lun, id: d.disk.id })) },
      },
    });
    for (const d of [os, ...data.map((x) => x.disk)])
      await tx.putComputeResource({ ...d, properties: { ...d.properties, managedBy: vm.id } });
    await tx.putComputeResource(vm);
    return vm;
  }

  /**
   * A custom image id: a managed image (in this region), a gallery image version (with a completed replica in
   * this region), or an image definition, meaning its latest version here.
   */
  private async imageSource(tx: StoreTx, caller: Caller, id: string, location: string) {
    const field = 'properties.storageProfile.imageReference.id';
    const a = parseComputeId(id, field);
    await authorizeRead(tx, caller, a);
    let src = await requireResource(tx, a, field);
    let exactVersion: string | undefined;
    if (src.type.toLowerCase() === 'microsoft.compute/galleries/images') {
      const versions = await tx.listComputeResources(
        a.subscriptionId,
        'Microsoft.Compute/galleries/images/versions',
        { parentId: src.id },
      );
      const latest = resolveLatest(versions, location, this.ctx.clock.now());
      if (!latest)
        throw invalidInput(
          'InvalidParameter',
          `Image definition '${src.name}' has no version eligible as latest in '${location}'.`,
          field,
        );
      src = latest;
    }
    if (src.type.toLowerCase() === 'microsoft.compute/galleries/images/versions') {
      exactVersion = src.name;
      const replica = (await tx.listReplicas(src.id)).find(
        (r) => r.region === location && r.state === 'Completed',
      );
      if (!replica)
        throw invalidInput(
          'InvalidParameter',
          `Image version '${src.name}' has no completed replica in '${location}'.`,
          field,
        );
    } else if (src.content?.region !== location) {
      throw invalidInput('InvalidParameter', `The image '${id}' has no replica in '${location}'.`, field);
    }
    if (!src.content) throw invalidInput('InvalidParameter', `'${id}' has no content.`, field);
    return { src, exactVersion };
  }

  /** The OS disk's base: a catalog image (R1, refused clearly when not runnable) or a managed image / gallery version. */
  private async osSource(tx: StoreTx, caller: Caller, ref: Record<string, unknown>, location: string) {
    if (typeof ref.id === 'string') {
      const { src, exactVersion } = await this.imageSource(tx, caller, ref.id, location);
      const image = await readManifest(
        await this.regions.get(location),
        (src.content as ContentRef).manifest as Digest,
      );
      if (image.kind !== 'image')
        throw invalidInput(
          'InvalidParameter',
          `'${ref.id}' is not an image.`,
          'properties.storageProfile.imageReference.id',
        );
      return {
        osBase: image.osDisk,
        dataDisks: image.dataDisks.map((d) => ({ lun: d.lun, manifest: d.disk })),
        lineage: { ...src.lineage, sourceImage: src.id },
        exactVersion,
      };
    }
    for (const f of ['publisher', 'offer', 'sku'] as const) {
      if (typeof ref[f] !== 'string')
        throw invalidInput(
          'InvalidParameter',
          `'properties.storageProfile.imageReference.${f}' is required (or give an image id).`,
          `properties.storageProfile.imageReference.${f}`,
        );
    }
    const entry = findCatalogEntry(
      catalogKey({ publisher: String(ref.publisher), offer: String(ref.offer), sku: String(ref.sku) }),
    );
    const base = await this.baseImages.requireRunnableIn(tx, entry);
    if (base.region !== location)
      throw invalidInput(
        'InvalidParameter',
        `Base images are kept in '${base.region}'; create the VM there.`,
        'location',
      );
    return {
      osBase: base.manifest,
      dataDisks: [],
      lineage: { baseImage: base.key, purchasePlan: entry.purchasePlan ?? null },
      exactVersion: '1.0.0',
    };
  }

  getVm(caller: Caller, a: ComputeAddress) {
    return this.ctx.store.transaction(async (tx) => {
      await authorizeRead(tx, caller, a);
      return requireResource(tx, a);
    });
  }

  private async requireVm(caller: Caller, a: ComputeAddress, action: 'runCommand' | 'generalize') {
    return this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      await requirePermission(tx, caller, `Microsoft.Compute/virtualMachines/${action}/action`, computeId(a));
      return requireResource(tx, a);
    });
  }

  async runCommand(
    caller: Caller,
    a: ComputeAddress,
    body: Record<string, unknown>,
  ): Promise<RunCommandResult> {
    const vm = await this.requireVm(caller, a, 'runCommand');
    if (powerState(vm) !== 'running')
      throw conflict(
        'OperationNotAllowed',
        `Run command needs a running VM; '${vm.name}' is ${powerState(vm)}.`,
      );
    const lines = body.script;
    if (!Array.isArray(lines) || lines.some((l) => typeof l !== 'string'))
      throw invalidInput('InvalidParameter', "'script' must be an array of lines.", 'script');
    const params = Array.isArray(body.parameters) ? body.parameters.map(obj) : [];
    const env = params
      .filter((p) => typeof p.name === 'string' && /^[A-Za-z_]\w*$/.test(p.name))
      .map(
        (p) =>
          `export ${String(p.name)}='${(typeof p.value === 'string' ? p.value : '').replace(/'/g, `'\\''`)}'`,
      );
    const computerName = obj(vm.properties.osProfile).computerName;
    const hostname = typeof computerName === 'string' ? computerName : vm.name;
    return this.host.run(
      vm.properties.vmId as string,
      hostname,
      vmDisks(vm),
      [...env, ...(lines as string[])].join('\n'),
      this.runCommandTimeoutMs,
      vmSizeOf(vm),
    );
  }

  async setPower(caller: Caller, a: ComputeAddress, state: PowerState): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a);
      const vm = await requireResource(tx, a);
      if (state === 'running' && vm.lineage.generalized === true)
        throw conflict('OperationNotAllowed', `VM '${vm.name}' is generalized and cannot be started.`);
      await tx.putComputeResource({
        ...vm,
        lineage: { ...vm.lineage, powerState: state },
        updatedAt: isoNow(this.ctx),
      });
    });
  }

  /** Removes machine-specific data for real (inside the VM's disk), then marks the VM generalized. */
  async generalize(caller: Caller, a: ComputeAddress): Promise<void> {
    const vm = await this.requireVm(caller, a, 'generalize');
    if (powerState(vm) === 'running')
      throw conflict(
        'OperationNotAllowed',
        `VM '${vm.name}' must be stopped (deallocated) before it is generalized.`,
      );
    const result = await this.host.run(
      vm.properties.vmId as string,
      vm.name,
      vmDisks(vm),
      GENERALIZE_SCRIPT,
      5 * 60 * 1000,
      vmSizeOf(vm),
    );
    if (result.exitCode !== 0)
      throw conflict('OperationNotAllowed', `Generalizing VM '${vm.name}' failed: ${result.stderr}`);
    await this.ctx.store.transaction(async (tx) => {
      const current = await requireResource(tx, a);
      await tx.putComputeResource({
        ...current,
        lineage: { ...current.lineage, generalized: true },
        updatedAt: isoNow(this.ctx),
      });
    });
  }

  /** Current content of a VM-attached disk (OS or data), for snapshots and images. */
  async captureAttached(vm: ComputeResourceRecord, diskId: string): Promise<string> {
    const ids = obj(vm.lineage.diskIds) as { os?: string; data?: { lun: number; id: string }[] };
    if (ids.os?.toLowerCase() === diskId.toLowerCase())
      return this.host.captureOs(vm.properties.vmId as string, vmDisks(vm));
    const data = ids.data?.find((d) => d.id.toLowerCase() === diskId.toLowerCase());
    if (!data) throw new Error(`disk ${diskId} is not attached to ${vm.id}`);
    return this.host.captureData(vm.properties.vmId as string, vmDisks(vm), data.lun);
  }

  async putExtension(caller: Caller, a: ComputeAddress, body: Record<string, unknown>) {
    const vmAddr = { ...a, segments: a.segments.slice(0, 1) };
    return this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, vmAddr);
      const vm = await requireResource(tx, vmAddr);
      const existing = await tx.findComputeResource(computeId(a));
      const ext = record(this.ctx, a, { location: vm.location, tags: body.tags }, existing, {
        properties: { ...obj(body.properties), provisioningState: 'Succeeded' },
      });
      await tx.putComputeResource(ext);
      const names = new Set([...((vm.lineage.extensions as string[] | undefined) ?? []), ext.name]);
      await tx.putComputeResource({
        ...vm,
        lineage: { ...vm.lineage, extensions: [...names] },
        updatedAt: isoNow(this.ctx),
      });
      return { resource: ext, created: !existing };
    });
  }

  /** Deletes the VM; its disks stay (deleteOption Detach) holding what the VM wrote. */
  async deleteVm(caller: Caller, a: ComputeAddress): Promise<boolean> {
    const vm = await this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a, 'delete');
      return tx.findComputeResource(computeId(a));
    });
    if (!vm) return false;
    const ids = obj(vm.lineage.diskIds) as { os?: string; data?: { lun: number; id: string }[] };
    const captured = new Map<string, string>();
    for (const id of [ids.os, ...(ids.data ?? []).map((d) => d.id)])
      if (id) captured.set(id, await this.captureAttached(vm, id));
    await this.ctx.store.transaction(async (tx) => {
      for (const [id, manifest] of captured) {
        const disk = await tx.findComputeResource(id);
        if (disk)
          await tx.putComputeResource({
            ...disk,
            content: { manifest, region: vm.location },
            properties: { ...disk.properties, managedBy: undefined, diskState: 'Unattached' },
          });
      }
      await tx.deleteComputeResource(vm.id);
    });
    await this.host.remove(vm.properties.vmId as string);
    return true;
  }
}
