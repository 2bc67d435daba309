import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface BuildProgress {
  /** What debootstrap is doing: retrieving, validating, extracting, unpacking, configuring, ... */
  stage: string;
  /** Packages done in this stage and its total, when debootstrap says. */
  done?: number;
  total?: number;
}

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/**
 * Builds Debian 12 (bookworm) minbase with debootstrap from Debian's own packages, then drops apt caches and
 * package lists. Takes about half a minute; reports progress from debootstrap's `I:` lines.
 */
export async function buildDebianRootfs(
  dest: string,
  onProgress: (p: BuildProgress) => void,
  mirror = DEBIAN_MIRROR,
): Promise<void> {
  const counts = new Map<string, number>();
  let total: number | undefined;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('debootstrap', ['--variant=minbase', 'bookworm', dest, mirror], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const onLine = (line: string) => {
      tail = `${tail}\n${line}`.slice(-4000);
      const m =
        /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing|Resolving|Checking|Found|Base system)\s*(.*)$/.exec(
          line,
        );
      if (!m?.[1]) return;
      const stage = m[1].toLowerCase();
      if (stage === 'found') total = (m[2]?.split(/\s+/).length ?? 0) + (total ?? 0);
      const done = (counts.get(stage) ?? 0) + 1;
      counts.set(stage, done);
      onProgress({ stage, done, ...(total === undefined ? {} : { total }) });
    };
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    child.stderr.on('data', (d: Buffer) => (tail = `${tail}${d.toString()}`.slice(-4000)));
    child.on('error', (err) => {
      reject(new Error(`cannot run debootstrap (apt-get install debootstrap): ${err.message}`));
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`debootstrap exited ${String(code)}:${tail}`));
    });
  });
  for (const cache of [
    'var/cache/apt/archives',
    'var/lib/apt/lists',
    'var/cache/apt/pkgcache.bin',
    'var/cache/apt/srcpkgcache.bin',
  ]) {
    await rm(join(dest, cache), { recursive: true, force: true });
  }
}
