/** Account overview: the Batch account (ARM), node counts by state, pools, jobs and galleries at a glance. */
import { arm, armList, batchList, groupPath } from '../api.ts';
import { facts, h, swap } from '../dom.ts';
import { heading, section, type PageContext } from '../page.ts';
import type { ArmResource, BatchAccount, Job, Pool, PoolNodeCounts } from '../wire.ts';
import { stateCounts, stateChips } from './states.ts';

export async function overviewPage(ctx: PageContext): Promise<void> {
  const s = ctx.session;
  const account = await arm<BatchAccount>(
    s,
    `${groupPath(s)}/providers/Microsoft.Batch/batchAccounts/${s.batchAccountName}`,
  );
  const p = account.properties;
  swap(
    ctx.main,
    heading(`Batch account ${account.name}`),
    section(
      'Account',
      'account-facts',
      facts([
        ['Location', account.location],
        ['Endpoint', p.accountEndpoint ?? '—'],
        ['Provisioning state', p.provisioningState ?? '—'],
        ['Pool allocation mode', p.poolAllocationMode ?? '—'],
        ['Dedicated core quota', String(p.dedicatedCoreQuota ?? '—')],
        ['Low-priority core quota', String(p.lowPriorityCoreQuota ?? '—')],
        ['Pool quota', String(p.poolQuota ?? '—')],
        ['Subscription', s.subscriptionId],
        ['Resource group', s.resourceGroup],
      ]),
    ),
    section('Right now', 'account-live', h('p', null, 'Loading…')),
    h(
      'p',
      { class: 'actions' },
      h('a', { class: 'button', href: '#/pools/new' }, 'Add pool'),
      h('a', { class: 'button secondary', href: '#/galleries' }, 'Browse galleries'),
    ),
  );
  const live = document.getElementById('account-live') as HTMLElement;
  ctx.every(3000, async () => {
    const [pools, jobs, counts, galleries] = await Promise.all([
      batchList<Pool>(s, '/pools'),
      batchList<Job>(s, '/jobs'),
      batchList<PoolNodeCounts>(s, '/nodecounts'),
      armList<ArmResource<unknown>>(s, `${groupPath(s)}/providers/Microsoft.Compute/galleries`),
    ]);
    const byState = stateCounts(counts);
    swap(
      live,
      facts([
        ['Pools', h('a', { href: '#/pools' }, String(pools.length))],
        ['Active jobs', h('a', { href: '#/jobs' }, String(jobs.filter((j) => j.state === 'active').length))],
        ['Galleries', h('a', { href: '#/galleries' }, String(galleries.length))],
        ['Nodes', stateChips(byState)],
      ]),
    );
  });
}
