import type { RegionStores } from '../../content/regions.ts';
import type { StoreTx } from '../../storage/port.ts';
import type {
  AutoPoolOwnerRecord,
  BatchAccountRecord,
  NodeRecord,
  PoolRecord,
} from '../../storage/records.ts';
import { checkPoolQuota } from '../accounts/quotas.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { checkConditions, etagSource, type Conditions } from './conditions.ts';
import { bindPoolImage } from './image-binding.ts';
import { skuEndOfLife } from '../images/catalog.ts';
import { resolvePoolImage, type ImageSupportPolicy, type PoolCaller } from './image-rules.ts';
import { AutoScaler } from './autoscale/autoscaler.ts';
import { checkFormula, DEFAULT_EVALUATION_INTERVAL_MS, evaluationIntervalOf } from './autoscale/settings.ts';
import {
  checkMetadata,
  checkPoolAdd,
  checkStartTask,
  missingProperty,
  refuseUnimplementedPoolProperties,
  targetsOf,
} from './pool-spec.ts';
import { sizingWarnings } from './sizing-guidance.ts';
import { accountNames, sealAccountsOf } from './user-accounts.ts';
import { checkPoolReferences, checkReferenceShape } from '../applications/references.ts';
import { sealRegistriesOf } from './containers.ts';

/** Properties of an add body that are state, not spec (kept in their own fields of the record). */
const STATE_FIELDS = [
  'id',
  'targetDedicatedNodes',
  'targetLowPriorityNodes',
  'resizeTimeout',
  'enableAutoScale',
  'autoScaleFormula',
  'autoScaleEvaluationInterval',
];
/** Batch accepts one enableautoscale call per pool per 30 seconds. */
const ENABLE_AUTOSCALE_GAP_MS = 30_000;

export interface PoolView {
  pool: PoolRecord;
  nodes: NodeRecord[];
}

export function poolNotFound(id: string): DomainError {
  return new DomainError('not-found', 'PoolNotFound', 'The specified pool does not exist.', {
    values: { PoolId: id },
  });
}

function poolBeingDeleted(): DomainError {
  return new DomainError(
    'conflict',
    'PoolBeingDeleted',
    'The specified pool has been marked for deletion and is being reclaimed.',
  );
}

/** A pool's node agent SKU if Batch retired it by `now` (ADR 0028), with its end-of-life date. */
export function retiredSku(
  pool: PoolRecord,
  now: Date,
): { nodeAgentSkuId: string; endOfLife: string } | undefined {
  const vmc = pool.spec.virtualMachineConfiguration as { nodeAgentSKUId?: unknown } | undefined;
  const sku = typeof vmc?.nodeAgentSKUId === 'string' ? vmc.nodeAgentSKUId : '';
  const endOfLife = skuEndOfLife(sku);
  if (endOfLife === undefined || Date.parse(endOfLife) > now.getTime()) return undefined;
  return { nodeAgentSkuId: sku, endOfLife };
}

/** The server log line for a pool created with a node agent SKU Batch retired (ADR 0028). */
export function retiredWarning(pool: PoolRecord, now: Date): string | undefined {
  const r = retiredSku(pool, now);
  return r === undefined
    ? undefined
    : `pool '${pool.id}' uses node agent SKU '${r.nodeAgentSkuId}', which Azure Batch retired on ${r.endOfLife.slice(0, 10)}; created anyway (start the server with --strict-image-support to refuse it as Azure does)`;
}

/**
 * Batch pools: add, read, update, resize, stop resizing, delete. Node records are created and removed by the
 * pool sizer (sizer.ts), which `onChange` wakes; this service only records what the user asked for.
 */
export class PoolService {
  private readonly ctx: DomainContext;
  private readonly regions: RegionStores;
  private readonly onChange: () => void;
  private readonly warn: (message: string) => void;
  private readonly etag: () => string;
  private readonly autoScaler: AutoScaler;
  private readonly imageSupport: ImageSupportPolicy;

