import { sql, type Kysely, type Migration } from 'kysely';
import { taskFilesExpireAt, type TaskRecord } from './records.ts';
import type { Database } from './sqlite/schema.ts';

/** Sets tasks.files_expire_at for the completed tasks stored before the column existed. */
async function backfillFilesExpiry(db: Kysely<unknown>): Promise<void> {
  const tasks = db as unknown as Kysely<Pick<Database, 'tasks'>>;
  const rows = await tasks
    .selectFrom('tasks')
    .select(['account_key', 'job_key', 'id_key', 'doc'])
    .where('state', '=', 'completed')
    .execute();
  for (const r of rows) {
    const at = taskFilesExpireAt(JSON.parse(r.doc) as TaskRecord);
    if (at === null) continue;
    await tasks
      .updateTable('tasks')
      .set({ files_expire_at: at })
      .where('account_key', '=', r.account_key)
      .where('job_key', '=', r.job_key)
      .where('id_key', '=', r.id_key)
      .execute();
  }
}

async function identityTables(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tenants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('default_domain', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('subscriptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('principals')
    .addColumn('object_id', 'text', (c) => c.primaryKey())
    .addColumn('app_id', 'text', (c) => c.notNull().unique())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('secret_salt', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

async function resourceTables(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('resource_groups')
    .addColumn('subscription_id', 'text', (c) => c.notNull().references('subscriptions.id'))
    .addColumn('name_key', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('location', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('managed_by', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('resource_groups_pk', ['subscription_id', 'name_key'])
    .execute();
  await db.schema
    .createTable('provider_registrations')
    .addColumn('subscription_id', 'text', (c) => c.notNull().references('subscriptions.id'))
    .addColumn('namespace_key', 'text', (c) => c.notNull())
    .addColumn('namespace', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('provider_registrations_pk', ['subscription_id', 'namespace_key'])
    .execute();
}

async function accessTables(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('role_assignments')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('scope_key', 'text', (c) => c.notNull())
    .addColumn('role_definition_name', 'text', (c) => c.notNull())
    .addColumn('principal_id', 'text', (c) => c.notNull())
    .addColumn('principal_type', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('created_on', 'text', (c) => c.notNull())
    .addColumn('updated_on', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .execute();
  await db.schema.createIndex('role_assignments_scope').on('role_assignments').column('scope_key').execute();
  await db.schema
    .createIndex('role_assignments_principal')
    .on('role_assignments')
    .column('principal_id')
    .execute();
}

async function accountTables(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('batch_accounts')
    .addColumn('name_key', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('subscription_id', 'text', (c) => c.notNull().references('subscriptions.id'))
    .addColumn('resource_group_key', 'text', (c) => c.notNull())
    .addColumn('resource_group', 'text', (c) => c.notNull())
    .addColumn('location', 'text', (c) => c.notNull())
    .addColumn('tags', 'text', (c) => c.notNull())
    .addColumn('pool_allocation_mode', 'text', (c) => c.notNull())
    .addColumn('public_network_access', 'text', (c) => c.notNull())
    .addColumn('allowed_authentication_modes', 'text', (c) => c.notNull())
    .addColumn('extra', 'text', (c) => c.notNull())
    .addColumn('primary_key', 'text', (c) => c.notNull())
    .addColumn('secondary_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('batch_accounts_group')
    .on('batch_accounts')
    .columns(['subscription_id', 'resource_group_key'])
    .execute();
}

/**
 * Numbered schema migrations, written with Kysely's schema builder so SQLite and PostgreSQL share them.
 * Never edit a migration that has shipped; add the next number.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': {
    async up(db: Kysely<unknown>) {
      await identityTables(db);
      await resourceTables(db);
      await accessTables(db);
      await accountTables(db);
    },
  },
  '0003_compute': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('compute_resources')
        .addColumn('id_key', 'text', (c) => c.primaryKey())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('resource_group_key', 'text', (c) => c.notNull())
        .addColumn('resource_group', 'text', (c) => c.notNull())
        .addColumn('type_key', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('parent_key', 'text')
        .addColumn('location', 'text', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('properties', 'text', (c) => c.notNull())
        .addColumn('sku', 'text')
        .addColumn('content', 'text')
        .addColumn('lineage', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('compute_resources_by_type')
        .on('compute_resources')
        .columns(['subscription_id', 'type_key', 'resource_group_key'])
        .execute();
      await db.schema
        .createIndex('compute_resources_by_parent')
        .on('compute_resources')
        .column('parent_key')
        .execute();
      await db.schema
        .createTable('replicas')
        .addColumn('version_key', 'text', (c) => c.notNull())
        .addColumn('version_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('replica_count', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('bytes_done', 'bigint', (c) => c.notNull())
        .addColumn('bytes_total', 'bigint', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('replicas_pk', ['version_key', 'region'])
        .execute();
      await db.schema.createIndex('replicas_by_state').on('replicas').column('state').execute();
      await db.schema
        .createTable('operations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('resource_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('start_time', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0002_base_images': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('base_images')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0003_pools_and_nodes': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('pools')
        .addColumn('account_key', 'text', (c) => c.notNull())
        .addColumn('id_key', 'text', (c) => c.notNull())
        .addColumn('in_motion', 'integer', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('pools_pk', ['account_key', 'id_key'])
        .execute();
      await db.schema.createIndex('pools_in_motion').on('pools').column('in_motion').execute();
      await db.schema
        .createTable('nodes')
        .addColumn('account_key', 'text', (c) => c.notNull())
        .addColumn('pool_key', 'text', (c) => c.notNull())
        .addColumn('id_key', 'text', (c) => c.notNull())
        .addColumn('host_id', 'text')
        .addColumn('doc', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('nodes_pk', ['account_key', 'pool_key', 'id_key'])
        .execute();
      await db.schema.createIndex('nodes_by_host').on('nodes').column('host_id').execute();
    },
  },
  '0004_jobs_and_tasks': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('jobs')
        .addColumn('account_key', 'text', (c) => c.notNull())
        .addColumn('id_key', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('jobs_pk', ['account_key', 'id_key'])
        .execute();
      await db.schema
        .createTable('tasks')
        .addColumn('account_key', 'text', (c) => c.notNull())
        .addColumn('job_key', 'text', (c) => c.notNull())
        .addColumn('id_key', 'text', (c) => c.notNull())
        .addColumn('pool_key', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('result', 'text')
        .addColumn('slots', 'integer', (c) => c.notNull())
        .addColumn('runnable', 'integer', (c) => c.notNull())
        .addColumn('neg_priority', 'integer', (c) => c.notNull())
        .addColumn('job_seq', 'integer', (c) => c.notNull())
        .addColumn('task_seq', 'integer', (c) => c.notNull())
        .addColumn('node_key', 'text')
        .addColumn('doc', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('tasks_pk', ['account_key', 'job_key', 'id_key'])
        .execute();
      // The queue: runnable tasks of a pool by job priority, then job age, then task age.
      await db.schema
        .createIndex('tasks_queue')
        .on('tasks')
        .columns(['pool_key', 'runnable', 'neg_priority', 'job_seq', 'task_seq'])
        .execute();
      await db.schema.createIndex('tasks_by_node').on('tasks').column('node_key').execute();
      await db.schema
        .createIndex('tasks_by_state')
        .on('tasks')
        .columns(['account_key', 'job_key', 'state'])
        .execute();
      await db.schema
        .createTable('task_deps')
        .addColumn('account_key', 'text', (c) => c.notNull())
        .addColumn('job_key', 'text', (c) => c.notNull())
        .addColumn('parent_key', 'text', (c) => c.notNull())
        .addColumn('child_key', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('task_deps_pk', ['account_key', 'job_key', 'parent_key', 'child_key'])
        .execute();
    },
  },
  '0005_task_counts_by_pool': {
    async up(db: Kysely<unknown>) {
      // Metrics count tasks by (pool, state) on every scrape; this index answers that without reading the rows.
      await db.schema.createIndex('tasks_by_pool_state').on('tasks').columns(['pool_key', 'state']).execute();
    },
  },
  '0006_job_schedules': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('job_schedules')
        .addColumn('account_key', 'text', (c) => c.notNull())
        .addColumn('id_key', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('job_schedules_pk', ['account_key', 'id_key'])
        .execute();
      await db.schema.createIndex('job_schedules_by_state').on('job_schedules').column('state').execute();
    },
  },
  '0007_task_file_cleanup': {
    async up(db: Kysely<unknown>) {
      // When a completed task's folder goes (taskFilesExpireAt), filled in for the tasks already completed.
      await db.schema.alterTable('tasks').addColumn('files_expire_at', 'integer').execute();
      await backfillFilesExpiry(db);
      await db.schema
        .createIndex('tasks_by_files_expiry')
        .on('tasks')
        .column('files_expire_at')
        .where(sql.ref('files_expire_at'), 'is not', null)
        .execute();
      // Folders of deleted tasks and jobs still to remove from their nodes.
      await db.schema
        .createTable('node_file_cleanups')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0009_account_provisioning_state': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('batch_accounts')
        .addColumn('provisioning_state', 'text', (c) => c.notNull().defaultTo('Succeeded'))
        .execute();
      await db.schema
        .createIndex('batch_accounts_by_provisioning_state')
        .on('batch_accounts')
        .column('provisioning_state')
        .execute();
    },
  },
  '0008_host_subnets': {
    async up(db: Kysely<unknown>) {
      // The node address plan (ADR 0021): which host holds which subnet of the node range (`a.b.c.d/n`).
      await db.schema
        .createTable('host_subnets')
        .addColumn('subnet', 'text', (c) => c.primaryKey())
        .addColumn('host_id', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0015_leases_and_shared_secrets': {
    async up(db: Kysely<unknown>) {
      // Several servers on one database (ADR 0033): who runs the loops, and the CA, signing key and agent token.
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('shared_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0017_subtasks': {
    async up(db: Kysely<unknown>) {
      // Multi-instance tasks (ADR 0038): the primary and subtasks of each task's current run, by the node they hold.
      await db.schema
        .createTable('subtasks')
        .addColumn('account_key', 'text', (c) => c.notNull())
        .addColumn('job_key', 'text', (c) => c.notNull())
        .addColumn('task_key', 'text', (c) => c.notNull())
        .addColumn('subtask_id', 'integer', (c) => c.notNull())
        .addColumn('node_key', 'text')
        .addColumn('doc', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('subtasks_pk', ['account_key', 'job_key', 'task_key', 'subtask_id'])
        .execute();
      await db.schema.createIndex('subtasks_by_node').on('subtasks').column('node_key').execute();
    },
  },
};
