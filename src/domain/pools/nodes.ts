import {
  NodeDirectoryNotEmpty,
  NodeFileNotFound,
  NodeFilesUnavailable,
  type NodeFileInfo,
  type NodeFileRange,
  type NodeFileRead,
} from '../../backends/port.ts';
import type { NodeFileAccess } from '../../backends/remote-files.ts';
import type { StoreTx } from '../../storage/port.ts';
import type {
  BatchAccountRecord,
  NodeRecord,
  NodeState,
  PoolRecord,
  TaskRecord,
} from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { finishTask, requeueTask, settleJob, TASK_ENDED } from '../jobs/task-outcome.ts';
import { moveNode } from './node-states.ts';
import { invalidProperty } from './pool-spec.ts';
import { poolNotFound } from './pools.ts';

/** The 409 the Batch service gives for a node operation in a state that does not allow it. */
const BUSY: Partial<Record<NodeState, string>> = {
  creating: 'NodeBeingCreated',
  starting: 'NodeBeingStarted',
  waitingforstarttask: 'NodeBeingStarted',
  rebooting: 'NodeBeingRebooted',
  reimaging: 'NodeBeingReimaged',
};

/** States from which reboot/reimage are accepted. */
const RESTARTABLE: readonly NodeState[] = ['idle', 'running', 'starttaskfailed', 'unusable', 'offline'];

export function nodeNotFound(id: string): DomainError {
  return new DomainError('not-found', 'NodeNotFound', 'The specified node does not exist.', {
    values: { NodeId: id },
  });
}

/** A host agent that could not serve a node's files: the 409 Batch gives for a node it cannot reach. */
function unavailable(err: unknown, nodeId: string): unknown {
  if (!(err instanceof NodeFilesUnavailable)) return err;
  return new DomainError(
    'conflict',
    'OperationNotValidOnNode',
    `The node's host agent cannot serve its files: ${err.message}`,
    {
      values: { NodeId: nodeId },
    },
  );
}

/** Batch's answer for a file operation on a node that has no files to serve yet, by the node's state. */
function notReady(nodeId: string, state: NodeState): DomainError {
  const code = BUSY[state] ?? (state === 'unusable' ? 'NodeStateUnusable' : 'OperationNotValidOnNode');
  return new DomainError('conflict', code, `Node '${nodeId}' is ${state} and has no files to serve.`, {
    values: { NodeId: nodeId, NodeState: state },
  });
}

/** Finds the host that runs a node, so file requests reach its executor. */
export type ExecutorLookup = (hostId: string) => NodeFileAccess | undefined;

const alreadyInState = (state: string) =>
  new DomainError(
    'conflict',
    'NodeAlreadyInTargetSchedulingState',
    `The specified compute node is already in the target scheduling state (${state}).`,
  );

/** Compute nodes of a pool: read, reboot, reimage, and their files (through the host that runs them). */
export class NodeService {
  private readonly ctx: DomainContext;
  private readonly executorFor: ExecutorLookup;
  private readonly onChange: () => void;

  constructor(ctx: DomainContext, executorFor: ExecutorLookup, onChange: () => void = () => undefined) {
    this.ctx = ctx;
    this.executorFor = executorFor;
    this.onChange = onChange;
  }

  private async requireNode(tx: StoreTx, account: string, poolId: string, nodeId: string) {
    const pool = await tx.findPool(account, poolId);
    if (!pool) throw poolNotFound(poolId);
    const node = await tx.findNode(account, poolId, nodeId);
    if (!node) throw nodeNotFound(nodeId);
    return { pool, node };
  }

  /** The pool's nodes, with the tasks each is running. */
  list(
    account: BatchAccountRecord,
    poolId: string,
  ): Promise<{ pool: PoolRecord; nodes: NodeRecord[]; tasks: TaskRecord[] }> {
    return this.ctx.store.transaction(async (tx) => {
      const pool = await tx.findPool(account.name, poolId);
      if (!pool) throw poolNotFound(poolId);
      const nodes = await tx.listNodes(account.name, pool.id);
      const tasks = await tx.tasksOnNodes(
        account.name,
        pool.id,
        nodes.map((n) => n.id),
      );
      return { pool, nodes, tasks };
    });
  }

  get(account: BatchAccountRecord, poolId: string, nodeId: string) {
    return this.ctx.store.transaction(async (tx) => {
      const found = await this.requireNode(tx, account.name, poolId, nodeId);
      return { ...found, tasks: await tx.tasksOnNodes(account.name, found.pool.id, [found.node.id]) };
    });
  }

  reboot(account: BatchAccountRecord, poolId: string, nodeId: string) {
    return this.restart(account, poolId, nodeId, 'rebooting');
  }

  reimage(account: BatchAccountRecord, poolId: string, nodeId: string) {
    return this.restart(account, poolId, nodeId, 'reimaging');
  }

  private async restart(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    to: 'rebooting' | 'reimaging',
  ) {
    await this.ctx.store.transaction(async (tx) => {
      const { pool, node } = await this.requireNode(tx, account.name, poolId, nodeId);
      if (pool.state === 'deleting')
        throw new DomainError(
          'conflict',
          'PoolBeingDeleted',
          'The specified pool has been marked for deletion and is being reclaimed.',
        );
      if (!RESTARTABLE.includes(node.state)) {
        throw new DomainError(
          'conflict',
          BUSY[node.state] ?? 'OperationInvalidForCurrentState',
          `The node is ${node.state}; it can be ${to === 'rebooting' ? 'rebooted' : 'reimaged'} when idle, running, starttaskfailed, unusable or offline.`,
          { values: { NodeId: node.id, NodeState: node.state } },
        );
      }
      const now = this.ctx.clock.now().toISOString();
      await tx.putNodes([
        {
          ...node,
          state: to,
          previousState: node.state,
          stateTransitionTime: now,
          goal: to === 'rebooting' ? 'reboot' : 'reimage',
          generation: node.generation + 1,
          startTaskInfo: to === 'reimaging' ? null : node.startTaskInfo,
        },
      ]);
    });
    this.onChange();
  }

