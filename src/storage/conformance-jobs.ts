import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Store } from './port.ts';
import type { JobRecord, JobScheduleRecord, SubtaskRecord, TaskRecord } from './records.ts';
import { sampleNode, samplePool } from './conformance-batch.ts';

const T0 = '2026-01-01T00:00:00Z';

export const sampleJob = (id: string, seq: number, priority = 0): JobRecord => ({
  accountName: 'Acct',
  id,
  spec: { poolInfo: { poolId: 'p' } },
  poolId: 'P',
  priority,
  seq,
  state: 'active',
  previousState: null,
  stateTransitionTime: T0,
  previousStateTransitionTime: null,
  creationTime: T0,
  lastModified: T0,
  etag: '0x1',
  executionInfo: { startTime: T0, poolId: 'P' },
  nextTaskSeq: 0,
});

export const sampleTask = (job: JobRecord, id: string, seq: number): TaskRecord => ({
  accountName: job.accountName,
  jobId: job.id,
  id,
  spec: { commandLine: '/bin/true' },
  seq,
  poolId: job.poolId,
  jobPriority: job.priority,
  jobSeq: job.seq,
  state: 'active',
  previousState: null,
  stateTransitionTime: T0,
  previousStateTransitionTime: null,
  creationTime: T0,
  lastModified: T0,
  etag: '0x1',
  executionInfo: { retryCount: 0, requeueCount: 0 },
  nodeInfo: null,
  assignedNode: null,
  attempt: 0,
  blocked: false,
  held: false,
  satisfiesDependents: false,
  requiredSlots: 1,
  maxTaskRetryCount: 0,
});

/** Jobs and tasks: the part of the store conformance suite for the scheduler's queue and task bookkeeping. */
export function jobStoreConformance(open: () => Promise<Store>): void {
  jobTests(open);
  queueTests(open);
  subtaskTests(open);
  scheduleConformance(open);
  countConformance(open);
  taskFileConformance(open);
}

function jobTests(open: () => Promise<Store>): void {
  test('jobs: case-insensitive ids, increasing creation numbers, delete removes tasks and edges', async () => {
    const store = await open();
    await store.transaction(async (tx) => {
      const seq = await tx.nextJobSeq();
      await tx.putJob(sampleJob('Job-A', seq));
      assert.equal(await tx.nextJobSeq(), seq + 1);
      await tx.putTasks([sampleTask(sampleJob('Job-A', seq), 't1', 0)]);
      await tx.putTaskDependencies('acct', 'job-a', [{ parent: 't1', child: 'T2' }]);
    });
    assert.equal((await store.transaction((tx) => tx.findJob('ACCT', 'job-a')))?.id, 'Job-A');
    assert.deepEqual(await store.transaction((tx) => tx.dependentsOf('acct', 'JOB-A', 'T1')), ['t2']);
    assert.deepEqual(await store.transaction((tx) => tx.parentsOf('acct', 'JOB-A', 't2')), ['t1']);
    assert.equal(await store.transaction((tx) => tx.deleteJob('acct', 'JOB-A')), true);
    assert.deepEqual(await store.transaction((tx) => tx.listTasks('acct', 'job-a')), []);
    assert.deepEqual(await store.transaction((tx) => tx.dependentsOf('acct', 'job-a', 't1')), []);
    assert.equal(await store.transaction((tx) => tx.deleteJob('acct', 'job-a')), false);
    await store.close();
  });
}

