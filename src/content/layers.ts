import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { BlobStore, Digest } from './blob-store.ts';

const run = promisify(execFile);

/**
 * How every layer is packed: posix tar keeps xattrs and ACLs, owners stay numeric, and atime/ctime are dropped
 * with entries sorted, so the same tree always packs to the same digest.
 */
export const PACK_ARGS = [
  '--format=posix',
  '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
  '--numeric-owner',
  '--xattrs',
  '--acls',
  '--sort=name',
];

/** Applies one OCI layer: whiteouts delete from the layers below, then the layer's files are extracted. */
export async function applyLayer(layer: string, dest: string): Promise<void> {
  const entries = (await run('tar', ['-tf', layer], { maxBuffer: 256 * 1024 * 1024 })).stdout.split('\n');
  for (const entry of entries) {
    const clean = entry.replace(/^\.\//, '');
    const base = clean.split('/').pop() ?? '';
    if (!base.startsWith('.wh.')) continue;
    const dir = join(dest, dirname(clean));
    if (!dir.startsWith(dest)) throw new Error(`layer entry escapes the root: ${entry}`);
    if (base === '.wh..wh..opq') {
      for (const child of existsSync(dir) ? await readdir(dir) : [])
        await rm(join(dir, child), { recursive: true, force: true });
    } else {
      await rm(join(dir, base.slice(4)), { recursive: true, force: true });
    }
  }
  await run('tar', ['--numeric-owner', '--xattrs', '--acls', '--exclude=.wh.*', '-C', dest, '-xf', layer]);
}

/**
 * Packs an overlayfs upper directory as a layer: files as they are, and each overlay whiteout (a 0/0 character
 * device) as an OCI `.wh.<name>` marker, so applying the layer on the lower layers deletes what was deleted.
 */
export async function packOverlayUpper(store: BlobStore, upper: string): Promise<Digest> {
  const whiteouts = (await run('find', [upper, '-type', 'c'], { maxBuffer: 64 * 1024 * 1024 })).stdout
    .split('\n')
    .filter(Boolean);
  const tmp = join(store.root, 'tmp', randomUUID());
  const markers = `${tmp}.wh`;
  const layer = `${tmp}.tar`;
  try {
    await mkdir(markers, { recursive: true });
    for (const w of whiteouts) {
      const rel = relative(upper, w);
      await mkdir(join(markers, dirname(rel)), { recursive: true });
      await writeFile(join(markers, dirname(rel), `.wh.${rel.split('/').pop() ?? ''}`), '');
    }
    const excludes = whiteouts.map((w) => `--exclude=./${relative(upper, w)}`);
    await run('tar', [...PACK_ARGS, ...excludes, '-C', upper, '-cf', layer, '.']);
    if (whiteouts.length > 0)
      await run('tar', [
        '--format=posix',
        '--numeric-owner',
        '--sort=name',
        '-C',
        markers,
        '-rf',
        layer,
        '.',
      ]);
    return (await store.adoptFile(layer)).digest;
  } finally {
    await rm(markers, { recursive: true, force: true });
    await rm(layer, { force: true });
  }
}

export async function isEmptyDir(dir: string): Promise<boolean> {
  return !existsSync(dir) || (await readdir(dir)).length === 0;
}
