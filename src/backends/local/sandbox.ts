import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface SandboxSpec {
  /** Read-only lower directories, topmost first. */
  lowerDirs: string[];
  /** Where this sandbox's writes go (its OS disk delta). */
  upperDir: string;
  workDir: string;
  mergedDir: string;
  hostname: string;
  /** Block devices to expose: host device path → path inside the sandbox. */
  devices: { host: string; inside: string }[];
  /** Shell script run as root inside the sandbox with /bin/sh. */
  script: string;
  timeoutMs: number;
}

export interface SandboxResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const MAX_OUTPUT = 1024 * 1024;

/** Quotes a value for a POSIX shell. */
export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Capabilities no sandbox keeps: creating device nodes, loading modules, raw I/O, rebooting, the clock. */
export const DROPPED_CAPS =
  '-mknod,-sys_module,-sys_rawio,-sys_boot,-sys_time,-mac_admin,-mac_override,-sys_ptrace';

/** Runs inside the new root: forget the host tree, mount the VM's fstab, then read the script from stdin. */
const INNER =
  'umount -l /dev/.oldroot && rmdir /dev/.oldroot; [ -f /etc/fstab ] && mount -a >/dev/null 2>&1; cd /root 2>/dev/null || cd /; exec /bin/sh -s';

/** The host-side setup, run by `sh` inside fresh mount/PID/UTS/IPC namespaces. */
function setupScript(spec: SandboxSpec): string {
  const m = shq(spec.mergedDir);
  const lines = [
    'set -e',
    `mount -t overlay overlay -o ${shq(`lowerdir=${spec.lowerDirs.join(':')},upperdir=${spec.upperDir},workdir=${spec.workDir}`)} ${m}`,
    `mkdir -p ${m}/proc ${m}/dev ${m}/sys ${m}/tmp`,
    `mount -t proc proc ${m}/proc`,
    `mount -t tmpfs -o mode=755,size=16m tmpfs ${m}/dev`,
    ...['null', 'zero', 'random', 'urandom', 'tty', 'full'].map(
      (d) => `touch ${m}/dev/${d} && mount --bind /dev/${d} ${m}/dev/${d}`,
    ),
    `mkdir -p ${m}/dev/pts ${m}/dev/shm && ln -sf /proc/self/fd ${m}/dev/fd`,
    ...spec.devices.flatMap((d) => [
      `mkdir -p "$(dirname ${m}${shq(d.inside)})"`,
      // A device node (not a bind mount), so tools inside do not see the disk as already mounted.
      `set -- $(stat -L -c '%t %T' ${shq(d.host)}) && mknod ${m}${shq(d.inside)} b $((0x$1)) $((0x$2))`,
    ]),
    `hostname ${shq(spec.hostname)}`,
    // pivot_root (not chroot: the host tree must be unreachable, not just hidden), then drop the capabilities
    // that would reach the host's devices or kernel, detach the old root, mount what the VM's /etc/fstab lists
    // (data disks formatted and registered there) and run the script.
    `mkdir -p ${m}/dev/.oldroot`,
    `exec setpriv --bounding-set ${DROPPED_CAPS} -- sh -c ${shq(`cd ${m} && pivot_root . dev/.oldroot && cd / && exec /bin/sh -c ${shq(INNER)}`)}`,
  ];
  return lines.join('\n');
}

/** Runs `spec.script` as root in an overlay-rooted sandbox; its writes land in `upperDir`. */
export async function runInSandbox(spec: SandboxSpec): Promise<SandboxResult> {
  for (const d of [spec.upperDir, spec.workDir, spec.mergedDir]) await mkdir(d, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--pid',
        '--fork',
        '--uts',
        '--ipc',
        '--propagation',
        'private',
        'sh',
        '-c',
        setupScript(spec),
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          HOME: '/root',
          LANG: 'C.UTF-8',
        },
      },
    );
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, spec.timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-MAX_OUTPUT)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-MAX_OUTPUT)));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? 137, stdout, stderr, timedOut });
    });
    child.stdin.end(spec.script);
  });
}

export const sandboxDirs = (root: string) => ({
  upperDir: join(root, 'upper'),
  workDir: join(root, 'work'),
  mergedDir: join(root, 'merged'),
});
