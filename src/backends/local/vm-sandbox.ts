import { constants } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeSize } from '../port.ts';
import { NodeCgroups } from './cgroups.ts';
import { DROPPED_CAP_NUMBERS, enterNodeHelper } from './enter-node.ts';
import { Launcher } from './launcher.ts';
import { HolderStarter } from './node-holder.ts';
import { NodeIdRanges } from './node-ids.ts';
import { NodeRunners } from './node-runner.ts';
import { BOOT_MARKER, DEFAULT_PATH, HOLDER_MARKER, type HolderSpec } from './node-sandbox.ts';
import { nodeUpHelper } from './node-up.ts';

/*
 * VM sandboxes (ADR 0020, VMs): a VM's runCommand boots a holder through node-up, exactly as a node's (its own id
 * slot, idmapped layers, host-owned namespaces, seccomp), in cgroups with its size's memory, CPU and pids limits
 * and a devices list of the node devices plus its data disks. The script runs as the VM's root through a runner
 * in VM mode (enter-node.c, vm-broker.h): its processes find the data disks at /dev/disk/azure/scsi1/lun<N>, and
 * their mount(2) calls go to a broker on the host side that mounts only the VM's own data disks. The command
 * starts with `mount -a` (the VM's /etc/fstab, through the broker). Its output goes to files in the VM's /dev
 * (a tmpfs, not part of its disk). At the end, or on a timeout, every process of the run's cgroup is killed, then
 * the holder and whatever is left in the VM's cgroups: nothing of the VM outlives its command.
 */

export interface VmRun {
  vm: string;
  /** The VM's folder: `upper/` and `work/` (its OS disk), `holder.pid`, `idmap`. */
  dir: string;
  hostname: string;
  /** The OS disk's base (the image's unpacked root). */
  lower: string;
  size: NodeSize;
  /** The data disks' loop devices on the host. */
  disks: { lun: number; loop: string }[];
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
const OUT = '/dev/.runcommand-stdout';
const ERR = '/dev/.runcommand-stderr';
/** What the runner runs: the fstab's disks mounted (through the broker), then the script from stdin in /root. */
const COMMAND =
  '[ -f /etc/fstab ] && mount -a >/dev/null 2>&1; cd /root 2>/dev/null || cd /; exec /bin/sh -s';
const VM_DEV_MB = 256;

const cgroupName = (vm: string) => `vm-${vm}`;

async function argvOf(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return undefined;
    return (await readFile(`/proc/${String(pid)}/cmdline`, 'utf8')).split('\0');
  } catch {
    return undefined;
  }
}

/** `major:minor` of a block device. */
async function deviceNumber(path: string): Promise<string> {
  const h = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await h.stat();
    if (!st.isBlockDevice()) throw new Error(`${path} is not a block device`);
    return `${String(Math.floor(st.rdev / 256) & 0xfff)}:${String((st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00))}`;
  } finally {
    await h.close();
  }
}

/**
 * The end of an output file the run wrote in the VM's /dev, read through its holder's root: /dev is a mount point
 * the VM cannot replace, and the file itself is opened without following a link and must be a regular file.
 */
