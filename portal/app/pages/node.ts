/** One node: its state and start task, and a viewer for the start task's stdout and stderr. */
import { batch, messageOf } from '../api.ts';
import { badge, facts, formatTime, h, swap } from '../dom.ts';
import { crumbs, heading, section, type PageContext } from '../page.ts';
import type { ComputeNode } from '../wire.ts';
import { fileViewer } from './file-viewer.ts';

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

/** Reboot, reimage and remove, as Batch Explorer offers them; each asks first and reports failures inline. */
function nodeActions(ctx: PageContext, poolId: string, nodeId: string): HTMLElement {
  const pool = `/pools/${encodeURIComponent(poolId)}`;
  const node = `${pool}/nodes/${encodeURIComponent(nodeId)}`;
  const status = h('p', { class: 'error', role: 'alert', hidden: true });
  const action = (label: string, question: string, call: () => Promise<unknown>, after?: () => void) => {
    const button = h('button', { type: 'button', class: 'secondary' }, label);
    button.addEventListener('click', () => {
      if (!confirm(question)) return;
      status.hidden = true;
      call().then(after, (err: unknown) => {
        status.textContent = `${label} failed: ${messageOf(err)}`;
        status.hidden = false;
      });
    });
    return button;
  };
  const s = ctx.session;
  return h(
    'div',
    null,
    h(
      'p',
      { class: 'actions' },
      action('Reboot', `Reboot node ${nodeId}?`, () => batch(s, 'POST', `${node}/reboot`, {})),
      action('Reimage', `Reimage node ${nodeId}?`, () => batch(s, 'POST', `${node}/reimage`, {})),
      action(
        'Remove from pool',
        `Remove node ${nodeId} from pool ${poolId}?`,
        () => batch(s, 'POST', `${pool}/removenodes`, { nodeList: [nodeId] }),
        () => (location.hash = `#${pool}`),
      ),
    ),
    status,
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
    nodeActions(ctx, poolId, nodeId),
    section('Node', 'node-facts', nodeFacts(node)),
    section(
      'Start task output',
      'node-files',
      fileViewer(ctx.session, `${path}/files/startup`, 'Start task output'),
    ),
  );
  const box = document.getElementById('node-facts') as HTMLElement;
  ctx.every(3000, async () => {
    const n = await batch<ComputeNode>(ctx.session, 'GET', path);
    if (!ctx.signal.aborted) swap(box, nodeFacts(n));
  });
}
