import type { Readable } from 'node:stream';
import type { NodeFileInfo, NodeFileRange, NodeSpec, ProcessUser } from '../backends/port.ts';
import type { AssignedState, RunUsage, StartTaskReport } from './node-facts.ts';
import type { OutputFileSpec, ResourceFileSpec } from '../backends/task-files.ts';

/** A node file's facts and a byte range of it travel in file requests and answers; the surfaces render them too. */
export type { NodeFileInfo, NodeFileRange };
export type { AssignedState, RunUsage, StartTaskReport } from './node-facts.ts';

/**
 * What a host agent and the server exchange (in process or as JSON over HTTPS, `POST /agent/v1/sync`).
 * The agent sends what happened to its nodes since the last sync; the server answers with every node the
 * host should run and what each should be. Level-triggered: the answer is the whole desired state, so a lost
 * or repeated sync does no harm.
 */

/**
 * Who a start task or task runs as beyond its elevation (ADR 0026): a task-scope auto-user (the agent names it
 * by the run) or a pool user account; absent, the pool-scope auto-user (or root for admin).
 */
export type RunUser = { kind: 'task' } | Extract<ProcessUser, { kind: 'account' }>;

/** Node states an agent reports (a subset of Batch's), or `gone` once the node's sandbox and disk are removed. */
export type ReportedState =
  'starting' | 'waitingforstarttask' | 'idle' | 'starttaskfailed' | 'unusable' | 'gone';

export interface NodeReport {
  accountName: string;
  poolId: string;
  nodeId: string;
  /** The generation the agent acted on; reports for an older generation are ignored. */
  generation: number;
  state?: ReportedState;
  startTaskInfo?: StartTaskReport;
  errors?: { code: string; message: string }[];
  bootTime?: string;
}

/**
 * An application package a run needs on its node (ADR 0040): the zip at `url` (a read SAS) extracted once per node
 * into `folder` (relative to the node root, `applications/<app>/<version>`). With `error` the reference named no
 * usable package: the run fails before its command with that code.
 */
export interface PackageInstall {
  applicationId: string;
  version: string;
  folder: string;
  /** The environment variables that name the folder (already in the run's environment). */
  variables: string[];
  url?: string;
  error?: { code: string; message: string };
}

/** A reference the server resolves into a `PackageInstall` before it answers a sync (never sent to agents). */
export interface PackageReferenceSpec {
  applicationId: string;
  version?: string;
}

export interface StartTaskAssignment {
  commandLine: string;
  environment: Record<string, string>;
  /** The pool's application packages, installed before the start task runs. */
  applicationPackages?: PackageInstall[];
  elevation: 'admin' | 'nonadmin';
  user?: RunUser;
  waitForSuccess: boolean;
  /** -1 = unlimited. */
  maxTaskRetryCount: number;
}

export interface NodeAssignment {
  spec: NodeSpec;
  state: AssignedState;
  generation: number;
  /** Whether the node may hydrate now (it holds one of its image source's replica slots). */
  granted: boolean;
  goal: 'run' | 'reboot' | 'reimage' | 'remove';
  startTask: StartTaskAssignment | undefined;
  /** Task runs the node should be doing now; a run no longer listed is stopped. */
  tasks: TaskAssignment[];
}

/** One run of a task the server gives a node; `attempt` tells a new run from one the agent already did. */
export interface TaskAssignment {
  jobId: string;
  taskId: string;
  attempt: number;
  commandLine: string;
  environment: Record<string, string>;
  elevation: 'admin' | 'nonadmin';
  user?: RunUser;
  /** The task's folder relative to the node root dir, e.g. `workitems/job1/job-1/task1` (holds `wd/`). */
  taskDir: string;
  /** The run is killed (whole process tree) after this long. */
  timeoutMs?: number;
  resourceFiles: ResourceFileSpec[];
  outputFiles: OutputFileSpec[];
  /** The pool's and the task's application packages, installed before the resource files are fetched. */
  applicationPackages?: PackageInstall[];
  /** The pool's and the task's references, until the server resolves them into `applicationPackages`. */
  packageReferences?: PackageReferenceSpec[];
  /** The task runs in this container image (`containerSettings`, ADR 0039). */
  container?: TaskContainer;
  /** One instance of a multi-instance task (ADR 0038); absent for an ordinary task. */
  instance?: InstanceAssignment;
}

