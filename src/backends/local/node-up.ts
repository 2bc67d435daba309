import { fileURLToPath } from 'node:url';
import { compileHelper } from './compile-helper.ts';

const SOURCE = fileURLToPath(new URL('./node-up.c', import.meta.url));

/**
 * The node-up helper (node-up.c, ADR 0017) that starts node holders with system calls instead of `unshare`,
 * `mount`, `cp`, `setpriv` and shells; undefined without a C compiler, with LAZURITE_NODE_UP=0, or with
 * LAZURITE_ENTER_NODE=0 (no compiled helper at all: the whole shell chain) — then holders start through the shell
 * set-up of node-sandbox.ts, which does the same with more processes per boot.
 */
export function nodeUpHelper(dataDir: string): string | undefined {
  if (process.env.LAZURITE_NODE_UP === '0' || process.env.LAZURITE_ENTER_NODE === '0') return undefined;
  return compileHelper(dataDir, SOURCE);
}
