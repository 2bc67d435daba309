/** Jobs and their tasks, with states and exit codes. */
import { batch, batchList } from '../api.ts';
import { badge, facts, formatTime, h, swap, table } from '../dom.ts';
import { crumbs, heading, section, type PageContext } from '../page.ts';
import type { Job, Task } from '../wire.ts';

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
          t.id,
          badge(t.state),
          exitCode(t),
          t.executionInfo?.result ?? '—',
          t.nodeInfo?.nodeId ?? '—',
          h('code', null, t.commandLine ?? ''),
          formatTime(t.executionInfo?.endTime),
        ]),
        'no tasks yet.',
      ),
    );
  });
}
