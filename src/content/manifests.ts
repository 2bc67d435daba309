import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { digestOf, isDigest, type BlobStore, type Digest } from './blob-store.ts';
import { applyLayer, PACK_ARGS } from './layers.ts';

const run = promisify(execFile);

/**
 * What a disk holds, as a content-addressed manifest:
 * - `filesystem`: a root file system as tar layers applied in order (OS disks, base images);
 * - `raw`: a block device image in fixed-size chunks, all-zero chunks left out (data disks, uploaded VHDs).
 * An image manifest names its OS disk and data disks (by lun) by their manifest digests.
 */
export type DiskManifest =
  | { kind: 'filesystem'; sizeGB: number; layers: Digest[] }
  | { kind: 'raw'; sizeBytes: number; chunkSize: number; chunks: (Digest | null)[] };

export interface ImageManifest {
  kind: 'image';
  osDisk: Digest;
  dataDisks: { lun: number; disk: Digest }[];
}

export type Manifest = DiskManifest | ImageManifest;

export const CHUNK_SIZE = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK_SIZE);

export async function putManifest(store: BlobStore, manifest: Manifest): Promise<Digest> {
  return store.putBuffer(Buffer.from(JSON.stringify(manifest), 'utf8'));
}

export async function readManifest(store: BlobStore, digest: Digest): Promise<Manifest> {
  const raw = await readFile(store.path(digest), 'utf8');
  const parsed = JSON.parse(raw) as Manifest;
  if (digestOf(Buffer.from(raw, 'utf8')) !== digest)
    throw new Error(`manifest ${digest} does not match its digest`);
  return parsed;
}

/** Every blob a manifest reaches, children before the manifests that name them (the order to replicate in). */
export async function reachableBlobs(store: BlobStore, root: Digest): Promise<Digest[]> {
  const out: Digest[] = [];
  const m = await readManifest(store, root);
  switch (m.kind) {
    case 'filesystem':
      out.push(...m.layers);
      break;
    case 'raw':
      out.push(...m.chunks.filter((c): c is Digest => c !== null));
      break;
    case 'image':
      for (const d of [m.osDisk, ...m.dataDisks.map((x) => x.disk)])
        out.push(...(await reachableBlobs(store, d)));
      break;
  }
  out.push(root);
  return [...new Set(out)];
}

/** Chunks a raw disk file into the store; zero chunks are not stored. */
export async function chunkRawFile(store: BlobStore, file: string, chunkSize = CHUNK_SIZE): Promise<Digest> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const chunks: (Digest | null)[] = [];
    const buffer = Buffer.alloc(chunkSize);
    for (let offset = 0; offset < size; offset += chunkSize) {
      const { bytesRead } = await handle.read(buffer, 0, chunkSize, offset);
      const chunk = buffer.subarray(0, bytesRead);
      const zero =
        bytesRead <= ZEROS.length ? chunk.equals(ZEROS.subarray(0, bytesRead)) : chunk.every((b) => b === 0);
      chunks.push(zero ? null : await store.putBuffer(Buffer.from(chunk)));
    }
    return await putManifest(store, { kind: 'raw', sizeBytes: size, chunkSize, chunks });
  } finally {
    await handle.close();
  }
}

/** Writes a raw disk manifest out as a sparse file of its full size. */
export async function writeRawFile(store: BlobStore, digest: Digest, dest: string): Promise<void> {
  const m = await readManifest(store, digest);
  if (m.kind !== 'raw') throw new Error(`${digest} is not a raw disk`);
  const handle = await open(dest, 'w');
  try {
    await handle.truncate(m.sizeBytes);
    for (const [i, chunk] of m.chunks.entries()) {
      if (chunk === null) continue;
      await handle.write(await readFile(store.path(chunk)), 0, undefined, i * m.chunkSize);
    }
  } finally {
    await handle.close();
  }
}

/** Packs a directory tree (owners, modes, xattrs kept) into one tar layer blob (tar at low priority, no copy). */
export async function packDirectory(store: BlobStore, dir: string): Promise<Digest> {
  const tmp = join(store.root, 'tmp', `${randomUUID()}.tar`);
  try {
    await run('nice', ['-n', '10', 'tar', ...PACK_ARGS, '-C', dir, '-cf', tmp, '.']);
    return (await store.adoptFile(tmp)).digest;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Unpacks a filesystem manifest's layers, in order, into `dest`. */
export async function unpackFilesystem(store: BlobStore, digest: Digest, dest: string): Promise<void> {
  const m = await readManifest(store, digest);
  if (m.kind !== 'filesystem') throw new Error(`${digest} is not a filesystem disk`);
  await mkdir(dest, { recursive: true });
  for (const layer of m.layers) {
    if (!isDigest(layer)) throw new Error(`bad layer digest ${String(layer)}`);
    await applyLayer(store.path(layer), dest);
  }
}
