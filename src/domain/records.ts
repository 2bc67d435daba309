/**
 * The entities the surfaces render, as the domain hands them out. The store port defines their shape
 * (`storage/records.ts`); the surfaces (`api/`) and the backend adapters see them only through this module, so the
 * layer map (layers.ts) keeps them off the store (ADR 0036).
 */
export type {
  AutoScaleRunRecord,
  BatchAccountRecord,
  ComputeResourceRecord,
  JobPrepRecord,
  JobRecord,
  JobScheduleRecord,
  NodeRecord,
  NodeUserRecord,
  PoolRecord,
  PrepRunRecord,
  ResourceGroupRecord,
  RoleAssignmentRecord,
  SubscriptionRecord,
  SubtaskRecord,
  TaskCountsRecord,
  TaskRecord,
  TenantRecord,
} from '../storage/records.ts';