function queueTests(open: () => Promise<Store>): void {
  test('queue: runnable tasks by job priority, job age, task age; blocked/held/running ones are not queued', async () => {
    const store = await open();
    const low = sampleJob('low', 1, 0);
    const high = sampleJob('high', 2, 10);
    const older = sampleJob('older', 0, 10);
    await store.transaction((tx) =>
      tx.putTasks([
        sampleTask(low, 'l0', 0),
        sampleTask(high, 'h1', 1),
        sampleTask(high, 'h0', 0),
        sampleTask(older, 'o0', 0),
        { ...sampleTask(older, 'blocked', 1), blocked: true },
        { ...sampleTask(older, 'held', 2), held: true },
        { ...sampleTask(older, 'busy', 3), state: 'running', assignedNode: 'N1' },
      ]),
    );
    const head = await store.transaction((tx) => tx.queuedTasks('ACCT', 'p', 3));
    assert.deepEqual(
      head.map((t) => t.id),
      ['o0', 'h0', 'h1'],
    );
    const all = await store.transaction((tx) => tx.queuedTasks('acct', 'P', 100));
    assert.deepEqual(
      all.map((t) => t.id),
      ['o0', 'h0', 'h1', 'l0'],
    );
    const onNode = await store.transaction((tx) => tx.tasksOnNodes('acct', 'p', ['n1', 'n2']));
    assert.deepEqual(
      onNode.map((t) => t.id),
      ['busy'],
    );
    await store.close();
  });

  test('tasks: counts by state and result with slots, paging, state filter, ranges, delete', async () => {
    const store = await open();
    const job = sampleJob('j', 1);
    const done = (t: TaskRecord, result: 'success' | 'failure'): TaskRecord => ({
      ...t,
      state: 'completed',
      executionInfo: { ...t.executionInfo, result },
    });
    await store.transaction((tx) =>
      tx.putTasks([
        sampleTask(job, '1', 0),
        { ...sampleTask(job, '2', 1), state: 'running', requiredSlots: 2, assignedNode: 'n' },
        { ...sampleTask(job, '3', 2), state: 'preparing', assignedNode: 'n' },
        done(sampleTask(job, '10', 3), 'success'),
        { ...done(sampleTask(job, 'x', 4), 'failure'), requiredSlots: 3 },
      ]),
    );
    const { tasks, slots } = await store.transaction((tx) => tx.countTasks('ACCT', 'J'));
    assert.deepEqual(tasks, { active: 1, running: 2, completed: 2, succeeded: 1, failed: 1 });
    assert.deepEqual(slots, { active: 1, running: 3, completed: 4, succeeded: 1, failed: 3 });
    assert.deepEqual(
      await store.transaction((tx) => tx.countPoolTasks('acct', job.poolId.toUpperCase())),
      tasks,
    );
    const none = await store.transaction((tx) => tx.countPoolTasks('acct', 'other-pool'));
    assert.equal(Object.values(none).join(), '0,0,0,0,0');
    const page = await store.transaction((tx) => tx.listTasks('acct', 'j', { afterId: '10', limit: 2 }));
    assert.deepEqual(
      page.map((t) => t.id),
      ['2', '3'],
    );
    const completed = await store.transaction((tx) => tx.listTasks('acct', 'j', { states: ['completed'] }));
    assert.deepEqual(completed.map((t) => t.id).sort(), ['10', 'x']);
    assert.deepEqual((await store.transaction((tx) => tx.taskIdsInRange('acct', 'j', 2, 10))).sort(), [
      '10',
      '2',
      '3',
    ]);
    assert.equal(await store.transaction((tx) => tx.deleteTask('acct', 'j', 'X')), true);
    assert.equal((await store.transaction((tx) => tx.findTasks('acct', 'j', ['x', '1']))).length, 1);
    await store.close();
  });
}

