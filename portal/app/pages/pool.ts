/** One pool: its facts, OS and image with disks, resize errors, a live node heat map and size/task charts. */
import { batch, batchList, messageOf } from '../api.ts';
import { badge, facts, h, swap, type Child } from '../dom.ts';
import { crumbs, heading, section, type PageContext } from '../page.ts';
import type { Session } from '../session.ts';
import type { ComputeNode, ImageReference, Pool } from '../wire.ts';
import { poolCharts, record } from './charts.ts';
import { heatMap } from './heatmap.ts';
import { imageSection } from './image-disks.ts';
import { deleteButton, resizeForm } from './pool-actions.ts';

/** What Azure's portal shows as the pool's operating system: custom images are "Custom VM image". */
export function operatingSystem(pool: Pool): string {
  const ref = pool.virtualMachineConfiguration?.imageReference;
  if (ref === undefined) return '—';
  if (ref.virtualMachineImageId !== undefined) return 'Custom VM image';
  return `${ref.publisher ?? ''} ${ref.offer ?? ''} ${ref.sku ?? ''}`.trim();
}

/** ISO 8601 duration (PT15M, PT1H30M) in words. */
function duration(iso: string | undefined): string {
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(iso ?? '');
  if (!m) return iso ?? '—';
  const [, hours, minutes, seconds] = m;
  return [hours && `${hours} h`, minutes && `${minutes} min`, seconds && `${seconds} s`]
    .filter(Boolean)
    .join(' ');
}

function poolFacts(pool: Pool): HTMLElement {
  const st = pool.startTask;
  return facts([
    ['State', badge(pool.state)],
    ['Allocation state', badge(pool.allocationState)],
    ['Operating system', h('span', { id: 'pool-os' }, operatingSystem(pool))],
    ['VM size', pool.vmSize],
    ['Node agent SKU', pool.virtualMachineConfiguration?.nodeAgentSKUId ?? '—'],
    ['Dedicated nodes', `${pool.currentDedicatedNodes} of ${pool.targetDedicatedNodes}`],
    ['Low-priority nodes', `${pool.currentLowPriorityNodes} of ${pool.targetLowPriorityNodes}`],
    ['Resize timeout', duration(pool.resizeTimeout)],
    ['Start task', st ? h('code', null, st.commandLine) : 'none'],
  ]);
}

function resizeErrors(pool: Pool): Child {
  const errors = pool.resizeErrors ?? [];
  if (errors.length === 0) return null;
  return h(
    'div',
    { class: 'card error', role: 'alert', id: 'resize-errors' },
    h('h2', null, 'Resize errors'),
    h(
      'ul',
      null,
      errors.map((e) =>
        h(
          'li',
          null,
          h('strong', null, e.code),
          ': ',
          e.message ?? '',
          (e.values ?? []).map((v) => ` ${v.name}=${v.value}`),
        ),
      ),
    ),
  );
}

async function showImage(s: Session, ref: ImageReference, box: HTMLElement): Promise<void> {
  try {
    swap(box, await imageSection(s, ref));
  } catch (err) {
    swap(box, h('p', { class: 'error' }, messageOf(err)));
  }
}

export async function poolPage(ctx: PageContext, [id = '']: string[]): Promise<void> {
  const s = ctx.session;
  const path = `/pools/${encodeURIComponent(id)}`;
  const pool = await batch<Pool>(s, 'GET', path);
  swap(
    ctx.main,
    crumbs([['Pools', '#/pools']]),
    heading(`Pool ${pool.id}`, deleteButton(s, pool.id)),
    h('div', { id: 'pool-errors' }),
    section('Pool', 'pool-facts', poolFacts(pool)),
    section('Nodes', 'pool-heatmap', h('p', null, 'Loading…')),
    section('Over time', 'pool-charts'),
    section('Resize', 'pool-resize', resizeForm(s, pool)),
    section('Image', 'pool-image', h('p', null, 'Loading…')),
  );
  const ref = pool.virtualMachineConfiguration?.imageReference;
  const imageBox = document.getElementById('pool-image') as HTMLElement;
  if (ref) void showImage(s, ref, imageBox);
  const ids = ['pool-facts', 'pool-heatmap', 'pool-charts', 'pool-errors'] as const;
  const [factsBox, mapBox, chartBox, errorBox] = ids.map((i) => document.getElementById(i) as HTMLElement);
  ctx.every(2000, async () => {
    const [p, nodes] = await Promise.all([
      batch<Pool>(s, 'GET', path),
      batchList<ComputeNode>(s, `${path}/nodes`),
    ]);
    if (ctx.signal.aborted) return;
    const running = nodes.reduce((sum, n) => sum + (n.runningTasksCount ?? 0), 0);
    const samples = record(id, {
      t: Date.now(),
      size: p.currentDedicatedNodes + p.currentLowPriorityNodes,
      target: p.targetDedicatedNodes + p.targetLowPriorityNodes,
      running,
    });
    if (factsBox) swap(factsBox, poolFacts(p));
    if (errorBox) swap(errorBox, resizeErrors(p));
    if (mapBox) swap(mapBox, heatMap(id, nodes));
    if (chartBox) swap(chartBox, poolCharts(samples));
  });
}