/**
 * An instance of a multi-instance task: every instance downloads the common resource files into `sharedDir` and
 * runs the coordination command line (whose background processes live until the instance is stopped); the primary
 * (id 0) then runs the task's command line once `allCoordinated`. A subtask's `commandLine` is the coordination
 * command line and its `taskDir` its own folder, `<task dir>/<id>`.
 */
export interface InstanceAssignment {
  id: number;
  coordinationCommandLine: string;
  commonResourceFiles: ResourceFileSpec[];
  /** The task's folder on every node (AZ_BATCH_TASK_SHARED_DIR), relative to the node root dir. */
  sharedDir: string;
  /** Primary: every instance's coordination command ended with exit code 0. */
  allCoordinated: boolean;
}

/** A task's container: the image, where to pull it from, and its run options. */
export interface TaskContainer {
  imageName: string;
  /** The region store the host keeps the image in (the pool's). */
  region: string;
  /** The pool's registries with their passwords. */
  registries: { registryServer: string; userName: string; password: string }[];
  /** `--env` pairs, over the image's and the task's environment. */
  env: Record<string, string>;
  /** `--workdir`: the working directory, over everything else. */
  workdir?: string;
  /** `workingDirectory: containerImageDefault`: the image's WorkingDir instead of the task's folder. */
  imageWorkingDir: boolean;
}

export interface TaskReport {
  accountName: string;
  poolId: string;
  nodeId: string;
  jobId: string;
  taskId: string;
  attempt: number;
  state: 'running' | 'completed';
  startTime: string;
  exitCode?: number;
  failureInfo?: {
    category: 'usererror' | 'servererror';
    code: string;
    message: string;
    details?: { name: string; value: string }[];
  };
  /** Resource files could not be fetched; the command did not run. */
  preProcessingError?: boolean;
  /** Output files could not be uploaded. */
  fileUploadError?: boolean;
  /** What the completed run used (ADR 0031); an agent that does not measure sends none. */
  usage?: RunUsage;
  /** A multi-instance task's instance the report is about (a subtask's, or the primary's coordination). */
  instance?: number;
  /** That instance's coordination command line ended with this exit code. */
  coordinationExitCode?: number;
}

export interface SyncRequest {
  hostId: string;
  /** The executor kind, shown on nodes (`simulated` nodes say so). */
  kind: string;
  reports: NodeReport[];
  taskReports?: TaskReport[];
  /**
   * Only these nodes of the host (an agent that runs one node of a cluster scheduler, ADR 0030): the answer lists
   * them alone, and so do its file requests.
   */
  nodeIds?: string[];
}

export interface SyncResponse {
  nodes: NodeAssignment[];
  /** Node file reads the server needs from this host (node file API calls for its nodes). */
  fileRequests?: FileRequest[];
}

/** A node file API call the server forwards to the host that runs the node. */
export interface FileRequest {
  id: string;
  nodeId: string;
  op: 'list' | 'read' | 'stat' | 'delete';
  path: string;
  /** list and delete. */
  recursive?: boolean;
  range?: NodeFileRange;
}

/**
 * The host's answer: files (list), info (stat; read, whose bytes follow as the body of
 * `POST /agent/v1/files/{id}/body`), nothing (delete), or why not.
 */
/**
 * The server's side of node file requests for remote hosts (`backends/remote-files.ts`' broker), as the agent
 * routes use it: the requests a host's sync answer carries, and the results the host posts back.
 */
export interface FileRequestQueue {
  take(hostId: string, nodeIds?: string[]): FileRequest[];
  complete(id: string, result: FileResult, body?: Readable): boolean;
}

export interface FileResult {
  files?: NodeFileInfo[];
  info?: NodeFileInfo;
  error?: { notFound: boolean; notEmpty?: boolean; message: string };
}

/** The content type of a file read's bytes on their way to the server (`POST /agent/v1/files/{id}/body`). */
export const FILE_BODY_TYPE = 'application/x-lazurite-file-body';
/** The header that carries the file's info (base64 JSON) beside its bytes. */
export const FILE_INFO_HEADER = 'x-lazurite-file-info';

/** How an agent reaches the server: a direct call in process, or HTTPS from another machine. */
export interface AgentLink {
  sync(request: SyncRequest): Promise<SyncResponse>;
  /** Answers a file request (`POST /agent/v1/files/{id}`). */
  fileResult?(id: string, result: FileResult): Promise<void>;
  /** Answers a read with the file's info and its bytes, streamed (`POST /agent/v1/files/{id}/body`). */
  fileBody?(id: string, info: NodeFileInfo, body: Readable): Promise<void>;
}
