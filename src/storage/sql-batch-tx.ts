import type { Transaction } from 'kysely';
import { NO_SEALING, type Sealer } from '../platform/sealing.ts';
import type { SqlDialect } from './dialect.ts';
import type { BatchStoreTx, TaskListOptions } from './port.ts';
import * as batch from './sql-batch.ts';
import { countByState } from './sql-counts.ts';
import * as jobs from './sql-jobs.ts';
import * as schedules from './sql-schedules.ts';
import * as instances from './sql-subtasks.ts';
import * as taskFiles from './sql-task-files.ts';
import type {
  JobRecord,
  JobScheduleRecord,
  JobScheduleState,
  NodeFileCleanupRecord,
  NodeRecord,
  PoolRecord,
  SubtaskRecord,
  TaskRecord,
} from './records.ts';
import type { Database } from './sqlite/schema.ts';

/** The Batch data plane's part of a SQL transaction: pools, nodes, jobs and tasks. */
export class SqlBatchTx implements BatchStoreTx {
  protected readonly db: Transaction<Database>;
  protected readonly dialect: SqlDialect;
  /** Seals secrets inside documents (pool account and node user password hashes). */
  protected readonly sealer: Sealer;
  constructor(db: Transaction<Database>, dialect: SqlDialect, sealer: Sealer = NO_SEALING) {
    this.db = db;
    this.dialect = dialect;
    this.sealer = sealer;
  }
  /** A node with its users' password hashes sealed (write) or opened (read). */
  private nodeUsers(n: NodeRecord, how: (v: string) => string): NodeRecord {
    if (n.users === undefined || n.users.every((u) => u.passwordHash === undefined)) return n;
    const users = n.users.map((u) =>
      u.passwordHash === undefined ? u : { ...u, passwordHash: how(u.passwordHash) },
    );
    return { ...n, users };
  }
  private opened = (n: NodeRecord): NodeRecord => this.nodeUsers(n, (v) => this.sealer.open(v));
  putPool(p: PoolRecord) {
    return batch.putPool(this.db, p, this.sealer);
  }
  findPool(account: string, id: string) {
    return batch.findPool(this.db, account, id, this.sealer);
  }
  listPools(account: string) {
    return batch.listPools(this.db, account, this.sealer);
  }
  listPoolsInMotion() {
    return batch.listPoolsInMotion(this.db, this.sealer);
  }
  listAutoScalePools() {
    return batch.listAutoScalePools(this.db, this.dialect, this.sealer);
  }
  deletePool(account: string, id: string) {
    return batch.deletePool(this.db, account, id);
  }
  putNodes(nodes: NodeRecord[]) {
    const sealed = nodes.map((n) =>
      this.nodeUsers(n, (v) => (this.sealer.isSealed(v) ? v : this.sealer.seal(v))),
    );
    return batch.putNodes(this.db, sealed);
  }
  async findNode(account: string, pool: string, id: string) {
    const n = await batch.findNode(this.db, account, pool, id);
    return n && this.opened(n);
  }
  async listNodes(account: string, pool: string) {
    return (await batch.listNodes(this.db, account, pool)).map(this.opened);
  }
  async listNodesForHost(hostId: string, unassigned: boolean) {
    return (await batch.listNodesForHost(this.db, hostId, unassigned)).map(this.opened);
  }
  deleteNodes(account: string, pool: string, ids: string[]) {
    return batch.deleteNodes(this.db, account, pool, ids);
  }
  countAllNodes() {
    return batch.countAllNodes(this.db);
  }
  listHostSubnets() {
    return batch.listHostSubnets(this.db);
  }
  addHostSubnet(subnet: string, hostId: string) {
    return batch.addHostSubnet(this.db, subnet, hostId);
  }
  putJob(job: JobRecord) {
    return jobs.putJob(this.db, job);
  }
  findJob(account: string, id: string) {
    return jobs.findJob(this.db, account, id);
  }
  listJobs(account: string) {
    return jobs.listJobs(this.db, account);
  }
  nextJobSeq() {
    return jobs.nextJobSeq(this.db);
  }
  deleteJob(account: string, id: string) {
    return jobs.deleteJob(this.db, account, id);
  }
  putTasks(tasks: TaskRecord[]) {
    return jobs.putTasks(this.db, tasks);
  }
  findTasks(account: string, job: string, ids: string[]) {
    return jobs.findTasks(this.db, account, job, ids);
  }
  listTasks(account: string, job: string, options?: TaskListOptions) {
    return jobs.listTasks(this.db, account, job, options);
  }
  queuedTasks(account: string, pool: string, limit: number) {
    return jobs.queuedTasks(this.db, account, pool, limit);
  }
  tasksOnNodes(account: string, pool: string, nodes: string[]) {
    return jobs.tasksOnNodes(this.db, account, pool, nodes);
  }
  putSubtasks(account: string, job: string, task: string, subtasks: SubtaskRecord[]) {
    return instances.putSubtasks(this.db, account, job, task, subtasks);
  }
  findSubtasks(account: string, job: string, task: string) {
    return instances.findSubtasks(this.db, account, job, task);
  }
  subtasksOnNodes(account: string, pool: string, nodes: string[]) {
    return instances.subtasksOnNodes(this.db, account, pool, nodes);
  }
  countTasks(account: string, job: string) {
    return jobs.countTasks(this.db, account, job);
  }
  putJobSchedule(schedule: JobScheduleRecord) {
    return schedules.putJobSchedule(this.db, schedule);
  }
  findJobSchedule(account: string, id: string) {
    return schedules.findJobSchedule(this.db, account, id);
  }
  listJobSchedules(account: string) {
    return schedules.listJobSchedules(this.db, account);
  }
  listJobSchedulesIn(states: JobScheduleState[]) {
    return schedules.listJobSchedulesIn(this.db, states);
  }
  deleteJobSchedule(account: string, id: string) {
    return schedules.deleteJobSchedule(this.db, account, id);
  }
  countPoolTasks(account: string, pool: string) {
    return jobs.countPoolTasks(this.db, account, pool);
  }
  deleteTask(account: string, job: string, id: string) {
    return jobs.deleteTask(this.db, account, job, id);
  }
  putTaskDependencies(account: string, job: string, edges: { parent: string; child: string }[]) {
    return jobs.putTaskDependencies(this.db, account, job, edges);
  }
  dependentsOf(account: string, job: string, parent: string) {
    return jobs.dependentsOf(this.db, account, job, parent);
  }
  parentsOf(account: string, job: string, child: string) {
    return jobs.parentsOf(this.db, account, job, child);
  }
  taskIdsInRange(account: string, job: string, start: number, end: number) {
    return jobs.taskIdsInRange(this.db, account, job, start, end);
  }
  countByState() {
    return countByState(this.db, this.dialect);
  }
  putNodeFileCleanups(rows: NodeFileCleanupRecord[]) {
    return taskFiles.putNodeFileCleanups(this.db, rows);
  }
  listNodeFileCleanups(limit: number) {
    return taskFiles.listNodeFileCleanups(this.db, limit);
  }
  deleteNodeFileCleanups(ids: number[]) {
    return taskFiles.deleteNodeFileCleanups(this.db, ids);
  }
  tasksWithExpiredFiles(nowMs: number, limit: number) {
    return taskFiles.tasksWithExpiredFiles(this.db, nowMs, limit);
  }
}