function subtaskTests(open: () => Promise<Store>): void {
  test('subtasks: replaced per task, found by unfinished node, removed with their task and job', async () => {
    const store = await open();
    const instance = (
      task: string,
      id: number,
      node: string,
      state: SubtaskRecord['state'],
    ): SubtaskRecord => ({
      accountName: 'acct',
      jobId: 'j',
      taskId: task,
      id,
      attempt: 1,
      poolId: 'p',
      nodeId: node,
      state,
      stateTransitionTime: '2026-01-01T00:00:00.000Z',
    });
    await store.transaction(async (tx) => {
      await tx.putSubtasks('acct', 'j', 'mpi', [
        instance('mpi', 1, 'n1', 'running'),
        instance('mpi', 0, 'n0', 'running'),
      ]);
      await tx.putSubtasks('acct', 'j', 'other', [instance('other', 1, 'n2', 'completed')]);
    });
    const found = await store.transaction((tx) => tx.findSubtasks('ACCT', 'J', 'MPI'));
    assert.deepEqual(
      found.map((s) => `${String(s.id)}@${s.nodeId}`),
      ['0@n0', '1@n1'],
    );
    const onNodes = await store.transaction((tx) => tx.subtasksOnNodes('acct', 'P', ['N1', 'n2', 'n3']));
    assert.deepEqual(
      onNodes.map((s) => `${s.taskId}/${String(s.id)}`),
      ['mpi/1'],
      'a completed instance no longer holds its node',
    );
    await store.transaction((tx) =>
      tx.putSubtasks('acct', 'j', 'mpi', [instance('mpi', 0, 'n3', 'running')]),
    );
    assert.deepEqual(
      (await store.transaction((tx) => tx.findSubtasks('acct', 'j', 'mpi'))).map((s) => s.nodeId),
      ['n3'],
    );
    await store.transaction((tx) => tx.putTasks([sampleTask(sampleJob('j', 1), 'mpi', 0)]));
    await store.transaction((tx) => tx.deleteTask('acct', 'j', 'mpi'));
    assert.equal((await store.transaction((tx) => tx.findSubtasks('acct', 'j', 'mpi'))).length, 0);
    await store.transaction((tx) => tx.deleteJob('acct', 'j'));
    assert.equal((await store.transaction((tx) => tx.findSubtasks('acct', 'j', 'other'))).length, 0);
    await store.close();
  });
}

/** Count rows as `label=value,...=count` strings, sorted, for order-free comparison. */
const flat = (rows: { labels: Record<string, string>; count: number }[]): string[] =>
  rows
    .map(
      (r) =>
        `${Object.entries(r.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}=${String(r.count)}`,
    )
    .sort();

/** Server-wide counts by state: pools, nodes, jobs and tasks across accounts, pool ids as created. */
function scheduleConformance(open: () => Promise<Store>): void {
  test('job schedules: case-insensitive ids, listed per account and by state across accounts, delete', async () => {
    const store = await open();
    const schedule = (account: string, id: string, state: JobScheduleRecord['state']): JobScheduleRecord => ({
      accountName: account,
      id,
      spec: { schedule: { recurrenceInterval: 'PT1H' }, jobSpecification: { poolInfo: { poolId: 'p' } } },
      state,
      previousState: null,
      stateTransitionTime: T0,
      previousStateTransitionTime: null,
      creationTime: T0,
      lastModified: T0,
      etag: '0x1',
      executionInfo: { nextRunTime: T0 },
      jobCount: 0,
    });
    await store.transaction(async (tx) => {
      await tx.putJobSchedule(schedule('Acct', 'Nightly', 'active'));
      await tx.putJobSchedule(schedule('Acct', 'old', 'completed'));
      await tx.putJobSchedule(schedule('Other', 'x', 'active'));
    });
    assert.equal((await store.transaction((tx) => tx.findJobSchedule('acct', 'NIGHTLY')))?.id, 'Nightly');
    const listed = await store.transaction((tx) => tx.listJobSchedules('ACCT'));
    assert.deepEqual(
      listed.map((s) => s.id),
      ['Nightly', 'old'],
    );
    const active = await store.transaction((tx) => tx.listJobSchedulesIn(['active']));
    assert.deepEqual(active.map((s) => `${s.accountName}/${s.id}`).sort(), ['Acct/Nightly', 'Other/x']);
    await store.transaction((tx) =>
      tx.putJobSchedule({ ...schedule('Acct', 'Nightly', 'disabled'), jobCount: 2 }),
    );
    assert.equal((await store.transaction((tx) => tx.findJobSchedule('acct', 'nightly')))?.jobCount, 2);
    assert.equal((await store.transaction((tx) => tx.listJobSchedulesIn(['active']))).length, 1);
    assert.equal(await store.transaction((tx) => tx.deleteJobSchedule('acct', 'NIGHTLY')), true);
    assert.equal(await store.transaction((tx) => tx.deleteJobSchedule('acct', 'nightly')), false);
    assert.equal(await store.transaction((tx) => tx.findJobSchedule('acct', 'nightly')), undefined);
    await store.close();
  });
}

