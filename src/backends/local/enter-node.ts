import { fileURLToPath } from 'node:url';
import { compileHelper } from './compile-helper.ts';
import { NODE_DROPPED_CAPS } from './node-sandbox.ts';

const SOURCE = fileURLToPath(new URL('./enter-node.c', import.meta.url));

/** Linux capability numbers (linux/capability.h) of the names the sandboxes drop. */
const CAP_NUMBERS: Record<string, number> = {
  linux_immutable: 9,
  sys_module: 16,
  sys_rawio: 17,
  sys_ptrace: 19,
  sys_boot: 22,
  sys_time: 25,
  mknod: 27,
  mac_override: 32,
  mac_admin: 33,
};

/** NODE_DROPPED_CAPS as the numbers enter-node drops from the bounding set. */
export const DROPPED_CAP_NUMBERS = NODE_DROPPED_CAPS.split(',')
  .map((c) => c.replace(/^-/, ''))
  .map((name) => {
    const n = CAP_NUMBERS[name];
    if (n === undefined) throw new Error(`no capability number for ${name}`);
    return String(n);
  })
  .join(',');

/** The enter-node helper (enter-node.c, ADR 0013, 0018, 0020) that runs processes in nodes; throws when it cannot be built. */
export function enterNodeHelper(dataDir: string): string {
  return compileHelper(dataDir, SOURCE);
}
