import type { StoreTx } from '../../storage/port.ts';
import type { BatchAccountRecord } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { deleteAccountApplications } from '../applications/applications.ts';
import { releaseJob } from '../jobs/job-prep.ts';
import { serviceEtag } from '../pools/conditions.ts';

/*
 * Deleting a Batch account removes everything under it, as Azure does (issue 18): in one transaction its job
 * schedules, jobs and applications (with their packages' records) go (running tasks end when the hosts next sync
 * and find them gone), its pools move to `deleting` (the sizer stops and removes their nodes, then the pools), and the account stays in provisioningState
 * `Deleting` until its last pool is gone; then the deletion reconciler removes it. A crash at any point leaves
 * either the account as it was or an account in Deleting with pools in deleting: the same loops finish the work
 * after a restart. An account with no pools is removed at once.
 */

export type DeletionStart = 'deleted' | 'deleting';

/** Starts deleting `account` inside `tx` (permissions already checked). */
export async function startAccountDeletion(
  tx: StoreTx,
  account: BatchAccountRecord,
  now: string,
): Promise<DeletionStart> {
  const name = account.name;
  for (const schedule of await tx.listJobSchedules(name)) await tx.deleteJobSchedule(name, schedule.id);
  for (const job of await tx.listJobs(name)) {
    await releaseJob(tx, job, true);
    await tx.deleteJob(name, job.id);
  }
  await deleteAccountApplications(tx, account);
  const pools = await tx.listPools(name);
  for (const pool of pools) {
    if (pool.state === 'deleting') continue;
    await tx.putPool({
      ...pool,
      state: 'deleting',
      stateTransitionTime: now,
      lastModified: now,
      etag: serviceEtag(new Date(now)),
    });
  }
  if (pools.length === 0) {
    await tx.deleteBatchAccount(account.subscriptionId, account.resourceGroup, name);
    return 'deleted';
  }
  if (account.provisioningState !== 'Deleting')
    await tx.putBatchAccount({ ...account, provisioningState: 'Deleting', updatedAt: now });
  return 'deleting';
}

/**
 * The deletion reconciler (level-triggered): removes every account in Deleting whose pools are all gone. Returns
 * whether it removed any.
 */
export async function finishAccountDeletions(ctx: DomainContext): Promise<boolean> {
  return ctx.store.transaction(async (tx) => {
    let removed = false;
    for (const account of await tx.listBatchAccountsIn('Deleting')) {
      if ((await tx.listPools(account.name)).length > 0) continue;
      // Anything added under it since (nothing should be: the data plane refuses a Deleting account) goes too.
      await startAccountDeletion(tx, account, ctx.clock.now().toISOString());
      removed = true;
    }
    return removed;
  });
}