async function output(holder: number, file: string): Promise<string> {
  let h;
  try {
    h = await open(
      `/proc/${String(holder)}/root${file}`,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch {
    return '';
  }
  try {
    const st = await h.stat();
    if (!st.isFile()) return '';
    const length = Math.min(st.size, MAX_OUTPUT);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await h.read(buf, 0, length, st.size - length);
    return buf.subarray(0, bytesRead).toString();
  } finally {
    await h.close();
  }
}

export class VmSandboxes {
  private readonly dataDir: string;
  private readonly cgroups = new NodeCgroups();
  private readonly ids: NodeIdRanges;
  private parts: { starter: HolderStarter; runners: NodeRunners; launcher: Launcher } | undefined;

  /** `vmsDir`: the folder of the VM folders (their id slots are recorded there, as nodes' in theirs). */
  constructor(dataDir: string, vmsDir: string) {
    this.dataDir = dataDir;
    this.ids = new NodeIdRanges(vmsDir);
  }

  /** The compiled helpers, built on first use (compileHelper throws, with what to install, when it cannot). */
  private helpers() {
    if (this.parts) return this.parts;
    const launcher = new Launcher(join(this.dataDir, 'run'), DEFAULT_PATH);
    this.parts = {
      launcher,
      starter: new HolderStarter(launcher, nodeUpHelper(this.dataDir)),
      runners: new NodeRunners(enterNodeHelper(this.dataDir), DROPPED_CAP_NUMBERS, DEFAULT_PATH),
    };
    return this.parts;
  }

  /** Runs the script as the VM's root in a holder of its own; every process of the VM is gone when this ends. */
  async run(r: VmRun): Promise<SandboxResult> {
    if (!/^[\w.-]{1,64}$/.test(r.hostname)) throw new Error(`invalid hostname '${r.hostname}'`);
    const { starter } = this.helpers();
    const name = cgroupName(r.vm);
    await this.stopLeftover(r);
    const at = {
      merged: join(this.dataDir, 'cache', 'vm-root'),
      layerAt: join(this.dataDir, 'cache', 'vm-layers-at'),
    };
    for (const d of [at.merged, at.layerAt, join(r.dir, 'upper'), join(r.dir, 'work')])
      await mkdir(d, { recursive: true });
    const spec: HolderSpec = {
      nodeId: name,
      nodeDir: r.dir,
      hostname: r.hostname,
      fresh: false,
      lower: r.lower,
      upper: join(r.dir, 'upper'),
      work: join(r.dir, 'work'),
      ...at,
      idBase: await this.ids.baseFor(r.vm),
      disks: [],
      devSizeMB: VM_DEV_MB,
      addUser: { passwd: false, group: false },
    };
    try {
      const procs = await this.cgroups.create(name, r.size);
      const numbers = await Promise.all(r.disks.map((d) => deviceNumber(d.loop)));
      await this.cgroups.allowDevices(
        name,
        numbers.map((n) => `b ${n} rwm`),
      );
      const holder = await starter.start(spec, procs, undefined, []);
      try {
        return await this.runScript(r, holder);
      } finally {
        await this.stopHolder(r, holder);
      }
    } finally {
      await this.cgroups.killNode(name);
      await this.cgroups.remove(name);
    }
  }

  /** The script through the VM's runner, in a cgroup of its own that a timeout kills whole. */
  private async runScript(r: VmRun, holder: number): Promise<SandboxResult> {
    const { runners } = this.helpers();
    const name = cgroupName(r.vm);
    const cg = await this.cgroups.forExec(name);
    let timedOut = false;
    let killing = Promise.resolve();
    const timer = setTimeout(() => {
      timedOut = true;
      killing = this.cgroups.killExec(cg).catch(() => undefined);
    }, r.timeoutMs);
    try {
      const result = await runners.run(
        name,
        {
          holderPid: holder,
          nodeId: name,
          ...this.cgroups.runnerPlace(name),
          journalDir: '',
          vmDisks: r.disks.map((d) => `${String(d.lun)}:${d.loop}`).join('\n'),
        },
        {
          user: '0',
          cgroup: cg.own === undefined ? '' : (cg.own.split('/').pop() ?? ''),
          workingDir: '/',
          stdout: OUT,
          stderr: ERR,
          exitName: '',
          commandLine: COMMAND,
          environment: { PATH: DEFAULT_PATH, HOME: '/root', LANG: 'C.UTF-8' },
          stdin: Buffer.from(r.script),
        },
        () => undefined,
      );
      clearTimeout(timer);
      await killing;
      const stderr = await output(holder, ERR);
      return {
        exitCode: result.code ?? 137,
        stdout: await output(holder, OUT),
        stderr: result.stderr === '' ? stderr : `${stderr}${result.stderr}`,
        timedOut,
      };
    } finally {
      clearTimeout(timer);
      await killing;
      await this.cgroups.killExec(cg).catch(() => undefined);
    }
  }

  /** Kills the holder (its PID namespace dies with it) and lets its runner go. */
  private async stopHolder(r: Pick<VmRun, 'vm' | 'dir'>, holder: number): Promise<void> {
    try {
      process.kill(holder, 'SIGKILL');
    } catch {
      // already gone
    }
    while ((await argvOf(holder)) !== undefined) await new Promise((done) => setTimeout(done, 5));
    this.helpers().runners.forget(cgroupName(r.vm));
    await rm(join(r.dir, 'holder.pid'), { force: true });
  }

  /** A holder a crashed server left running over this VM's disk (it must not be mounted twice): killed. */
  async stopLeftover(r: Pick<VmRun, 'vm' | 'dir'>): Promise<void> {
    const pid = Number((await readFile(join(r.dir, 'holder.pid'), 'utf8').catch(() => '')).trim());
    if (!pid) return;
    const argv = await argvOf(pid);
    const name = cgroupName(r.vm);
    if (
      argv?.includes(`${HOLDER_MARKER}${name}`) === true ||
      argv?.includes(`${BOOT_MARKER}${name}`) === true
    )
      await this.stopHolder(r, pid);
    await this.cgroups.killNode(name);
  }

  /** Kills what a crashed server may have left of the VM and frees its id slot (before its folder is removed). */
  async release(vm: string, dir: string): Promise<void> {
    await this.stopLeftover({ vm, dir });
    await this.cgroups.remove(cgroupName(vm));
    await this.ids.release(vm);
  }
}
