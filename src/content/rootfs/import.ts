import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { applyLayer } from '../layers.ts';

const run = promisify(execFile);

interface OciDescriptor {
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
}

function blobPath(layout: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  if (!alg || !hex || !/^[0-9a-f]+$/.test(hex)) throw new Error(`bad OCI digest ${digest}`);
  return join(layout, 'blobs', alg, hex);
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Follows an OCI index (possibly nested) to the linux/amd64 image manifest's layer list. */
async function ociLayers(layout: string): Promise<string[]> {
  let doc = await readJson<{ manifests?: OciDescriptor[]; layers?: OciDescriptor[] }>(
    join(layout, 'index.json'),
  );
  for (let depth = 0; depth < 4 && doc.layers === undefined; depth++) {
    const manifests = doc.manifests ?? [];
    const pick =
      manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ??
      manifests[0];
    if (!pick) throw new Error('the OCI index lists no manifests');
    doc = await readJson(blobPath(layout, pick.digest));
  }
  if (!doc.layers) throw new Error('no image manifest found in the OCI layout');
  return doc.layers.map((l) => blobPath(layout, l.digest));
}

/**
 * Imports a root file system into `dest` from a tarball (plain or compressed), an OCI image layout folder, or an
 * OCI image archive (a tar of such a layout, e.g. from `skopeo copy ... oci-archive:`).
 */
export async function importRootfs(source: string, dest: string): Promise<'tarball' | 'oci'> {
  await mkdir(dest, { recursive: true });
  if (statSync(source).isDirectory()) {
    if (!existsSync(join(source, 'oci-layout')))
      throw new Error(`${source} is a folder but not an OCI image layout (no oci-layout file)`);
    for (const layer of await ociLayers(source)) await applyLayer(layer, dest);
    return 'oci';
  }
  const listing = (await run('tar', ['-tf', source], { maxBuffer: 256 * 1024 * 1024 })).stdout.split('\n');
  if (listing.some((e) => e.replace(/^\.\//, '') === 'oci-layout')) {
    const layout = await mkdtemp(join(dirname(dest), '.oci-'));
    try {
      await run('tar', ['-C', layout, '-xf', source]);
      for (const layer of await ociLayers(layout)) await applyLayer(layer, dest);
    } finally {
      await rm(layout, { recursive: true, force: true });
    }
    return 'oci';
  }
  await run('nice', ['-n', '10', 'tar', '--numeric-owner', '--xattrs', '--acls', '-C', dest, '-xf', source]);
  return 'tarball';
}

/**
 * The text of a root file system's os-release (`etc/os-release`, else `usr/lib/os-release`), following symbolic
 * links inside `root` only (an absolute link points into the root file system, never to the host's file).
 */
export async function readOsReleaseText(root: string): Promise<string | undefined> {
  for (const start of ['etc/os-release', 'usr/lib/os-release']) {
    let rel = start;
    for (let hop = 0; hop < 8; hop++) {
      const path = join(root, rel);
      const info = await lstat(path).catch(() => undefined);
      const parent = await realpath(dirname(path)).catch(() => '');
      const base = await realpath(root);
      if (!info || (parent !== base && !parent.startsWith(`${base}/`))) break;
      if (info.isFile()) return readFile(path, 'utf8');
      if (!info.isSymbolicLink()) break;
      const target = await readlink(path);
      rel = normalize(isAbsolute(target) ? target : join(dirname(rel), target)).replace(/^(\.\.\/|\/)+/, '');
    }
  }
  return undefined;
}