function countConformance(open: () => Promise<Store>): void {
  test('counts by state: every account, grouped, pool ids as created', async () => {
    const store = await open();
    const job = sampleJob('j', 1);
    const other = { ...sampleJob('k', 2), accountName: 'Other', poolId: 'Q', state: 'completed' as const };
    await store.transaction(async (tx) => {
      await tx.putPool(samplePool('P', 'steady'));
      await tx.putPool({ ...samplePool('Q', 'resizing'), accountName: 'Other' });
      await tx.putNodes([
        { ...sampleNode('P', 'n1', null), state: 'idle' },
        { ...sampleNode('p', 'n2', null), state: 'idle' },
        sampleNode('P', 'n3', null),
      ]);
      await tx.putJob(job);
      await tx.putJob(other);
      await tx.putTasks([
        sampleTask(job, 't1', 0),
        sampleTask(job, 't2', 1),
        { ...sampleTask(job, 't3', 2), state: 'running', assignedNode: 'n1' },
        { ...sampleTask(other, 'u1', 0), state: 'completed' },
      ]);
    });
    const counts = await store.transaction((tx) => tx.countByState());
    assert.deepEqual(flat(counts.pools), [
      'account=acct,state=active,allocationState=steady=1',
      'account=other,state=active,allocationState=resizing=1',
    ]);
    assert.deepEqual(flat(counts.nodes), [
      'account=acct,pool=P,state=creating=1',
      'account=acct,pool=P,state=idle=2',
    ]);
    assert.deepEqual(flat(counts.jobs), ['account=acct,state=active=1', 'account=other,state=completed=1']);
    assert.deepEqual(flat(counts.tasks), [
      'account=acct,pool=P,state=active=2',
      'account=acct,pool=P,state=running=1',
      'account=other,pool=Q,state=completed=1',
    ]);
    await store.transaction((tx) => tx.deletePool('acct', 'p'));
    const after = await store.transaction((tx) => tx.countByState());
    assert.deepEqual(flat(after.nodes), []);
    assert.deepEqual(flat(after.tasks), [
      'account=acct,pool=p,state=active=2',
      'account=acct,pool=p,state=running=1',
      'account=other,pool=Q,state=completed=1',
    ]);
    await store.close();
  });
}

function taskFileConformance(open: () => Promise<Store>): void {
  test('task files: queued folder removals in order; completed tasks due by their retention, once', async () => {
    const store = await open();
    const job = sampleJob('J', 1);
    const row = (path: string) => ({ accountName: 'acct', poolId: 'P', nodeId: 'n1', path });
    await store.transaction((tx) => tx.putNodeFileCleanups([row('a'), row('b'), row('c')]));
    const queued = await store.transaction((tx) => tx.listNodeFileCleanups(2));
    assert.deepEqual(
      queued.map((r) => r.path),
      ['a', 'b'],
    );
    await store.transaction((tx) => tx.deleteNodeFileCleanups(queued.map((r) => r.id)));
    assert.deepEqual(
      (await store.transaction((tx) => tx.listNodeFileCleanups(10))).map((r) => r.path),
      ['c'],
    );
    const end = '2026-01-01T00:00:00.000Z';
    const done = (t: TaskRecord, retentionTimeMs?: number): TaskRecord => ({
      ...t,
      state: 'completed',
      nodeInfo: { poolId: 'P', nodeId: 'n1' },
      executionInfo: { ...t.executionInfo, endTime: end },
      ...(retentionTimeMs === undefined ? {} : { retentionTimeMs }),
    });
    await store.transaction((tx) =>
      tx.putTasks([
        done(sampleTask(job, 'hour', 0), 3600_000),
        done(sampleTask(job, 'week', 1)),
        { ...done(sampleTask(job, 'cleaned', 2), 0), filesCleanedFor: end },
        { ...sampleTask(job, 'never-ran', 3), state: 'completed' },
        sampleTask(job, 'active', 4),
      ]),
    );
    const due = async (afterMs: number) =>
      (await store.transaction((tx) => tx.tasksWithExpiredFiles(Date.parse(end) + afterMs, 10))).map(
        (t) => t.id,
      );
    assert.deepEqual(await due(3600_000 - 1), []);
    assert.deepEqual(await due(3600_000), ['hour']);
    assert.deepEqual(await due(7 * 24 * 3600_000), ['hour', 'week']);
    await store.close();
  });
}
