import type { Readable } from 'node:stream';
import type { ProcessUsage } from '../protocol/node-facts.ts';

export type { ProcessUsage };

/**
 * The node backend port: what a host needs to run Batch compute nodes. A `NodeExecutor` owns the sandboxes of
 * one host; the host agent (src/backends/agent.ts) drives it from the assignments it gets from the server, over
 * HTTPS or in process. Implementations: `local/` (real sandboxes) and `simulated/` (modelled, no execution).
 * Every implementation passes src/backends/conformance.ts.
 */

/** The image a node boots from, as stored in the content store of `region` (a replica or the image itself). */
export interface NodeImage {
  region: string;
  /** Filesystem manifest digest of the OS disk (`sha256:...`). */
  osManifest: string;
  /** Raw disk manifests of the data disks. */
  dataDisks: { lun: number; manifest: string }[];
}

export interface NodeSize {
  name: string;
  cores: number;
  memoryMB: number;
  tempDiskGB: number;
}

/** A node's address on its host's bridge (the server's node address plan, ADR 0021). */
export interface NodeNetwork {
  address: string;
  /** Prefix length of the host subnet (the bridge's). */
  prefix: number;
  /** The bridge's address: the node's default route. */
  gateway: string;
  /** The whole node range `a.b.c.d/n` (forwarding and NAT rules cover it). */
  range: string;
}

export interface NodeSpec {
  accountName: string;
  poolId: string;
  nodeId: string;
  hostname: string;
  image: NodeImage;
  size: NodeSize;
  isDedicated: boolean;
  /** The node's own address; without it (an older server) the node has only its loopback. */
  network?: NodeNetwork;
  /** The pool's user accounts (`userAccounts`, ADR 0026), made in the node's /etc/passwd, group and shadow. */
  userAccounts?: NodeUserAccount[];
  /** The pool's containerConfiguration (ADR 0039): images pulled when the node starts, registries' credentials. */
  containers?: NodeContainers;
}

/** Container images a node prefetches and the credentials for their registries. */
export interface NodeContainers {
  images: string[];
  registries: { registryServer: string; userName: string; password: string }[];
}

/** A pool user account as a node holds it: ids resolved by the server, the password as a SHA-512 crypt hash. */
export interface NodeUserAccount {
  name: string;
  uid: number;
  gid: number;
  /** `$6$...` (crypt(3) SHA-512), the password's only form outside the request that set it. */
  passwordHash: string;
  /** elevationLevel admin: no no_new_privs, and a sudoers rule in the node. */
  admin: boolean;
}

/**
 * Who a process runs as beyond its elevation (ADR 0026): a task-scope auto-user (the executor gives each `key` a
 * user of its own until `releaseTaskUser`) or a pool user account. Absent: root for admin, else the pool-scope
 * auto-user.
 */
export type ProcessUser =
  { kind: 'task'; key: string } | { kind: 'account'; name: string; uid: number; gid: number; admin: boolean };

/** Inside every node, as on Linux Batch nodes: AZ_BATCH_NODE_ROOT_DIR. Node file paths are relative to it. */
export const NODE_ROOT_DIR = '/mnt/batch/tasks';

/** A process to run inside a node. Paths are inside the node. */
export interface ProcessSpec {
  commandLine: string;
  /** The complete environment (the domain computes AZ_BATCH_* and adds the user's settings). */
  environment: Record<string, string>;
  /** admin: root; nonadmin: the unprivileged auto-user (uid 1000, `_azbatch`), unless `user` names another. */
  elevation: 'admin' | 'nonadmin';
  /** A task-scope auto-user or a pool user account (nonadmin elevation only for a task-scope user). */
  user?: ProcessUser;
  /** Working directory inside the node, created if missing (owned by the process's user). */
  workingDir: string;
  /** Files that receive stdout and stderr, relative to NODE_ROOT_DIR, e.g. `startup/stdout.txt`. */
  stdoutFile: string;
  stderrFile: string;
  /** Killed (whole process tree) after this long; undefined = no limit. */
  timeoutMs?: number;
  /** Bytes the process reads on stdin (default: nothing, stdin is /dev/null). */
  stdin?: Buffer;
  /** Aborting kills the process tree; the result then says `killed`. */
  signal?: AbortSignal;
  /**
   * Names the run. An executor that can (local) records it on the host, and `exec` with the same node and runId
   * after a restart returns the status of a run that ended meanwhile, or waits for one still going, instead of
   * starting it again — so a restart never runs a task twice.
   */
  runId?: string;
  /**
   * Runs the process in a container (ADR 0039): its root is this filesystem manifest (an image pulled into the
   * region's store), with the node's /mnt/batch/tasks, /proc and /dev at the same paths, inside the node's
   * isolation (namespaces, cgroup, user namespace, filter). Executors that cannot run containers refuse it.
   */
  container?: { region: string; filesystem: string };
}

export interface ProcessResult {
  exitCode: number;
  timedOut: boolean;
  /** Ended by its abort signal. */
  killed?: boolean;
  /** What the process used, when the executor measures it (ADR 0031). */
  usage?: ProcessUsage;
}

