import {
  NodeFileNotFound,
  NodeFilesUnavailable,
  type NodeFileInfo,
  type NodeFileRange,
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
function notReady(nodeId: string, state: string): DomainError {
  const [code, message] =
    state === 'creating'
      ? ['NodeBeingCreated', 'The specified node is being created']
      : state === 'starting' || state === 'waitingforstarttask'
        ? ['NodeBeingStarted', 'The specified node is being started']
        : state === 'rebooting'
          ? ['NodeBeingRebooted', 'The specified node is being rebooted']
          : state === 'reimaging'
            ? ['NodeBeingReimaged', 'The specified node is being reimaged']
            : state === 'unusable'
              ? ['NodeStateUnusable', 'The state of the specified node is unusable']
              : ['OperationNotValidOnNode', 'The specified operation is not valid on the node.'];
  return new DomainError('conflict', code, message, { values: { NodeId: nodeId, NodeState: state } });
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

  async listFiles(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    dir: string,
    recursive: boolean,
  ) {
    const { node, executor } = await this.executorOf(account, poolId, nodeId);
    try {
      return { node, files: await executor.listFiles(node.id, dir, recursive) };
    } catch (err) {
      throw unavailable(err, node.id);
    }
  }

  async readFile(
    account: BatchAccountRecord,
    poolId: string,
    nodeId: string,
    path: string,
    range?: NodeFileRange,
  ): Promise<{ content: Buffer; info: NodeFileInfo }> {
    const { node, executor } = await this.executorOf(account, poolId, nodeId);
    try {
      return await executor.readFile(node.id, path, range);
    } catch (err) {
      if (err instanceof NodeFileNotFound)
        throw new DomainError('not-found', 'FileNotFound', 'The specified file does not exist.', {
          values: { FilePath: path },
        });
      throw unavailable(err, node.id);
    }
  }
}