  /**
   * disablescheduling: the node takes no new tasks; its running tasks are requeued (default), ended
   * (`terminate`) or left to finish (`taskcompletion`). With none left it shows `offline`.
   */
  async disableScheduling(account: BatchAccountRecord, poolId: string, nodeId: string, option = 'requeue') {
    if (!['requeue', 'terminate', 'taskcompletion'].includes(option))
      throw invalidProperty('nodeDisableSchedulingOption', 'Use requeue, terminate or taskcompletion.');
    await this.ctx.store.transaction(async (tx) => {
      const { pool, node } = await this.requireNode(tx, account.name, poolId, nodeId);
      if (node.schedulingState === 'disabled') throw alreadyInState('disabled');
      const now = this.ctx.clock.now();
      let running = await tx.tasksOnNodes(account.name, pool.id, [node.id]);
      if (option === 'requeue') await tx.putTasks(running.map((t) => requeueTask(t, now)));
      if (option === 'terminate') {
        const ended = running.map((t) => finishTask(t, now, { failureInfo: TASK_ENDED }));
        await tx.putTasks(ended);
        for (const t of ended) await settleJob(tx, t, now);
      }
      if (option !== 'taskcompletion') running = [];
      const disabled: NodeRecord = { ...node, schedulingState: 'disabled' };
      const idle = running.length === 0 && (node.state === 'idle' || node.state === 'running');
      await tx.putNodes([(idle ? moveNode(disabled, 'offline', now) : undefined) ?? disabled]);
    });
    this.onChange();
  }

  /** enablescheduling: the node takes tasks again (an offline node is idle until it gets one). */
  async enableScheduling(account: BatchAccountRecord, poolId: string, nodeId: string) {
    await this.ctx.store.transaction(async (tx) => {
      const { node } = await this.requireNode(tx, account.name, poolId, nodeId);
      if (node.schedulingState !== 'disabled') throw alreadyInState('enabled');
      const enabled: NodeRecord = { ...node, schedulingState: 'enabled' };
      const now = this.ctx.clock.now();
      await tx.putNodes([(node.state === 'offline' ? moveNode(enabled, 'idle', now) : undefined) ?? enabled]);
    });
    this.onChange();
  }

  private async executorOf(account: BatchAccountRecord, poolId: string, nodeId: string) {
    const { node } = await this.get(account, poolId, nodeId);
    const executor = node.hostId === null ? undefined : this.executorFor(node.hostId);
    if (!executor) throw notReady(node.id, node.state);
    return { node, executor };
  }

  /** Runs a file call on the node's host, with the executor's failures as Batch's errors. */
  private async onNode<T>(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    path: string,
    call: (executor: NodeFileAccess, node: NodeRecord) => Promise<T>,
  ): Promise<T> {
    const { node, executor } = await this.executorOf(account, poolId, nodeId);
    try {
      return await call(executor, node);
    } catch (err) {
      throw fileError(err, node, path);
    }
  }

  async listFiles(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    dir: string,
    recursive: boolean,
  ): Promise<{ node: NodeRecord; files: NodeFileInfo[] }> {
    return this.onNode(account, poolId, nodeId, dir, async (executor, node) => ({
      node,
      files: await executor.listFiles(node.id, dir, recursive),
    }));
  }

  /** A file's bytes as a stream (the caller consumes or destroys it), with its info. */
  readFile(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    path: string,
    range?: NodeFileRange,
  ): Promise<NodeFileRead> {
    return this.onNode(account, poolId, nodeId, path, (executor, node) =>
      executor.readFile(node.id, path, range),
    );
  }

  statFile(account: BatchAccountRecord, poolId: string, nodeId: string, path: string): Promise<NodeFileInfo> {
    return this.onNode(account, poolId, nodeId, path, (executor, node) => executor.statFile(node.id, path));
  }

  deleteFile(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    path: string,
    recursive: boolean,
  ): Promise<void> {
    return this.onNode(account, poolId, nodeId, path, (executor, node) =>
      executor.deleteFile(node.id, path, recursive),
    );
  }
}

/**
 * Executor failures as Batch answers them: a missing path is FileNotFound (also the folder listing of a node
 * still starting, whose folders do not exist yet), a folder that is not empty cannot be
 * deleted without `recursive`, and a host agent that cannot serve the node is OperationNotValidOnNode.
 */
function fileError(err: unknown, node: NodeRecord, path: string): unknown {
  if (err instanceof NodeFileNotFound)
    return new DomainError('not-found', 'FileNotFound', 'The specified file does not exist.', {
      values: { FilePath: path },
    });
  if (err instanceof NodeDirectoryNotEmpty)
    return new DomainError(
      'conflict',
      'OperationInvalidForCurrentState',
      'The directory is not empty; delete it with recursive=true to delete what it holds.',
      { values: { FilePath: path } },
    );
  return unavailable(err, node.id);
}