/** A `USER_US KERNEL_US RCHAR WCHAR SYSCR SYSCW` line (enter-node's `!usage`), or undefined when it is not one. */
export function parseUsage(text: string): ProcessUsage | undefined {
  const f = text.trim().split(/\s+/);
  if (f.length !== 6 || !f.every((v) => /^\d+$/.test(v))) return undefined;
  const [u, k, rb, wb, ro, wo] = f.map(Number) as [number, number, number, number, number, number];
  return { userCpuMicros: u, kernelCpuMicros: k, readBytes: rb, writeBytes: wb, readOps: ro, writeOps: wo };
}

export interface NodeFileInfo {
  /** Relative to NODE_ROOT_DIR, `/`-separated, e.g. `startup/stdout.txt`. */
  name: string;
  isDirectory: boolean;
  size: number;
  lastModified: Date;
  creationTime: Date;
  /** Octal mode string as Batch reports it, e.g. `0o100644`. */
  fileMode: string;
}

export interface NodeFileRange {
  start: number;
  /** Inclusive end, as in HTTP ranges; undefined = to the end. */
  end?: number;
}

/**
 * A file being read: its info (the whole file's) and its bytes as a stream, read from disk as the reader pulls
 * them (never the whole file in memory). The reader must consume or destroy `body` (that closes the file).
 */
export interface NodeFileRead {
  info: NodeFileInfo;
  body: Readable;
}

/** The host that runs a node could not serve its files (remote agent gone or too slow). */
export class NodeFilesUnavailable extends Error {}

/** Deleting a folder that is not empty without `recursive`. */
export class NodeDirectoryNotEmpty extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`The directory '${path}' is not empty.`);
    this.path = path;
  }
}

/** Thrown by executors for a file that does not exist or is outside the node's root directory. */
export class NodeFileNotFound extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`The file '${path}' does not exist on the node.`);
    this.path = path;
  }
}

export interface NodeExecutor {
  readonly kind: 'local' | 'simulated';
  /** Makes the image available on this host (once per image per host; concurrent calls share the work). */
  hydrate(image: NodeImage): Promise<void>;
  /**
   * Boots the node: creates its copy-on-write root over the hydrated image if it has none (a fresh, empty
   * upper layer; data disks likewise) and starts its sandbox. Idempotent: booting a running node is a no-op.
   */
  boot(node: NodeSpec): Promise<void>;
  /** Runs a process inside a booted node and waits for it. Several may run at once on one node. */
  exec(nodeId: string, process: ProcessSpec): Promise<ProcessResult>;
  /** Stops everything running on the node and its sandbox; its disk (upper layer) is kept. Reboot = stop + boot. */
  stop(nodeId: string): Promise<void>;
  /** Stops the node and discards its disk. Reimage = destroy + boot; removal = destroy. Idempotent. */
  destroy(nodeId: string): Promise<void>;
  /** Nodes that have a disk on this host (booted or not), for reconciling after a restart. */
  list(): Promise<string[]>;
  /** Files under `dir` (relative to NODE_ROOT_DIR; '' = all), recursively or one level. */
  listFiles(nodeId: string, dir: string, recursive: boolean): Promise<NodeFileInfo[]>;
  /**
   * A file's content (or the byte range of it, clamped to the file; a range that starts at or past the end gives
   * an empty body) as a stream. Throws NodeFileNotFound for missing or escaping paths and for folders.
   */
  readFile(nodeId: string, path: string, range?: NodeFileRange): Promise<NodeFileRead>;
  /** A file's info without reading it (HEAD). Throws like readFile. */
  statFile(nodeId: string, path: string): Promise<NodeFileInfo>;
  /**
   * Deletes a file, or a folder (with what it holds when `recursive`, else only when empty: NodeDirectoryNotEmpty).
   * The root folder itself cannot be deleted (NodeFileNotFound, like a missing or escaping path).
   */
  deleteFile(nodeId: string, path: string, recursive: boolean): Promise<void>;
  /** Drops what a named run left on the host (the server has recorded how it ended). */
  forgetRun?(nodeId: string, runId: string): Promise<void>;
  /** Stops every sandbox (server shutdown); disks are kept. */
  close(): Promise<void>;
}

/** What a VM's disks are made of: the OS disk's base manifest and each data disk's (ADR 0009). */
export interface VmDisks {
  region: string;
  /** Filesystem manifest of the OS disk the VM booted from. */
  osBase: string;
  dataDisks: { lun: number; manifest: string }[];
}

/** How a command run in a VM ended. */
export interface VmCommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * The port the domain's VM service runs VMs through (ADR 0009, 0020): the local backend's `VmHost` is the one
 * adapter, a sandbox per command over the VM's OS disk overlay and data disks.
 */
export interface VmRuntime {
  /** Makes the VM's folder and data disk files from their manifests. */
  prepare(vm: string, disks: VmDisks): Promise<void>;
  /** Runs a shell script as root inside the VM, every process of it gone when this ends. */
  run(
    vm: string,
    hostname: string,
    disks: VmDisks,
    script: string,
    timeoutMs: number,
    size: NodeSize,
  ): Promise<VmCommandResult>;
  /** The OS disk's state as a filesystem manifest (its base plus what the VM changed); returns its digest. */
  captureOs(vm: string, disks: VmDisks): Promise<string>;
  /** A data disk's state as a raw-file manifest; returns its digest. */
  captureData(vm: string, disks: VmDisks, lun: number): Promise<string>;
  /** Stops what a crashed server left running over VM disks. */
  recover(): Promise<void>;
  remove(vm: string): Promise<void>;
}
