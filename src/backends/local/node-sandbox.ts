import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DROPPED_CAPS, shq } from './sandbox.ts';

const run = promisify(execFile);

/**
 * The scripts of a node sandbox, run through the Launcher (sourced in a subshell of it, so `$$` is the
 * launcher's PID: scripts take their own from `cd -P /proc/self`). A node's holder is PID 1 of its own mount, PID,
 * UTS and IPC namespaces. It mounts the overlay root (nodev: device nodes in an image are inert; the image
 * with the node layer of node-prepare.ts below the node's upper) on a mount point every node shares (each
 * mounts it in its own namespace only), /proc, a tmpfs /dev with null, zero, full, random, urandom, tty, shm and
 * the fd links, /dev/pts and each data disk's overlay; adds the `_azbatch` user if the node's files lack it, sets
 * the hostname and records its host PID; then it drops the capabilities execs must not have (they must not have
 * more than the holder either, or nsenter may not enter it), pivot_roots, detaches the host tree, says `ready`
 * and reaps the orphans the kernel hands to PID 1. Its argv carries `lazurite-node=<id>` once it is complete, so
 * a restarted server finds it.
 * Two ways, the same result: with the node-up helper (node-up.c, ADR 0017; nodeUpCommand) one compiled process
 * does all of it with system calls and stays PID 1 (its argv says `lazurite-boot=<id>` until complete); without
 * a C compiler, `unshare --mount --pid --fork --uts --ipc` runs holderSetup on the host (full capabilities):
 * one `mount -a -T <fstab>`, `cp -a` of a /dev template made once per host, builtins for the user, hostname and
 * PID, `setpriv` and `pivot_root`; inside, the image's /bin/sh unmounts the old root, says `ready` and loops on
 * `sleep` (a shell waiting for a child reaps orphans); until it execs, its argv holds the marker quoted.
 * The Batch folders are made by the executor in the upper before mounting (no process). Every host-side path
 * the setup touches inside the node was checked by `checkInsideNode` first: none is a symbolic link that would
 * lead the host's root out of the node.
 */

/** Capabilities no node process (nor its holder) keeps: those of VM sandboxes, plus immutable files. */
export const NODE_DROPPED_CAPS = `${DROPPED_CAPS},-linux_immutable`;
export const AUTO_USER = { name: '_azbatch', uid: 1000, gid: 1000, home: '/home/_azbatch' };
export const HOLDER_MARKER = 'lazurite-node=';
/** A node-up holder's marker until it is complete (as long as HOLDER_MARKER: rewritten in place). */
export const BOOT_MARKER = 'lazurite-boot=';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const BATCH_DIRS = ['startup', 'shared', 'workitems', 'fsmounts'];

export interface HolderSpec {
  nodeId: string;
  nodeDir: string;
  hostname: string;
  /** Whether the node's upper was made just now (holds nothing yet). */
  fresh: boolean;
  /** The overlay's lowerdir: the node layer (if any) above the image, colon-separated. */
  lower: string;
  upper: string;
  work: string;
  merged: string;
  /** Overlays of the data disks, mounted inside the node at `mountPoint`, parents first. */
  disks: { lower: string; upper: string; work: string; mountPoint: string }[];
  devSizeMB: number;
  /** Which parts of the auto-user the node's root still lacks. */
  addUser: { passwd: boolean; group: boolean };
}

/** What only the shell set-up reads: the /dev template and where nodeFstab's text is written for it. */
export interface ShellFiles {
  devTemplate: string;
  fstabFile: string;
}

/** The auto-user's /etc/passwd and /etc/group lines. */
export const AUTO_USER_LINES = {
  passwd: `${AUTO_USER.name}:x:${AUTO_USER.uid}:${AUTO_USER.gid}::${AUTO_USER.home}:/bin/sh`,
  group: `${AUTO_USER.name}:x:${AUTO_USER.gid}:`,
};