  constructor(
    ctx: DomainContext,
    regions: RegionStores,
    hooks: {
      onChange?: () => void;
      warn?: (message: string) => void;
      autoScaler?: AutoScaler;
      /** Refuse pools whose node agent SKU Batch retired (`--strict-image-support`); default: warn. */
      imageSupport?: ImageSupportPolicy;
    } = {},
  ) {
    this.ctx = ctx;
    this.imageSupport = hooks.imageSupport ?? { strict: false };
    this.autoScaler = hooks.autoScaler ?? new AutoScaler(ctx);
    this.etag = etagSource(ctx.clock);
    this.regions = regions;
    this.onChange = hooks.onChange ?? (() => undefined);
    this.warn = hooks.warn ?? (() => undefined);
  }

  async add(
    account: BatchAccountRecord,
    who: PoolCaller,
    body: Record<string, unknown>,
  ): Promise<PoolRecord> {
    const pool = await this.ctx.store.transaction((tx) => this.addIn(tx, account, who, body));
    for (const w of sizingWarnings(pool)) this.warn(w);
    const retired = retiredWarning(pool, this.ctx.clock.now());
    if (retired !== undefined) this.warn(retired);
    this.onChange();
    return pool;
  }

  /**
   * Adds a pool inside the caller's transaction (a job's auto pool is made so); `autoPool` marks who owns it.
   * The caller wakes the sizer (`onChange`) once its transaction has committed.
   */
  async addIn(
    tx: StoreTx,
    account: BatchAccountRecord,
    who: PoolCaller,
    body: Record<string, unknown>,
    autoPool?: AutoPoolOwnerRecord,
  ): Promise<PoolRecord> {
    const { targets, autoScale } = checkPoolAdd(body);
    const id = String(body.id);
    const vmc = body.virtualMachineConfiguration as Record<string, unknown>;
    if (await tx.findPool(account.name, id))
      throw new DomainError('conflict', 'PoolExists', 'The specified pool already exists.', {
        values: { PoolId: id },
      });
    await checkPoolQuota(this.ctx, tx, account.name);
    await checkPoolReferences(
      tx,
      account,
      checkReferenceShape(body.applicationPackageReferences, 'applicationPackageReferences'),
    );
    const now = this.ctx.clock.now();
    const image = await this.resolveImage(tx, account, who, vmc, now);
    const imageReference = (vmc.imageReference ?? {}) as Record<string, unknown>;
    const binding = await bindPoolImage(tx, this.regions, image, imageReference, account.location);
    const sealed = sealAccountsOf(
      Object.fromEntries(Object.entries(body).filter(([k]) => !STATE_FIELDS.includes(k))),
    );
    let spec = sealed.spec;
    if (image.exactVersion !== undefined)
      spec.virtualMachineConfiguration = {
        ...vmc,
        imageReference: { ...imageReference, exactVersion: image.exactVersion },
      };
    const registries = sealRegistriesOf(spec);
    spec = registries.spec;
    const stamp = now.toISOString();
    let record: PoolRecord = {
      accountName: account.name,
      id,
      spec,
      image: binding,
      state: 'active',
      allocationState: 'resizing',
      targetDedicatedNodes: targets.dedicated,
      targetLowPriorityNodes: targets.lowPriority,
      resizeTimeoutMs: targets.resizeTimeoutMs,
      resizeStartedAt: stamp,
      resizeErrors: [],
      etag: this.etag(),
      creationTime: stamp,
      lastModified: stamp,
      stateTransitionTime: stamp,
      allocationStateTransitionTime: stamp,
    };
    if (autoScale) {
      const settings = { formula: autoScale.formula, evaluationIntervalMs: autoScale.intervalMs };
      record = { ...record, autoScale: { ...settings, nextEvaluationAt: stamp } };
      record = await this.autoScaler.evaluateAndApply(tx, record, now);
    }
    if (autoPool) record = { ...record, autoPool };
    if (sealed.passwordHashes) record = { ...record, passwordHashes: sealed.passwordHashes };
    if (registries.registryPasswords) record = { ...record, registryPasswords: registries.registryPasswords };
    await tx.putPool(record);
    return record;
  }

