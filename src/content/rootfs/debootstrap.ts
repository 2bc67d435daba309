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

/** Where Debian's ubuntu-keyring package puts the key Ubuntu signs its archive's Release files with. */
export const UBUNTU_KEYRING = '/usr/share/keyrings/ubuntu-archive-keyring.gpg';

/** Ubuntu's archive for amd64 and i386; other architectures are on the ports archive. */
export function ubuntuMirror(arch: string = process.arch): string {
  return arch === 'x64' || arch === 'ia32'
    ? 'http://archive.ubuntu.com/ubuntu'
    : 'http://ports.ubuntu.com/ubuntu-ports';
}

/** What debootstrap builds: a suite from a mirror, its Release file checked against a keyring. */
export interface DebootstrapTarget {
  /** A script in /usr/share/debootstrap/scripts: bookworm, xenial, bionic, focal, ... */
  suite: string;
  mirror: string;
  /** A keyring other than the one the suite's script names (Debian's keyring for Debian suites). */
  keyring?: string | undefined;
}

/** The mirror did not answer for the suite (debootstrap never started, or it could not get the Release file). */
export class MirrorUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MirrorUnreachableError';
  }
}

/**
 * Asks the mirror for the suite's Release file before debootstrap runs, so a mirror that does not answer fails
 * within `timeoutMs` (wget, which debootstrap uses, waits many minutes on an unroutable address).
 */
export async function probeMirror(target: DebootstrapTarget, timeoutMs = 15_000): Promise<void> {
  const url = `${target.mirror.replace(/\/+$/, '')}/dists/${target.suite}/Release`;
  let status: number;
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
    status = res.status;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new MirrorUnreachableError(`mirror ${target.mirror} does not answer (${why})`);
  }
  if (status >= 400)
    throw new MirrorUnreachableError(
      `mirror ${target.mirror} has no suite '${target.suite}' (HTTP ${String(status)})`,
    );
}

/**
 * Builds a minbase root file system with debootstrap (Debian 12 from Debian's mirror, Ubuntu releases with the
 * Ubuntu scripts Debian's debootstrap ships), then drops apt caches and package lists. Reports progress from
 * debootstrap's `I:` lines.
 */
export async function debootstrapRootfs(
  dest: string,
  target: DebootstrapTarget,
  onProgress: (p: BuildProgress) => void,
): Promise<void> {
  await probeMirror(target);
  const keyring = target.keyring === undefined ? [] : [`--keyring=${target.keyring}`];
  await runDebootstrap(['--variant=minbase', ...keyring, target.suite, dest, target.mirror], onProgress);
  await dropCaches(dest);
}

/** Debian 12 (bookworm) minbase from Debian's mirror; about half a minute. */
export function buildDebianRootfs(
  dest: string,
  onProgress: (p: BuildProgress) => void,
  mirror = DEBIAN_MIRROR,
): Promise<void> {
  return debootstrapRootfs(dest, { suite: 'bookworm', mirror }, onProgress);
}

function runDebootstrap(args: string[], onProgress: (p: BuildProgress) => void): Promise<void> {
  const counts = new Map<string, number>();
  let total: number | undefined;
  return new Promise<void>((resolve, reject) => {
    const child = spawn('debootstrap', args, {
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
      else {
        const failed = /E: (Failed getting release file .*)/.exec(tail)?.[1];
        // Its first error line leads (the CLI shows one line); the rest of what it printed follows.
        const cause = /^E: (.*)$/m.exec(tail)?.[1] ?? tail.trim().split('\n').at(-1) ?? '';
        reject(
          failed === undefined
            ? new Error(`debootstrap exited ${String(code)}: ${cause}\n${tail}`)
            : new MirrorUnreachableError(failed),
        );
      }
    });
  });
}

async function dropCaches(dest: string): Promise<void> {
  for (const cache of [
    'var/cache/apt/archives',
    'var/lib/apt/lists',
    'var/cache/apt/pkgcache.bin',
    'var/cache/apt/srcpkgcache.bin',
  ]) {
    await rm(join(dest, cache), { recursive: true, force: true });
  }
}
