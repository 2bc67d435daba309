import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Digest } from '../../content/blob-store.ts';
import {
  DEFAULT_DOWNLOAD_LIMITS,
  download,
  DownloadError,
  redactUrl,
  type DownloadLimits,
} from '../../content/download.ts';
import { blobSharedKeyHeaders } from '../../content/blob-shared-key.ts';
import { packDirectory, putManifest } from '../../content/manifests.ts';
import type { RegionStores } from '../../content/regions.ts';
import { replicate } from '../../content/replication.ts';
import { importDiskImage } from '../../content/rootfs/disk-image.ts';
import type { ContentRef } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { invalidInput } from '../errors.ts';
import type { StorageBackings } from '../storage/storage-accounts.ts';
import type { VmService } from './vms.ts';

/**
 * What a disk, snapshot or image write has to produce, decided (and authorised) in the reservation transaction
 * and carried out afterwards, outside any transaction. Plain JSON: a reservation keeps it, so a restart can run it
 * again (content is addressed by digest, so running it twice writes nothing twice).
 */
export type ContentPlan =
  /** Content already in a region's store. */
  | { kind: 'stored'; ref: ContentRef }
  /** A managed disk as it is when the write runs: what its VM wrote so far when attached, else its content. */
  | { kind: 'disk'; id: string }
  /** An empty raw disk of `sizeBytes`. */
  | { kind: 'empty'; sizeBytes: number }
  /**
   * An uploaded OS disk (root file system tarball, raw or fixed VHD) at `blobUri`; read with the key of
   * `storageAccount` (SharedKey) when the blob is in a storage account of the image's subscription.
   */
  | { kind: 'upload'; blobUri: string; storageAccount?: string }
  /** An image manifest over an OS disk and data disks by lun. */
  | { kind: 'image'; os: ContentPlan; data: { lun: number; plan: ContentPlan }[] };

export interface Produced {
  content: ContentRef;
  /** Facts only the I/O learns (e.g. what kind of upload it was), merged into the record's lineage. */
  lineage: Record<string, unknown>;
}

/** Carries out a plan; `signal` aborts it (a timeout or shutdown). */
export interface ContentProducer {
  produce(plan: ContentPlan, region: string, signal: AbortSignal): Promise<Produced>;
  /** Start-up, before any write runs: removes what writes a crash interrupted left behind. */
  clearLeftovers?(): Promise<void>;
}

/** A plan that needs no I/O at all: content already stored in the target region. */
export const needsNoIo = (plan: ContentPlan, region: string): boolean =>
  plan.kind === 'stored' && plan.ref.region === region;

const run = promisify(execFile);
const UPLOAD_FIELD = 'properties.storageProfile.osDisk.blobUri';

/** Checks a `blobUri` without touching the network: a file under the uploads folder, or an http(s) URL. */
export function checkBlobUri(blobUri: string, uploads: string): void {
  if (blobUri.startsWith('file://')) {
    const file = resolve(fileURLToPath(blobUri));
    if (!file.startsWith(`${resolve(uploads)}/`) || !existsSync(file)) {
      throw invalidInput(
        'InvalidParameter',
        `'${blobUri}' must name an existing file in this server's uploads folder (${uploads}).`,
        UPLOAD_FIELD,
      );
    }
  } else if (!/^https?:\/\//.test(blobUri)) {
    throw invalidInput('InvalidParameter', `'${blobUri}' must be an https, http or file URL.`, UPLOAD_FIELD);
  }
}

/** The content store side of disk and image writes: captures, cross-region copies, uploads and manifests. */
export class ContentWriter implements ContentProducer {
  private readonly ctx: DomainContext;
  private readonly regions: RegionStores;
  private readonly vms: VmService;
  private readonly uploads: string;
  private readonly limits: DownloadLimits;
  private readonly storageBackings: StorageBackings;

  constructor(
    ctx: DomainContext,
    regions: RegionStores,
    vms: VmService,
    uploads: string,
    limits: DownloadLimits = DEFAULT_DOWNLOAD_LIMITS,
    storageBackings: StorageBackings = () => undefined,
  ) {
    this.ctx = ctx;
    this.regions = regions;
    this.vms = vms;
    this.uploads = uploads;
    this.limits = limits;
    this.storageBackings = storageBackings;
  }

  /** Where uploads are unpacked: `<data-dir>/cache/build/upload-*` (a restart clears what a crash left). */
  get buildDir(): string {
    return join(this.uploads, '..', 'cache', 'build');
  }