  /** The image a pool add names, checked against the caller's access (R9 rules, image-rules.ts). */
  private async resolveImage(
    tx: StoreTx,
    account: BatchAccountRecord,
    who: PoolCaller,
    vmc: Record<string, unknown>,
    now: Date,
  ) {
    const subscription = await tx.findSubscription(account.subscriptionId);
    const where = {
      subscriptionId: account.subscriptionId,
      tenantId: subscription?.tenantId ?? '',
      location: account.location,
    };
    return resolvePoolImage(tx, who, where, vmc, now, this.imageSupport);
  }

  /** Checks a pool add body and the caller's access to its image without adding it (auto pools made later). */
  async vetIn(
    tx: StoreTx,
    account: BatchAccountRecord,
    who: PoolCaller,
    body: Record<string, unknown>,
  ): Promise<void> {
    checkPoolAdd(body);
    const vmc = body.virtualMachineConfiguration as Record<string, unknown>;
    await this.resolveImage(tx, account, who, vmc, this.ctx.clock.now());
  }

  /** Wakes the sizer after a transaction that added or released pools (auto pools) has committed. */
  changed(): void {
    this.onChange();
  }

  private async requirePool(tx: StoreTx, account: string, id: string): Promise<PoolRecord> {
    const pool = await tx.findPool(account, id);
    if (!pool) throw poolNotFound(id);
    return pool;
  }

  get(account: BatchAccountRecord, id: string, cond: Conditions = {}): Promise<PoolView> {
    return this.ctx.store.transaction(async (tx) => {
      const pool = await this.requirePool(tx, account.name, id);
      checkConditions(pool, cond, 'read');
      return { pool, nodes: await tx.listNodes(account.name, pool.id) };
    });
  }

  list(account: BatchAccountRecord): Promise<PoolView[]> {
    return this.ctx.store.transaction(async (tx) => {
      const pools = await tx.listPools(account.name);
      return Promise.all(
        pools.map(async (pool) => ({ pool, nodes: await tx.listNodes(account.name, pool.id) })),
      );
    });
  }

  /** Runs `change` on an active pool that passes the conditions, stamps it and stores it. */
  private mutate(
    account: BatchAccountRecord,
    id: string,
    cond: Conditions,
    change: (pool: PoolRecord, tx: StoreTx, now: string) => Promise<PoolRecord> | PoolRecord,
  ): Promise<PoolRecord> {
    return this.ctx.store
      .transaction(async (tx) => {
        const pool = await this.requirePool(tx, account.name, id);
        checkConditions(pool, cond, 'write');
        if (pool.state === 'deleting') throw poolBeingDeleted();
        const now = isoNow(this.ctx);
        const next = { ...(await change(pool, tx, now)), etag: this.etag(), lastModified: now };
        await tx.putPool(next);
        return next;
      })
      .finally(this.onChange);
  }

  /** PATCH: the properties present replace the pool's. */
  patch(account: BatchAccountRecord, id: string, body: Record<string, unknown>, cond: Conditions = {}) {
    refuseUnimplementedPoolProperties(body);
    checkMetadata(body.metadata);
    const keys = [
      'startTask',
      'certificateReferences',
      'applicationPackageReferences',
      'metadata',
      'targetNodeCommunicationMode',
    ];
    const refs = checkReferenceShape(body.applicationPackageReferences, 'applicationPackageReferences');
    return this.mutate(account, id, cond, async (pool, tx) => {
      checkStartTask(body.startTask, 'startTask', accountNames(pool.spec));
      await checkPoolReferences(tx, account, refs);
      const spec = { ...pool.spec };
      for (const k of keys) if (body[k] !== undefined && body[k] !== null) spec[k] = body[k];
      return { ...pool, spec };
    });
  }

