/** Jobs and their tasks, with states and exit codes. */
import { batch, batchList } from '../api.ts';
import { badge, facts, formatTime, h, swap, table, type Child } from '../dom.ts';
import { crumbs, heading, section, type PageContext } from '../page.ts';
import type { Job, Task } from '../wire.ts';
import { fileViewer } from './file-viewer.ts';

export function jobsPage(ctx: PageContext): void {
  const list = h('div', { id: 'jobs-list' }, h('p', null, 'Loading…'));
  swap(ctx.main, heading('Jobs'), list);
  ctx.every(3000, async () => {
    const jobs = await batchList<Job>(ctx.session, '/jobs');
    swap(
      list,
      table(
        'Jobs in this account',
        ['Job', 'State', 'Pool', 'Created'],
        jobs.map((j) => [
          h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id),
          badge(j.state),
          j.poolInfo?.poolId
            ? h('a', { href: `#/pools/${encodeURIComponent(j.poolInfo.poolId)}` }, j.poolInfo.poolId)
            : '—',
          formatTime(j.creationTime),
        ]),
        'no jobs yet.',
      ),
    );
  });
}

function nodeLink(t: Task): Child {
  const { poolId, nodeId } = t.nodeInfo ?? {};
  if (poolId === undefined || nodeId === undefined) return '—';
  return h(
    'a',
    { href: `#/pools/${encodeURIComponent(poolId)}/nodes/${encodeURIComponent(nodeId)}` },
    nodeId,
  );
}

function exitCode(t: Task): string {
  const code = t.executionInfo?.exitCode;
  return code === undefined ? '—' : String(code);
}

export async function jobPage(ctx: PageContext, [id = '']: string[]): Promise<void> {
  const path = `/jobs/${encodeURIComponent(id)}`;
  const job = await batch<Job>(ctx.session, 'GET', path);
  swap(
    ctx.main,
    crumbs([['Jobs', '#/jobs']]),
    heading(`Job ${job.id}`),
    section(
      'Job',
      'job-facts',
      facts([
        ['State', badge(job.state)],
        ['Pool', job.poolInfo?.poolId ?? '—'],
        ['Created', formatTime(job.creationTime)],
      ]),
    ),
    section('Tasks', 'job-tasks', h('p', null, 'Loading…')),
  );
  const box = document.getElementById('job-tasks') as HTMLElement;
  ctx.every(2000, async () => {
    const tasks = await batchList<Task>(ctx.session, `${path}/tasks`);
    if (ctx.signal.aborted) return;
    swap(
      box,
      table(
        `Tasks of ${job.id}`,
        ['Task', 'State', 'Exit code', 'Result', 'Node', 'Command line', 'Ended'],
        tasks.map((t) => [
          h('a', { href: `#/jobs/${encodeURIComponent(job.id)}/tasks/${encodeURIComponent(t.id)}` }, t.id),
          badge(t.state),
          exitCode(t),
          t.executionInfo?.result ? badge(t.executionInfo.result) : '—',
          nodeLink(t),
          h('code', null, t.commandLine ?? ''),
          formatTime(t.executionInfo?.endTime),
        ]),
        'no tasks yet.',
      ),
    );
  });
}

function taskFacts(t: Task): HTMLElement {
  return facts([
    ['State', badge(t.state)],
    ['Exit code', exitCode(t)],
    ['Result', t.executionInfo?.result ?? '—'],
    ['Node', nodeLink(t)],
    ['Command line', h('code', null, t.commandLine ?? '')],
    ['Ran', `${formatTime(t.executionInfo?.startTime)} – ${formatTime(t.executionInfo?.endTime)}`],
    ['Failure', t.executionInfo?.failureInfo?.message ?? '—'],
  ]);
}

/** One task: its state and exit code, and its stdout/stderr through the task files API. */
export async function taskPage(ctx: PageContext, [jobId = '', taskId = '']: string[]): Promise<void> {
  const path = `/jobs/${encodeURIComponent(jobId)}/tasks/${encodeURIComponent(taskId)}`;
  const task = await batch<Task>(ctx.session, 'GET', path);
  swap(
    ctx.main,
    crumbs([
      ['Jobs', '#/jobs'],
      [jobId, `#/jobs/${encodeURIComponent(jobId)}`],
    ]),
    heading(`Task ${task.id}`),
    section('Task', 'task-facts', taskFacts(task)),
    section('Output', 'task-files', fileViewer(ctx.session, `${path}/files`, 'Task output')),
  );
  const box = document.getElementById('task-facts') as HTMLElement;
  ctx.every(2000, async () => {
    const t = await batch<Task>(ctx.session, 'GET', path);
    if (!ctx.signal.aborted) swap(box, taskFacts(t));
  });
}
