/** One node: its state and start task, and a viewer for the start task's stdout and stderr. */
import { batch, batchText, messageOf } from '../api.ts';
import { badge, facts, formatTime, h, swap } from '../dom.ts';
import { crumbs, heading, section, type PageContext } from '../page.ts';
import type { ComputeNode } from '../wire.ts';

const FILES = ['stdout.txt', 'stderr.txt'] as const;

function nodeFacts(node: ComputeNode): HTMLElement {
  const info = node.startTaskInfo;
  return facts([
    ['State', badge(node.state)],
    ['Scheduling', node.schedulingState ?? '—'],
    ['Kind', node.isDedicated === false ? 'Low priority' : 'Dedicated'],
    ['IP address', node.ipAddress ?? '—'],
    ['Allocated', formatTime(node.allocationTime)],
    ['Last boot', formatTime(node.lastBootTime)],
    [
      'Tasks run',
      `${node.totalTasksRun ?? 0} (${node.totalTasksSucceeded ?? 0} succeeded, ${node.runningTasksCount ?? 0} running)`,
    ],
    ['Start task', node.startTask ? h('code', null, node.startTask.commandLine) : 'none'],
    ['Start task state', info ? badge(info.state) : '—'],
    ['Start task result', info?.result ?? '—'],
    ['Start task exit code', info?.exitCode === undefined ? '—' : String(info.exitCode)],
    ['Start task ran', info ? `${formatTime(info.startTime)} – ${formatTime(info.endTime)}` : '—'],
    ['Start task failure', info?.failureInfo?.message ?? '—'],
  ]);
}

/** Buttons for stdout/stderr (a tab-like toggle, aria-pressed) and the file's text below. */
function fileViewer(ctx: PageContext, filesPath: string): HTMLElement {
  const output = h(
    'pre',
    { id: 'file-content', class: 'file', tabindex: 0, 'aria-live': 'polite' },
    'Choose a file.',
  );
  const buttons = FILES.map((name) =>
    h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', 'data-file': name }, name),
  );
  const show = async (name: string) => {
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.file === name));
    output.textContent = 'Loading…';
    try {
      const text = await batchText(ctx.session, `${filesPath}/startup/${name}`);
      output.textContent = text === '' ? `(${name} is empty)` : text;
    } catch (err) {
      output.textContent = `Could not read ${name}: ${messageOf(err)}`;
    }
  };
  for (const b of buttons) b.addEventListener('click', () => void show(b.dataset.file ?? ''));
  return h(
    'div',
    null,
    h('div', { class: 'toggles', role: 'group', 'aria-label': 'Start task output' }, buttons),
    output,
  );
}

export async function nodePage(ctx: PageContext, [poolId = '', nodeId = '']: string[]): Promise<void> {
  const path = `/pools/${encodeURIComponent(poolId)}/nodes/${encodeURIComponent(nodeId)}`;
  const node = await batch<ComputeNode>(ctx.session, 'GET', path);
  swap(
    ctx.main,
    crumbs([
      ['Pools', '#/pools'],
      [poolId, `#/pools/${encodeURIComponent(poolId)}`],
    ]),
    heading(`Node ${node.id}`),
    section('Node', 'node-facts', nodeFacts(node)),
    section('Start task output', 'node-files', fileViewer(ctx, `${path}/files`)),
  );
  const box = document.getElementById('node-facts') as HTMLElement;
  ctx.every(3000, async () => {
    const n = await batch<ComputeNode>(ctx.session, 'GET', path);
    if (!ctx.signal.aborted) swap(box, nodeFacts(n));
  });
}
