import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The flags every helper is built with: warnings are errors, fortified libc calls, stack canaries. */
export const HELPER_CFLAGS = ['-O2', '-Wall', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong'];

/** The source and the headers beside it (`#include "x.h"`): a change to either makes a new binary. */
function sourceTag(source: string): string {
  const hash = createHash('sha256').update(readFileSync(source));
  const dir = dirname(source);
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.h'))
    .sort())
    hash.update(name).update(readFileSync(join(dir, name)));
  return hash.update(HELPER_CFLAGS.join(' ')).digest('hex').slice(0, 12);
}

/**
 * A helper program of ours (a `.c` file beside this one), compiled once per source version into
 * `<dataDir>/bin/<name>-<source hash>` with HELPER_CFLAGS, linked statically when the C library has a static
 * archive (no dynamic loader at each exec). There is no other way to run a node: without a C compiler, or when the
 * build fails, this throws with what to do (or the compiler's messages). No binary is shipped: the source is ours,
 * compiled on the machine that runs it.
 */
export function compileHelper(dataDir: string, source: string): string {
  const dir = join(dataDir, 'bin');
  const binary = join(dir, `${basename(source, '.c')}-${sourceTag(source)}`);
  if (existsSync(binary)) return binary;
  if (spawnSync('sh', ['-c', 'command -v cc'], { stdio: 'ignore' }).status !== 0)
    throw new Error(
      'the local node backend needs a C compiler (cc) to build its node helpers: install one ' +
        "(as root: apt-get install gcc, or your distribution's gcc package) and start again",
    );
  mkdirSync(dir, { recursive: true });
  const tmp = `${binary}.${String(process.pid)}.tmp`;
  const cc = (extra: string[]) =>
    spawnSync('cc', [...HELPER_CFLAGS, ...extra, '-o', tmp, source], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
  const built = cc(['-static']).status === 0 ? undefined : cc([]);
  if (built !== undefined && built.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(
      `building ${basename(source)} failed (cc ${HELPER_CFLAGS.join(' ')}): ${built.stderr.trim() || `exit ${String(built.status)}`}`,
    );
  }
  renameSync(tmp, binary);
  return binary;
}
