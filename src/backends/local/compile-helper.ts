import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * A helper program of ours (a `.c` file beside this one), compiled once per source version into
 * `<dataDir>/bin/<name>-<source hash>` when the host has a C compiler (`cc`), linked statically when the C library
 * has a static archive (no dynamic loader at each exec); undefined when it cannot be built — callers then use
 * their shell path. No binary is shipped: the source is ours, compiled on the machine that runs it.
 */
export function compileHelper(dataDir: string, source: string): string | undefined {
  const text = readFileSync(source);
  const tag = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const dir = join(dataDir, 'bin');
  const binary = join(dir, `${basename(source, '.c')}-${tag}`);
  if (existsSync(binary)) return binary;
  if (spawnSync('sh', ['-c', 'command -v cc'], { stdio: 'ignore' }).status !== 0) return undefined;
  mkdirSync(dir, { recursive: true });
  const tmp = `${binary}.${String(process.pid)}.tmp`;
  const cc = (extra: string[]) =>
    spawnSync('cc', ['-O2', ...extra, '-o', tmp, source], { stdio: ['ignore', 'ignore', 'pipe'] }).status ===
    0;
  if (!cc(['-static']) && !cc([])) return undefined;
  renameSync(tmp, binary);
  return binary;
}