  async clearLeftovers(): Promise<void> {
    const entries = await readdir(this.buildDir).catch(() => [] as string[]);
    for (const name of entries.filter((n) => n.startsWith('upload-'))) {
      const work = join(this.buildDir, name);
      for (const m of (await readdir(work).catch(() => [] as string[])).filter((n) => n.startsWith('.mnt-')))
        await run('umount', ['-l', join(work, m)]).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    }
  }

  async produce(plan: ContentPlan, region: string, signal: AbortSignal): Promise<Produced> {
    signal.throwIfAborted();
    switch (plan.kind) {
      case 'stored':
        return { content: await this.inRegion(plan.ref, region), lineage: {} };
      case 'disk':
        return { content: await this.inRegion(await this.diskNow(plan.id), region), lineage: {} };
      case 'empty': {
        const store = await this.regions.get(region);
        const manifest = await putManifest(store, {
          kind: 'raw',
          sizeBytes: plan.sizeBytes,
          chunkSize: 4 * 1024 * 1024,
          chunks: [],
        });
        return { content: { manifest, region }, lineage: {} };
      }
      case 'upload':
        return this.upload(plan.blobUri, region, signal, plan.storageAccount);
      case 'image': {
        const os = await this.produce(plan.os, region, signal);
        const dataDisks: { lun: number; disk: Digest }[] = [];
        for (const d of plan.data)
          dataDisks.push({
            lun: d.lun,
            disk: (await this.produce(d.plan, region, signal)).content.manifest as Digest,
          });
        signal.throwIfAborted();
        const manifest = await putManifest(await this.regions.get(region), {
          kind: 'image',
          osDisk: os.content.manifest as Digest,
          dataDisks,
        });
        return { content: { manifest, region }, lineage: os.lineage };
      }
    }
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

  /** A disk's content now: for a disk attached to a VM, what the VM has written so far (read in short transactions). */
  private async diskNow(id: string): Promise<ContentRef> {
    const { disk, vm } = await this.ctx.store.transaction(async (tx) => {
      const d = await tx.findComputeResource(id);
      const owner = d?.properties.managedBy;
      const v = typeof owner === 'string' && owner !== '' ? await tx.findComputeResource(owner) : undefined;
      return { disk: d, vm: v };
    });
    if (!disk) throw invalidInput('InvalidParameter', `The source disk '${id}' no longer exists.`);
    if (vm) return { manifest: await this.vms.captureAttached(vm, disk.id), region: vm.location };
    if (!disk.content) throw invalidInput('InvalidParameter', `The source '${id}' has no content yet.`);
    return disk.content;
  }

  /** SharedKey headers for a blob of a storage account this server knows the key of (none for other URLs). */
  private authorization(blobUri: string, storageAccount: string | undefined): Record<string, string> {
    if (storageAccount === undefined) return {};
    const backing = this.storageBackings(storageAccount);
    if (backing === undefined)
      throw invalidInput(
        'InvalidParameter',
        `The storage account '${storageAccount}' holding '${redactUrl(blobUri)}' is no longer configured on this server.`,
        UPLOAD_FIELD,
      );
    return blobSharedKeyHeaders(blobUri, storageAccount, backing.key, this.ctx.clock.now());
  }

  /** R5(c): an OS disk uploaded from elsewhere: fetched (with timeouts and a size cap), unpacked and packed. */
  private async upload(
    blobUri: string,
    region: string,
    signal: AbortSignal,
    storageAccount?: string,
  ): Promise<Produced> {
    checkBlobUri(blobUri, this.uploads);
    const work = join(this.buildDir, `upload-${this.ctx.ids.uuid()}`);
    await mkdir(work, { recursive: true });
    try {
      let file: string;
      if (blobUri.startsWith('file://')) file = resolve(fileURLToPath(blobUri));
      else {
        file = join(work, 'download');
        const headers = this.authorization(blobUri, storageAccount);
        await download(blobUri, file, this.limits, signal, headers).catch((err: unknown) => {
          if (err instanceof DownloadError && err.reason === 'aborted') throw err;
          throw invalidInput('InvalidParameter', (err as Error).message, UPLOAD_FIELD);
        });
      }
      const root = join(work, 'root');
      const kind = await importDiskImage(file, root, signal).catch((err: unknown) => {
        signal.throwIfAborted();
        throw invalidInput(
          'InvalidParameter',
          `'${blobUri}' is neither a root file system tarball nor a disk image with a mountable file system: ${(err as Error).message}`,
          UPLOAD_FIELD,
        );
      });
      const store = await this.regions.get(region);
      const layer = await packDirectory(store, root);
      const manifest = await putManifest(store, { kind: 'filesystem', sizeGB: 30, layers: [layer] });
      return { content: { manifest, region }, lineage: { uploaded: kind } };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}
