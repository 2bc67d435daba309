/** Pools list: allocation state, node counts by state and the image of each pool, refreshed live. */
import { batchList } from '../api.ts';
import { badge, h, swap, table } from '../dom.ts';
import { heading, type PageContext } from '../page.ts';
import { imageLabel, type Pool, type PoolNodeCounts } from '../wire.ts';
import { stateChips, stateCounts } from './states.ts';

function poolRow(pool: Pool, counts: PoolNodeCounts | undefined): (Node | string)[] {
  const target = pool.targetDedicatedNodes + pool.targetLowPriorityNodes;
  const current = pool.currentDedicatedNodes + pool.currentLowPriorityNodes;
  return [
    h('a', { href: `#/pools/${encodeURIComponent(pool.id)}` }, pool.id),
    badge(pool.state),
    badge(pool.allocationState),
    pool.vmSize,
    imageLabel(pool.virtualMachineConfiguration?.imageReference),
    `${current} / ${target}`,
    stateChips(stateCounts(counts ? [counts] : [])),
  ];
}

export function poolsPage(ctx: PageContext): void {
  const list = h('div', { id: 'pools-list' }, h('p', null, 'Loading…'));
  swap(ctx.main, heading('Pools', h('a', { class: 'button', href: '#/pools/new' }, 'Add pool')), list);
  ctx.every(3000, async () => {
    const [pools, counts] = await Promise.all([
      batchList<Pool>(ctx.session, '/pools'),
      batchList<PoolNodeCounts>(ctx.session, '/nodecounts'),
    ]);
    swap(
      list,
      table(
        'Pools in this account',
        ['Pool', 'State', 'Allocation', 'VM size', 'Image', 'Nodes (current / target)', 'Nodes by state'],
        pools.map((p) =>
          poolRow(
            p,
            counts.find((c) => c.poolId === p.id),
          ),
        ),
        'no pools yet.',
      ),
    );
  });
}
