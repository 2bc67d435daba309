import { NodeFileNotFound } from './port.ts';

/**
 * A node file path as every executor accepts it: relative to NODE_ROOT_DIR, `/`-separated, no `..` segment, not
 * absolute, no NUL. Returns it normalised (no empty or `.` segments; '' for the root directory itself) or throws
 * NodeFileNotFound, the same answer as for a missing file.
 */
export function cleanNodePath(path: string): string {
  if (path.startsWith('/') || path.includes('\0') || path.includes('\\')) throw new NodeFileNotFound(path);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new NodeFileNotFound(path);
  return parts.join('/');
}

/** Node ids become folder and cgroup names: letters, digits, `_`, `-`, `.` (not only dots), at most 128. */
export function checkNodeId(nodeId: string): void {
  if (!/^[\w.-]{1,128}$/.test(nodeId) || /^\.+$/.test(nodeId)) throw new Error(`invalid node id '${nodeId}'`);
}

/** `0o100644`-style mode string, as Batch reports file modes. */
export const fileModeString = (mode: number): string => `0o${mode.toString(8)}`;
