/** The node heat map: one coloured cell per node by state (as Batch Explorer draws it), with a legend. */
import { h } from '../dom.ts';
import type { ComputeNode } from '../wire.ts';
import { countNodes, NODE_STATES } from './states.ts';

function cell(poolId: string, node: ComputeNode): HTMLElement {
  const label = `Node ${node.id}: ${node.state}${node.isDedicated === false ? ' (low priority)' : ''}`;
  return h(
    'li',
    null,
    h('a', {
      class: `cell state-${node.state}`,
      href: `#/pools/${encodeURIComponent(poolId)}/nodes/${encodeURIComponent(node.id)}`,
      'data-key': node.id,
      'data-state': node.state,
      'aria-label': label,
      title: label,
    }),
  );
}

function legend(nodes: ComputeNode[]): HTMLElement {
  const counts = countNodes(nodes);
  const states = NODE_STATES.filter(
    (s) => ['idle', 'running', 'starting', 'startTaskFailed'].includes(s) || counts.has(s),
  );
  return h(
    'ul',
    { class: 'legend', 'aria-label': 'Legend' },
    states.map((state) =>
      h(
        'li',
        null,
        h('span', { class: `swatch state-${state}`, 'aria-hidden': 'true' }),
        `${state} `,
        h('strong', null, String(counts.get(state) ?? 0)),
      ),
    ),
  );
}

/** The heat map and its legend for a pool's nodes; cells link to the node page. */
export function heatMap(poolId: string, nodes: ComputeNode[]): HTMLElement {
  const sorted = [...nodes].sort((a, b) => a.id.localeCompare(b.id));
  return h(
    'div',
    { class: 'heatmap-wrap' },
    sorted.length === 0
      ? h('p', { class: 'empty' }, 'No nodes in this pool right now.')
      : h(
          'ul',
          { class: 'heatmap', 'aria-label': `${nodes.length} nodes by state` },
          sorted.map((n) => cell(poolId, n)),
        ),
    legend(nodes),
  );
}
