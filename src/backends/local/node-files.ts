import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanNodePath, fileModeString } from '../node-paths.ts';
import { NODE_ROOT_DIR, NodeFileNotFound, type NodeFileInfo, type NodeFileRange } from '../port.ts';

/**
 * A node's files as Batch lists them, read on the host from the node's upper layer
 * (`<node>/upper/mnt/batch/tasks`), so it works whether the node runs or not. The node may have planted
 * symbolic links anywhere in there (or swap a folder for one while we look): a path resolves only if its real
 * path stays under the root, and every file or folder is opened without following a final link and then
 * checked again through `/proc/self/fd`, so what is read is what was checked.
 */

const info = (name: string, st: Stats): NodeFileInfo => ({
  name,
  isDirectory: st.isDirectory(),
  size: st.isDirectory() ? 0 : st.size,
  lastModified: st.mtime,
  creationTime: st.birthtimeMs > 0 ? st.birthtime : st.ctime,
  fileMode: fileModeString(st.mode),
});

/** The node's real root folder, provided no part of `mnt/batch/tasks` in its upper is a link. */
async function rootOf(upper: string, path: string): Promise<string> {
  try {
    const expected = join(await realpath(upper), NODE_ROOT_DIR);
    if ((await realpath(expected)) === expected) return expected;
  } catch {
    // no tasks folder yet
  }
  throw new NodeFileNotFound(path);
}

const inside = (root: string, real: string): boolean => real === root || real.startsWith(`${root}/`);

/** Opens `rel` under the root (O_NOFOLLOW, O_NONBLOCK so a FIFO cannot hang us) and checks where it landed. */
async function openInside(
  upper: string,
  path: string,
  directory: boolean,
): Promise<{ handle: FileHandle; st: Stats; real: string; root: string }> {
  const rel = cleanNodePath(path);
  const root = await rootOf(upper, path);
  let handle: FileHandle | undefined;
  try {
    const real = await realpath(join(root, rel));
    if (!inside(root, real)) throw new NodeFileNotFound(path);
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    handle = await open(real, directory ? flags | constants.O_DIRECTORY : flags);
    const landed = await readlink(`/proc/self/fd/${handle.fd}`);
    const st = await handle.stat();
    if (!inside(root, landed) || (directory ? !st.isDirectory() : !st.isFile())) throw new Error('outside');
    return { handle, st, real: landed, root };
  } catch {
    await handle?.close();
    throw new NodeFileNotFound(path);
  }
}

/** A node file's content, or the inclusive byte range `start`..`end` of it. */
export async function readNodeFile(
  upper: string,
  path: string,
  range?: NodeFileRange,
): Promise<{ content: Buffer; info: NodeFileInfo }> {
  const { handle, st } = await openInside(upper, path, false);
  try {
    const start = Math.min(range?.start ?? 0, st.size);
    const end = Math.min(range?.end === undefined ? st.size - 1 : range.end, st.size - 1);
    const length = Math.max(0, end - start + 1);
    const content = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await handle.read(content, got, length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { content: content.subarray(0, got), info: info(cleanNodePath(path), st) };
  } finally {
    await handle.close();
  }
}

/** Lists one folder through its open handle (`/proc/self/fd/N`), never following links. */
async function listOpen(handle: FileHandle, prefix: string, recursive: boolean): Promise<NodeFileInfo[]> {
  const base = `/proc/self/fd/${handle.fd}`;
  const out: NodeFileInfo[] = [];
  for (const name of (await readdir(base)).sort()) {
    const st = await lstat(join(base, name)).catch(() => undefined);
    if (!st || (!st.isFile() && !st.isDirectory())) continue; // links, whiteouts, devices, FIFOs
    const rel = prefix === '' ? name : `${prefix}/${name}`;
    out.push(info(rel, st));
    if (!recursive || !st.isDirectory()) continue;
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_DIRECTORY;
    const child = await open(join(base, name), flags).catch(() => undefined);
    if (!child) continue;
    try {
      out.push(...(await listOpen(child, rel, true)));
    } finally {
      await child.close();
    }
  }
  return out;
}

/** Files and folders under `dir` (relative to NODE_ROOT_DIR), recursively or one level. */
export async function listNodeFiles(upper: string, dir: string, recursive: boolean): Promise<NodeFileInfo[]> {
  const { handle } = await openInside(upper, dir, true);
  try {
    return await listOpen(handle, cleanNodePath(dir), recursive);
  } finally {
    await handle.close();
  }
}
