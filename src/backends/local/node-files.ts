import { constants, type Stats } from 'node:fs';
import {
  lstat,
  open,
  readdir,
  readFile,
  readlink,
  realpath,
  rmdir,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spanOf } from '../../platform/byte-span.ts';
import { cleanNodePath, fileModeString } from '../node-paths.ts';
import {
  NODE_ROOT_DIR,
  NodeDirectoryNotEmpty,
  NodeFileNotFound,
  type NodeFileInfo,
  type NodeFileRange,
  type NodeFileRead,
} from '../port.ts';

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

/** A node file's content, or the inclusive byte range `start`..`end` of it, streamed from disk. */
export async function readNodeFile(
  upper: string,
  path: string,
  range?: NodeFileRange,
): Promise<NodeFileRead> {
  const { handle, st } = await openInside(upper, path, false);
  const { start, end } = spanOf(st.size, range);
  const fileInfo = info(cleanNodePath(path), st);
  if (end < start) {
    await handle.close();
    return { info: fileInfo, body: Readable.from([]) };
  }
  // The stream owns the handle from here: it closes it at the end, on error, or when the reader destroys it.
  return { info: fileInfo, body: handle.createReadStream({ start, end, highWaterMark: 256 * 1024 }) };
}

/** A node file's info, without reading it. */
export async function statNodeFile(upper: string, path: string): Promise<NodeFileInfo> {
  const { handle, st } = await openInside(upper, path, false);
  await handle.close();
  return info(cleanNodePath(path), st);
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_DIRECTORY;

/**
 * Removes `name` in the folder open at `base` (`/proc/self/fd/N`) and, for a folder, what it holds: each folder
 * is opened without following links and emptied through its own handle, so a link the node swaps in is removed,
 * never followed.
 */
async function removeTree(base: string, name: string): Promise<void> {
  const st = await lstat(join(base, name));
  if (!st.isDirectory()) {
    await unlink(join(base, name));
    return;
  }
  const child = await open(join(base, name), DIR_FLAGS);
  try {
    const inner = `/proc/self/fd/${String(child.fd)}`;
    for (const entry of await readdir(inner)) await removeTree(inner, entry);
  } finally {
    await child.close();
  }
  await rmdir(join(base, name));
}

/**
 * The root folder of a running node as its holder (PID 1) sees it, through the node's overlay, or undefined when
 * `pid` is no longer that holder. The holder is checked and its root opened through one handle on its /proc
 * folder, which stops answering if the process ends, so a recycled pid can never lead elsewhere.
 */
async function holderRoot(pid: number, marker: string): Promise<FileHandle | undefined> {
  let proc: FileHandle | undefined;
  try {
    proc = await open(`/proc/${String(pid)}`, constants.O_RDONLY | constants.O_DIRECTORY);
    const argv = (await readFile(`/proc/self/fd/${String(proc.fd)}/cmdline`, 'utf8')).split('\0');
    if (!argv.includes(marker)) return undefined;
    return await open(`/proc/self/fd/${String(proc.fd)}/root`, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return undefined;
  } finally {
    await proc?.close();
  }
}

/** Opens `segments` one by one below the folder open as `dir`, never following a link; `dir` is closed. */
async function walk(dir: FileHandle, segments: string[]): Promise<FileHandle> {
  let at = dir;
  try {
    for (const segment of segments) {
      const next = await open(`/proc/self/fd/${String(at.fd)}/${segment}`, DIR_FLAGS);
      await at.close();
      at = next;
    }
    return at;
  } catch (err) {
    await at.close();
    throw err;
  }
}

/**
 * Deletes a node file, or a folder (recursively, or only when empty); never the root folder itself. On a running
 * node (`holder`) it works through the node's own root, so the node's overlay sees the change (a folder made again
 * later, e.g. for a task id used again, is a new folder); on a stopped one, in its upper on the host.
 */
export async function deleteNodeFile(
  upper: string,
  holder: { pid: number; marker: string } | undefined,
  path: string,
  recursive: boolean,
): Promise<void> {
  const rel = cleanNodePath(path);
  if (rel === '') throw new NodeFileNotFound(path);
  const segments = rel.split('/');
  const name = segments.pop() ?? '';
  let handle: FileHandle | undefined;
  try {
    const root =
      (holder && (await holderRoot(holder.pid, holder.marker))) ??
      (await open(upper, constants.O_RDONLY | constants.O_DIRECTORY));
    handle = await walk(root, [...NODE_ROOT_DIR.split('/').filter(Boolean), ...segments]);
    const base = `/proc/self/fd/${String(handle.fd)}`;
    const st = await lstat(join(base, name));
    if (st.isDirectory() && !recursive) {
      if ((await readdir(join(base, name))).length > 0) throw new NodeDirectoryNotEmpty(path);
      await rmdir(join(base, name));
      return;
    }
    await removeTree(base, name);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOTEMPTY') throw new NodeDirectoryNotEmpty(path);
    if (typeof code === 'string' && ['ENOENT', 'ENOTDIR', 'ELOOP'].includes(code))
      throw new NodeFileNotFound(path);
    throw err;
  } finally {
    await handle?.close();
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
