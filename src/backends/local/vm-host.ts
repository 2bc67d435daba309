import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Digest } from '../../content/blob-store.ts';
import { isEmptyDir, packOverlayUpper } from '../../content/layers.ts';
import { chunkRawFile, putManifest, readManifest, writeRawFile } from '../../content/manifests.ts';
import type { RegionStores } from '../../content/regions.ts';
import { ImageCache } from './image-cache.ts';
import type { NodeSize, VmDisks, VmRuntime } from '../port.ts';
import { VmSandboxes, type SandboxResult } from './vm-sandbox.ts';

const run = promisify(execFile);

export type { VmDisks } from '../port.ts';

/**
 * VMs on this host: each VM is a folder with its OS disk's overlay upper layer and its data disks as sparse raw
 * files; the OS disk's base layers are unpacked once per manifest into a shared read-only cache (ImageCache). Commands run
 * one at a time per VM (an overlay upper must never be mounted twice).
 */
export class VmHost implements VmRuntime {
  private readonly root: string;
  private readonly cache: ImageCache;
  private readonly regions: RegionStores;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly sandboxes: VmSandboxes;

  /** `cache` may be shared with the node executor of the same data dir (one unpack per manifest). */
  /** `vmNetwork`: the host's VM range (ADR 0021; default `DEFAULT_VM_NETWORK`). */
  constructor(
    dataDir: string,
    regions: RegionStores,
    cache = new ImageCache(dataDir, regions),
    vmNetwork?: string,
  ) {
    this.root = join(dataDir, 'vms');
    this.cache = cache;
    this.regions = regions;
    this.sandboxes = new VmSandboxes(dataDir, this.root, vmNetwork);
  }

  private dir(vm: string): string {
    return join(this.root, vm);
  }

  private diskFile(vm: string, lun: number): string {
    return join(this.dir(vm), 'disks', `lun${lun}.raw`);
  }

  private serial<T>(vm: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(vm) ?? Promise.resolve();
    const next = previous.then(work, work);
    this.locks.set(
      vm,
      next.catch(() => undefined),
    );
    return next;
  }

  /** Creates the VM's folder and its data disk files; idempotent. */
  prepare(vm: string, disks: VmDisks): Promise<void> {
    return this.serial(vm, async () => {
      await mkdir(join(this.dir(vm), 'disks'), { recursive: true });
      await this.cache.rootfs(disks.region, disks.osBase);
      const store = await this.regions.get(disks.region);
      for (const d of disks.dataDisks) {
        const file = this.diskFile(vm, d.lun);
        if (existsSync(file)) continue;
        await writeRawFile(store, d.manifest as Digest, `${file}.tmp`);
        await rename(`${file}.tmp`, file);
      }
    });
  }

  /**
   * Runs a shell script as root inside the VM (vm-sandbox.ts: a node-up holder with its size's cgroup limits),
   * with its data disks attached as loop devices.
   */
  run(
    vm: string,
    hostname: string,
    disks: VmDisks,
    script: string,
    timeoutMs: number,
    size: NodeSize,
  ): Promise<SandboxResult> {
    return this.serial(vm, async () => {
      const lower = await this.cache.rootfs(disks.region, disks.osBase);
      const loops: { lun: number; loop: string }[] = [];
      try {
        for (const d of disks.dataDisks) {
          const loop = (await run('losetup', ['--find', '--show', this.diskFile(vm, d.lun)])).stdout.trim();
          loops.push({ lun: d.lun, loop });
        }
        const dir = this.dir(vm);
        return await this.sandboxes.run({ vm, dir, hostname, lower, size, disks: loops, script, timeoutMs });
      } finally {
        for (const { loop } of loops) await run('losetup', ['-d', loop]).catch(() => undefined);
      }
    });
  }

  /** The OS disk's current content: its base layers plus what the VM changed, as one more layer. */
  captureOs(vm: string, disks: VmDisks): Promise<string> {
    return this.serial(vm, async () => {
      const upperDir = join(this.dir(vm), 'upper');
      if (await isEmptyDir(upperDir)) return disks.osBase;
      const store = await this.regions.get(disks.region);
      const base = await readManifest(store, disks.osBase as Digest);
      if (base.kind !== 'filesystem') throw new Error('OS disk base is not a file system');
      const layer = await packOverlayUpper(store, upperDir);
      return putManifest(store, { ...base, layers: [...base.layers, layer] });
    });
  }

  /** A data disk's current content (zero ranges are not stored). */
  captureData(vm: string, disks: VmDisks, lun: number): Promise<string> {
    return this.serial(vm, async () =>
      chunkRawFile(await this.regions.get(disks.region), this.diskFile(vm, lun)),
    );
  }

  /** Stops what a crashed server left running of any VM (a holder over its disk, processes in its cgroups). */
  async recover(): Promise<void> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    for (const e of entries)
      if (e.isDirectory()) await this.sandboxes.stopLeftover({ vm: e.name, dir: this.dir(e.name) });
  }

  remove(vm: string): Promise<void> {
    return this.serial(vm, async () => {
      await this.sandboxes.release(vm, this.dir(vm));
      await rm(this.dir(vm), { recursive: true, force: true });
    });
  }
}
