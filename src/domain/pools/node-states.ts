import type { NodeRecord, NodeState } from '../../storage/records.ts';

/**
 * The Batch compute node state machine as data: for each state, the states a node may move to. Moves the
 * server makes (rebooting, reimaging, leavingpool on request) and moves a host agent reports (starting,
 * waitingforstarttask, idle, starttaskfailed, unusable) both go through `moveNode`, which refuses the rest.
 */
export const NODE_TRANSITIONS: Record<NodeState, readonly NodeState[]> = {
  creating: ['starting', 'unusable', 'leavingpool', 'preempted'],
  starting: ['waitingforstarttask', 'idle', 'unusable', 'leavingpool', 'rebooting', 'reimaging', 'preempted'],
  waitingforstarttask: [
    'idle',
    'starttaskfailed',
    'unusable',
    'leavingpool',
    'rebooting',
    'reimaging',
    'preempted',
  ],
  idle: ['running', 'rebooting', 'reimaging', 'leavingpool', 'unusable', 'offline', 'preempted'],
  running: ['idle', 'rebooting', 'reimaging', 'leavingpool', 'unusable', 'offline', 'preempted'],
  starttaskfailed: ['rebooting', 'reimaging', 'leavingpool', 'unusable'],
  rebooting: ['starting', 'unusable', 'leavingpool'],
  reimaging: ['starting', 'unusable', 'leavingpool'],
  leavingpool: [],
  unusable: ['starting', 'rebooting', 'reimaging', 'leavingpool'],
  preempted: ['starting', 'leavingpool'],
  offline: ['idle', 'running', 'rebooting', 'reimaging', 'leavingpool', 'unusable'],
  unknown: ['starting', 'idle', 'unusable', 'leavingpool', 'rebooting', 'reimaging'],
};

export const NODE_STATES = Object.keys(NODE_TRANSITIONS) as NodeState[];

export function canMove(from: NodeState, to: NodeState): boolean {
  return NODE_TRANSITIONS[from].includes(to);
}

/** The node in state `to`, with previousState and stateTransitionTime; undefined when the move is not allowed. */
export function moveNode(node: NodeRecord, to: NodeState, now: Date): NodeRecord | undefined {
  if (node.state === to) return node;
  if (!canMove(node.state, to)) return undefined;
  return { ...node, state: to, previousState: node.state, stateTransitionTime: now.toISOString() };
}

/** States in which a node is usable for tasks (issue 5's scheduler reads this). */
export const SCHEDULABLE: readonly NodeState[] = ['idle', 'running'];

/** Node counts per state, with Batch's property names (NodeCounts in BatchService.json). */
export function countNodes(nodes: NodeRecord[]): Record<string, number> {
  const wire: Record<NodeState, string> = {
    creating: 'creating',
    idle: 'idle',
    offline: 'offline',
    preempted: 'preempted',
    rebooting: 'rebooting',
    reimaging: 'reimaging',
    running: 'running',
    starting: 'starting',
    starttaskfailed: 'startTaskFailed',
    leavingpool: 'leavingPool',
    unknown: 'unknown',
    unusable: 'unusable',
    waitingforstarttask: 'waitingForStartTask',
  };
  const counts: Record<string, number> = Object.fromEntries(Object.values(wire).map((k) => [k, 0]));
  for (const n of nodes) counts[wire[n.state]] = (counts[wire[n.state]] ?? 0) + 1;
  counts.upgradingOS = 0;
  counts.total = nodes.length;
  return counts;
}
