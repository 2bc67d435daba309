import type { NodeSpec } from './port.ts';

/**
 * What a host agent and the server exchange (in process or as JSON over HTTPS, `POST /agent/v1/sync`).
 * The agent sends what happened to its nodes since the last sync; the server answers with every node the
 * host should run and what each should be. Level-triggered: the answer is the whole desired state, so a lost
 * or repeated sync does no harm.
 */

/** Node states an agent reports (a subset of Batch's), or `gone` once the node's sandbox and disk are removed. */
export type ReportedState =
  'starting' | 'waitingforstarttask' | 'idle' | 'starttaskfailed' | 'unusable' | 'gone';

export interface StartTaskReport {
  state: 'running' | 'completed';
  startTime: string;
  endTime?: string;
  exitCode?: number;
  result?: 'success' | 'failure';
  retryCount: number;
  failureInfo?: { category: 'usererror' | 'servererror'; code: string; message: string };
}

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

export interface StartTaskAssignment {
  commandLine: string;
  environment: Record<string, string>;
  elevation: 'admin' | 'nonadmin';
  waitForSuccess: boolean;
  /** -1 = unlimited. */
  maxTaskRetryCount: number;
}

/** The server's node states an agent acts on. */
export type AssignedState =
  | 'creating'
  | 'starting'
  | 'waitingforstarttask'
  | 'idle'
  | 'running'
  | 'starttaskfailed'
  | 'rebooting'
  | 'reimaging'
  | 'leavingpool'
  | 'unusable'
  | 'preempted'
  | 'offline'
  | 'unknown';

export interface NodeAssignment {
  spec: NodeSpec;
  state: AssignedState;
  generation: number;
  /** Whether the node may hydrate now (it holds one of its image source's replica slots). */
  granted: boolean;
  goal: 'run' | 'reboot' | 'reimage' | 'remove';
  startTask: StartTaskAssignment | undefined;
}

export interface SyncRequest {
  hostId: string;
  /** The executor kind, shown on nodes (`simulated` nodes say so). */
  kind: string;
  reports: NodeReport[];
}

export interface SyncResponse {
  nodes: NodeAssignment[];
}

/** How an agent reaches the server: a direct call in process, or HTTPS from another machine. */
export interface AgentLink {
  sync(request: SyncRequest): Promise<SyncResponse>;
}
