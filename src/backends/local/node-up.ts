import { fileURLToPath } from 'node:url';
import { compileHelper } from './compile-helper.ts';

const SOURCE = fileURLToPath(new URL('./node-up.c', import.meta.url));

/** The node-up helper (node-up.c, ADR 0017, 0020) that starts node holders; throws when it cannot be built. */
export function nodeUpHelper(dataDir: string): string {
  return compileHelper(dataDir, SOURCE);
}
