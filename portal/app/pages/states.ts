/** Node states in the order Batch Explorer's heat map legend shows them; colours live in style.css. */
import { h } from '../dom.ts';
import type { ComputeNode, NodeCountsByState, PoolNodeCounts } from '../wire.ts';

export const NODE_STATES = [
  'idle',
  'running',
  'creating',
  'starting',
  'waitingForStartTask',
  'rebooting',
  'reimaging',
  'leavingPool',
  'startTaskFailed',
  'unusable',
  'offline',
  'preempted',
  'upgradingOS',
  'unknown',
] as const;

/** Counts by state across the dedicated and low-priority halves of `/nodecounts` rows. */
export function stateCounts(rows: PoolNodeCounts[]): Map<string, number> {
  const out = new Map<string, number>();
  const add = (c: NodeCountsByState | undefined) => {
    for (const state of NODE_STATES) out.set(state, (out.get(state) ?? 0) + (c?.[state] ?? 0));
  };
  for (const r of rows) {
    add(r.dedicated);
    add(r.lowPriority);
  }
  return out;
}

export function countNodes(nodes: ComputeNode[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of nodes) out.set(n.state, (out.get(n.state) ?? 0) + 1);
  return out;
}

/** Non-zero states as coloured chips ("2 idle · 1 starting"), or "none". */
export function stateChips(counts: Map<string, number>): HTMLElement {
  const shown = [...counts].filter(([, n]) => n > 0);
  if (shown.length === 0) return h('span', { class: 'muted' }, 'no nodes');
  return h(
    'span',
    { class: 'chips' },
    shown.map(([state, n]) => h('span', { class: `badge state-${state}` }, `${n} ${state}`)),
  );
}