/** An overlay's file-system options (mount(2) data; `nodev` is a flag the fstab and node-up add). */
const overlayOptions = (lower: string, upper: string, work: string) =>
  `lowerdir=${lower},upperdir=${upper},workdir=${work}`;

/** A value for an fstab field: spaces, tabs, newlines and backslashes as octal escapes. */
const fstabField = (s: string): string =>
  s.replace(/[\s\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);

/** The node's mounts, as a file for one `mount -a -T` (libmount cannot parse one from a pipe). */
export function nodeFstab(spec: HolderSpec): string {
  const m = spec.merged;
  const overlay = (lower: string, upper: string, work: string, at: string, extra = '') =>
    `overlay ${fstabField(at)} overlay ${fstabField(`nodev,${overlayOptions(lower, upper, work)}${extra}`)} 0 0`;
  return (
    [
      overlay(spec.lower, spec.upper, spec.work, m),
      `proc ${fstabField(`${m}/proc`)} proc nosuid,nodev,noexec,X-mount.mkdir 0 0`,
      `tmpfs ${fstabField(`${m}/dev`)} tmpfs mode=755,nosuid,size=${spec.devSizeMB}m,X-mount.mkdir 0 0`,
      `devpts ${fstabField(`${m}/dev/pts`)} devpts newinstance,ptmxmode=0666,mode=0620,nosuid,noexec,X-mount.mkdir 0 0`,
      ...spec.disks.map((d) => overlay(d.lower, d.upper, d.work, `${m}${d.mountPoint}`, ',X-mount.mkdir')),
    ].join('\n') + '\n'
  );
}

/** Runs as PID 1 of the node (the image's /bin/sh) once the root is pivoted. */
const holderInner = (id: string) =>
  [
    'umount -l /dev/.oldroot || exit 1',
    'command -v sleep >/dev/null || { echo "the image has no sleep command" >&2; exit 1; }',
    `echo ${shq(`${id} ready`)}`,
    'exec </dev/null >/dev/null 2>&1',
    'while :; do sleep 2147483647 || sleep 1 || exit 1; done',
  ].join('\n');

/** The host-side setup of a holder (see the comment at the top). */
export function holderSetup(spec: HolderSpec, files: ShellFiles, id: string): string {
  const m = shq(spec.merged);
  return [
    'set -e',
    'cd -P /proc/self && pid=${PWD#/proc/}',
    `echo ${shq(id)}" pid $pid"`,
    // PID 1 dies with the node: keep the OOM killer off it where the host allows lowering the score.
    '{ echo -1000 >/proc/self/oom_score_adj; } 2>/dev/null || :',
    `mount -a -T ${shq(files.fstabFile)}`,
    `cp -a ${shq(`${files.devTemplate}/.`)} ${m}/dev/`,
    ...(spec.addUser.passwd ? [`echo ${shq(AUTO_USER_LINES.passwd)} >>${m}/etc/passwd`] : []),
    ...(spec.addUser.group ? [`echo ${shq(AUTO_USER_LINES.group)} >>${m}/etc/group`] : []),
    `echo ${shq(spec.hostname)} >/proc/sys/kernel/hostname`,
    `echo "$pid" >${shq(join(spec.nodeDir, 'holder.pid'))}`,
    `cd ${m}`,
    `exec setpriv --bounding-set ${NODE_DROPPED_CAPS} -- /bin/sh -c 'pivot_root . dev/.oldroot && exec /bin/sh -c "$1" "$2"' sh ${shq(holderInner(id))} ${shq(`${HOLDER_MARKER}${spec.nodeId}`)}`,
  ].join('\n');
}

/** The host script (run by the Launcher as request `id`) that starts a holder: join the node's cgroups, unshare. */
export function holderCommand(
  spec: HolderSpec,
  files: ShellFiles,
  cgroupProcs: string[],
  id: string,
): string {
  return [
    'cd -P /proc/self && me=${PWD#/proc/} && cd /',
    ...cgroupProcs.map((f) => `echo "$me" >${shq(f)} || exit 125`),
    `exec unshare --mount --pid --fork --uts --ipc --net --propagation private /bin/sh -c ${shq(holderSetup(spec, files, id))}`,
  ].join('\n');
}

/**
 * The one-line script (Launcher request `id`, sourced: the launcher's subshell waits for the helper) that starts
 * a holder through the node-up helper; `caps`: the capability numbers it drops (enter-node.ts); `folders`: the
 * folders it makes in the upper before mounting it.
 */
export function nodeUpCommand(
  spec: HolderSpec,
  cgroupProcs: string[],
  id: string,
  helper: string,
  caps: string,
  folders: string[],
): string {
  const args = [
    id,
    `${BOOT_MARKER}${spec.nodeId}`,
    spec.hostname,
    join(spec.nodeDir, 'holder.pid'),
    caps,
    cgroupProcs.join('\n'),
    spec.merged,
    String(spec.devSizeMB),
    spec.addUser.passwd ? AUTO_USER_LINES.passwd : '',
    spec.addUser.group ? AUTO_USER_LINES.group : '',
    spec.upper,
    folders.join('\n'),
    overlayOptions(spec.lower, spec.upper, spec.work),
    ...spec.disks.flatMap((d) => [d.mountPoint, overlayOptions(d.lower, d.upper, d.work)]),
  ];
  return [helper, ...args].map(shq).join(' ');
}

/**
 * Runs inside the node (image /bin/sh) before the command: `all` (admin) prepares and runs as root; `prep`
 * (root) and then `run` (uid 1000) for nonadmin. Folders are created if missing; the output files are made
 * fresh with noclobber from inside their folder after checking that folder is what it claims to be (a task
 * that planted a symbolic link cannot make root write elsewhere); for nonadmin the folders and files are
 * handed to the auto-user. Failures before the command exit 126 with a message on the host's stderr pipe.
 * The host side runs with a clean environment (the task's must never reach a host binary: LD_PRELOAD); the
 * task's variables arrive as `NAME=value` arguments and are exported last, just before the command.
 */
const PRELUDE = `
fail() { echo "lazurite: $*" >&2; exit 126; }
P=${DEFAULT_PATH}
mode=$1 wd=$2 out=$3 err=$4 cmd=$5
into() { cd -P "$1" 2>/dev/null && [ "$PWD" = "$1" ] || fail "$1 is not a folder of the node"; }
fresh() { if [ -e "$1" ] || [ -L "$1" ]; then PATH=$P rm -f -- "$1" || fail "cannot replace $1"; fi; }
if [ "$mode" != run ]; then
  { [ -d "$wd" ] && [ -d "\${out%/*}" ] && [ -d "\${err%/*}" ]; } ||
    PATH=$P mkdir -p -- "$wd" "\${out%/*}" "\${err%/*}" || fail "cannot create the folders of $wd"
  into "$wd"
  set -C
fi
if [ "$mode" = prep ]; then
  for f in "$out" "$err"; do
    into "\${f%/*}"; fresh "\${f##*/}"
    command : >"\${f##*/}" || fail "cannot create $f"
    [ "$err" = "$out" ] && break
  done
  # One chown for all (-h: a link planted meanwhile is changed itself, never what it points to).
  PATH=$P chown -h ${AUTO_USER.uid}:${AUTO_USER.gid} -- "$wd" "\${out%/*}" "$out" "\${err%/*}" "$err" ||
    fail "cannot hand $wd, $out and $err to the user"
  exit 0
elif [ "$mode" = all ]; then
  into "\${out%/*}"; fresh "\${out##*/}"; exec >"\${out##*/}"
  if [ "$err" = "$out" ]; then exec 2>&1; else into "\${err%/*}"; fresh "\${err##*/}"; exec 2>"\${err##*/}"; fi
  set +C
fi
cd "$wd" 2>/dev/null || fail "cannot enter $wd"
if [ "$mode" = run ]; then
  if [ "$err" = "$out" ]; then exec >"$out" 2>&1; else exec >"$out" 2>"$err"; fi
fi
shift 5
unset P mode wd out err f
for kv; do export "$kv"; done
exec /bin/sh -c "$cmd"
`;

export interface ExecScript {
  holderPid: number;
  nonadmin: boolean;
  workingDir: string;
  stdout: string;
  stderr: string;
  commandLine: string;
  environment: Record<string, string>;
  cgroupProcs: string[];
  /** A host file given to the process as stdin (else /dev/null). */
  stdinFile?: string;
  /** A host file that receives the exit status when the process ends (a named run's journal). */
  exitFile?: string;
  /** Absolute paths of host tools; `resetSignals` is a command prefix restoring default SIGINT/SIGQUIT. */
  tools: { setpriv: string; nsenter: string; resetSignals: string[]; enterNode?: string; dropCaps?: string };
}

/** The host script (Launcher request `id`) for one exec: join the cgroups, nsenter the holder (twice for nonadmin). */
export function execCommand(s: ExecScript, id: string): string {
  // The launcher's background jobs start with SIGINT and SIGQUIT ignored (POSIX, for asynchronous lists) and
  // ignored signals survive exec: the task must get them back at their defaults.
  const enter = (user: boolean, args: string[]) =>
    [
      ...(args[0] === 'prep' ? [] : s.tools.resetSignals.map(shq)),
      `${shq(s.tools.setpriv)} --bounding-set ${NODE_DROPPED_CAPS}${user ? ' --no-new-privs' : ''}`,
      `-- ${shq(s.tools.nsenter)} --target ${s.holderPid} --mount --pid --uts --ipc --net --root --wd=/`,
      user ? `--setuid ${AUTO_USER.uid} --setgid ${AUTO_USER.gid}` : '',
      `-- /bin/sh -c ${shq(PRELUDE)} sh`,
      ...args.map(shq),
    ].join(' ');
  const files = [s.workingDir, s.stdout, s.stderr];
  const env = Object.entries(s.environment).map(([k, v]) => `${k}=${v}`);
  const stdin = s.stdinFile === undefined ? '' : ` <${shq(s.stdinFile)}`;
  if (s.tools.enterNode !== undefined) {
    // One helper process reports its PID, joins the cgroups, resets the signals, enters the node, prepares the
    // folders and output files, becomes the auto-user and records the status (enter-node.c): no prelude shell.
    const args = [
      id,
      String(s.holderPid),
      s.nonadmin ? '1' : '0',
      s.tools.dropCaps ?? '',
      s.cgroupProcs.join('\n'),
      ...files,
      s.exitFile ?? '',
      s.commandLine,
      ...env,
    ];
    // Sourced by the launcher's subshell (Launcher.run `sourced`): no `exec`, the subshell reports the status.
    return `${[s.tools.enterNode, ...args].map(shq).join(' ')}${stdin}`;
  }
  const join = [
    'cd -P /proc/self && me=${PWD#/proc/} && cd /',
    `echo ${shq(id)}" pid $me"`,
    'exec >/dev/null',
    ...s.cgroupProcs.map((f) => `echo "$me" >${shq(f)} || exit 125`),
  ];
  // A named run records its status on the host even when nobody waits for it any more (server restarted).
  const last = (command: string) =>
    s.exitFile === undefined
      ? `exec ${command}${stdin}`
      : `${command}${stdin}; s=$?; echo "$s" >${shq(s.exitFile)}; exit "$s"`;
  if (!s.nonadmin) return [...join, last(enter(false, ['all', ...files, s.commandLine, ...env]))].join('\n');
  return [
    ...join,
    `${enter(false, ['prep', ...files, ''])} || exit "$?"`,
    last(enter(true, ['run', ...files, s.commandLine, ...env])),
  ].join('\n');
}

/** The /dev every node gets a copy of, made once per host (device nodes need mknod, so not in Node). */
export async function devTemplate(cacheDir: string): Promise<string> {
  const dir = join(cacheDir, 'dev');
  if (existsSync(join(dir, '.oldroot'))) return dir;
  const tmp = `${dir}.tmp-${randomUUID()}`;
  try {
    await mkdir(join(tmp, 'shm'), { recursive: true, mode: 0o1777 });
    await run('chmod', ['1777', join(tmp, 'shm')]);
    const devices: [string, number, number][] = [
      ['null', 1, 3],
      ['zero', 1, 5],
      ['full', 1, 7],
      ['random', 1, 8],
      ['urandom', 1, 9],
      ['tty', 5, 0],
    ];
    for (const [name, major, minor] of devices)
      await run('mknod', ['-m', '666', join(tmp, name), 'c', String(major), String(minor)]);
    const links: [string, string][] = [
      ['fd', '/proc/self/fd'],
      ['stdin', '/proc/self/fd/0'],
      ['stdout', '/proc/self/fd/1'],
      ['stderr', '/proc/self/fd/2'],
      ['ptmx', 'pts/ptmx'],
    ];
    for (const [name, target] of links) await symlink(target, join(tmp, name));
    await mkdir(join(tmp, '.oldroot'), { mode: 0o700 });
    await rename(tmp, dir).catch((err: unknown) => {
      if (!existsSync(join(dir, '.oldroot'))) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

type Entry = 'dir' | 'file' | 'absent' | 'whiteout' | 'other';

export async function entryAt(path: string): Promise<Entry> {
  try {
    const st = await lstat(path);
    if (st.isDirectory()) return 'dir';
    if (st.isFile()) return 'file';
    // An overlay whiteout (0/0 character device): deleted in the upper, absent in the node.
    if (st.isCharacterDevice() && st.rdev === 0) return 'whiteout';
    return 'other';
  } catch {
    return 'absent';
  }
}

/**
 * Whether `path` (absolute inside the node) resolves, in the node's merged root, without any symbolic link
 * (or other non-folder) on the way: checked layer by layer on the stopped node's upper and the image's lower.
 * The end may be missing or be a folder, or a regular file when `file` is true.
 */
export async function checkInsideNode(
  upper: string,
  lower: string,
  path: string,
  file = false,
): Promise<boolean> {
  const parts = path.split('/').filter(Boolean);
  let lowerLive = true;
  for (let i = 0; i < parts.length; i++) {
    const rel = parts.slice(0, i + 1).join('/');
    const up = await entryAt(join(upper, rel));
    const low: Entry = lowerLive ? await entryAt(join(lower, rel)) : 'absent';
    // The upper wins; a folder over a folder merges, a folder over anything else hides the lower below it.
    const seen = up === 'absent' ? low : up;
    if (seen === 'absent' || seen === 'whiteout') return true;
    if (seen === 'file' && file && i === parts.length - 1) return true;
    if (seen !== 'dir') return false;
    lowerLive = low === 'dir';
  }
  return true;
}

/** Whether the node's /etc/passwd and /etc/group (in the first of `layers`, topmost first, that has each) already name the auto-user. */
export async function autoUserPresent(layers: string[]): Promise<{ passwd: boolean; group: boolean }> {
  const has = async (file: string) => {
    for (const root of layers) {
      const kind = await entryAt(join(root, file));
      if (kind === 'absent') continue;
      if (kind !== 'file') return false;
      const text = await readFile(join(root, file), 'utf8');
      return text.split('\n').some((l) => l.startsWith(`${AUTO_USER.name}:`));
    }
    return false;
  };
  return { passwd: await has('etc/passwd'), group: await has('etc/group') };
}