  /** updateproperties: every updatable property is replaced; an omitted start task is removed. */
  updateProperties(
    account: BatchAccountRecord,
    id: string,
    body: Record<string, unknown>,
    cond: Conditions = {},
  ) {
    refuseUnimplementedPoolProperties(body);
    checkMetadata(body.metadata);
    const refs = checkReferenceShape(body.applicationPackageReferences, 'applicationPackageReferences');
    return this.mutate(account, id, cond, async (pool, tx) => {
      checkStartTask(body.startTask, 'startTask', accountNames(pool.spec));
      await checkPoolReferences(tx, account, refs);
      const spec = { ...pool.spec };
      for (const k of [
        'startTask',
        'certificateReferences',
        'applicationPackageReferences',
        'metadata',
        'targetNodeCommunicationMode',
      ]) {
        if (body[k] === undefined || body[k] === null) Reflect.deleteProperty(spec, k);
        else spec[k] = body[k];
      }
      return { ...pool, spec };
    });
  }

  resize(account: BatchAccountRecord, id: string, body: Record<string, unknown>, cond: Conditions = {}) {
    const targets = targetsOf(body);
    return this.mutate(account, id, cond, (pool, _tx, now) => {
      if (pool.autoScale)
        throw new DomainError(
          'conflict',
          'OperationInvalidForCurrentState',
          'The pool has autoscale enabled; its formula sets the targets. Disable autoscale to resize it.',
        );
      if (pool.allocationState !== 'steady')
        throw new DomainError(
          'conflict',
          'PoolBeingResized',
          'The specified pool is currently being resized.',
        );
      const next: PoolRecord = {
        ...pool,
        targetDedicatedNodes:
          body.targetDedicatedNodes === undefined ? pool.targetDedicatedNodes : targets.dedicated,
        targetLowPriorityNodes:
          body.targetLowPriorityNodes === undefined ? pool.targetLowPriorityNodes : targets.lowPriority,
        resizeTimeoutMs: targets.resizeTimeoutMs,
        resizeStartedAt: now,
        resizeErrors: [],
        allocationState: 'resizing',
        allocationStateTransitionTime: now,
      };
      for (const w of sizingWarnings(next)) this.warn(w);
      return next;
    });
  }

  stopResize(account: BatchAccountRecord, id: string, cond: Conditions = {}) {
    return this.mutate(account, id, cond, (pool, _tx, now) => {
      if (pool.allocationState !== 'resizing') {
        throw new DomainError(
          'conflict',
          'OperationInvalidForCurrentState',
          `The pool is not resizing (allocationState is ${pool.allocationState}).`,
        );
      }
      return { ...pool, allocationState: 'stopping', allocationStateTransitionTime: now };
    });
  }

  /** removenodes: the listed nodes leave the pool and the targets shrink by as many; the pool resizes. */
  removeNodes(account: BatchAccountRecord, id: string, body: Record<string, unknown>, cond: Conditions = {}) {
    const list = Array.isArray(body.nodeList) ? (body.nodeList as unknown[]) : [];
    if (list.length === 0 || list.length > 100 || list.some((n) => typeof n !== 'string'))
      throw new DomainError(
        'invalid-input',
        'InvalidPropertyValue',
        'nodeList must hold 1 to 100 node ids.',
        {
          target: 'nodeList',
          values: { PropertyName: 'nodeList', Reason: 'nodeList must hold 1 to 100 node ids.' },
        },
      );
    const timeout = targetsOf({ resizeTimeout: body.resizeTimeout }).resizeTimeoutMs;
    return this.mutate(account, id, cond, async (pool, tx, now) => {
      if (pool.allocationState !== 'steady')
        throw new DomainError(
          'conflict',
          'PoolBeingResized',
          'The specified pool is currently being resized.',
        );
      const nodes = await tx.listNodes(account.name, pool.id);
      const leaving: NodeRecord[] = [];
      for (const nodeId of list as string[]) {
        const node = nodes.find((n) => n.id.toLowerCase() === nodeId.toLowerCase());
        if (!node)
          throw new DomainError(
            'not-found',
            'NodeNotFound',
            `The specified node '${nodeId}' does not exist.`,
            {
              values: { NodeId: nodeId },
            },
          );
        if (node.state !== 'leavingpool')
          leaving.push({
            ...node,
            goal: 'remove',
            state: 'leavingpool',
            previousState: node.state,
            stateTransitionTime: now,
          });
      }
      await tx.putNodes(leaving);
      const dedicated = leaving.filter((n) => n.isDedicated).length;
      return {
        ...pool,
        targetDedicatedNodes: Math.max(0, pool.targetDedicatedNodes - dedicated),
        targetLowPriorityNodes: Math.max(0, pool.targetLowPriorityNodes - (leaving.length - dedicated)),
        resizeTimeoutMs: timeout,
        resizeStartedAt: now,
        resizeErrors: [],
        allocationState: 'resizing',
        allocationStateTransitionTime: now,
      };
    });
  }

  /**
   * enableautoscale: sets or replaces the formula and/or interval and evaluates at once (a new interval
   * restarts the schedule from now). Not while resizing; at most once per 30 s per pool.
   */
  async enableAutoScale(
    account: BatchAccountRecord,
    id: string,
    body: Record<string, unknown>,
    cond: Conditions = {},
  ) {
    const formula = body.autoScaleFormula;
    if (formula !== undefined && formula !== null) checkFormula(formula);
    const intervalMs = evaluationIntervalOf(body.autoScaleEvaluationInterval);
    return this.mutate(account, id, cond, async (pool, tx, stamp) => {
      const now = new Date(stamp);
      if (pool.allocationState !== 'steady')
        throw new DomainError(
          'conflict',
          'PoolBeingResized',
          'Autoscale cannot be enabled while the pool is resizing.',
        );
      const last = pool.autoScale?.lastEnabledAt;
      if (last !== undefined && now.getTime() - Date.parse(last) < ENABLE_AUTOSCALE_GAP_MS)
        throw new DomainError(
          'conflict',
          'TooManyEnableAutoScaleRequests',
          'Enable AutoScale requests for the same pool must be separated by at least 30 seconds.',
        );
      const current = pool.autoScale;
      const nextFormula = typeof formula === 'string' ? formula : current?.formula;
      if (nextFormula === undefined) throw missingProperty('autoScaleFormula');
      const next: PoolRecord = {
        ...pool,
        autoScale: {
          formula: nextFormula,
          evaluationIntervalMs: intervalMs ?? current?.evaluationIntervalMs ?? DEFAULT_EVALUATION_INTERVAL_MS,
          nextEvaluationAt: stamp,
          lastEnabledAt: stamp,
          ...(current?.lastRun ? { lastRun: current.lastRun } : {}),
        },
      };
      return this.autoScaler.evaluateAndApply(tx, next, now);
    });
  }

  /** disableautoscale: the pool keeps its current targets and becomes fixed-size. */
  disableAutoScale(account: BatchAccountRecord, id: string, cond: Conditions = {}) {
    return this.mutate(account, id, cond, (pool) => {
      const next = { ...pool };
      Reflect.deleteProperty(next, 'autoScale');
      return next;
    });
  }

  /** evaluateautoscale: runs a formula against the pool without applying it (autoscale must be enabled). */
  async evaluateAutoScale(account: BatchAccountRecord, id: string, body: Record<string, unknown>) {
    const statements = checkFormula(body.autoScaleFormula);
    return this.ctx.store.transaction(async (tx) => {
      const pool = await this.requirePool(tx, account.name, id);
      if (!pool.autoScale)
        throw new DomainError(
          'conflict',
          'OperationInvalidForCurrentState',
          'The pool does not have autoscale enabled; enable it before evaluating a formula.',
        );
      return (await this.autoScaler.run(tx, pool, statements, this.ctx.clock.now())).run;
    });
  }

  /** Marks the pool deleting; the sizer removes its nodes and then the pool (202 Accepted semantics). */
  async delete(account: BatchAccountRecord, id: string, cond: Conditions = {}): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const pool = await this.requirePool(tx, account.name, id);
      checkConditions(pool, cond, 'write');
      if (pool.state === 'deleting') return;
      const now = isoNow(this.ctx);
      await tx.putPool({
        ...pool,
        state: 'deleting',
        stateTransitionTime: now,
        lastModified: now,
        etag: this.etag(),
      });
    });
    this.onChange();
  }
}
