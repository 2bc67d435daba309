/**
 * The negative suite on the Batch data plane (ADR 0032): bad bodies generated from BatchService.json for every
 * implemented operation with a JSON body, plus bad If-Match values, against one server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { credentialFor, startServer, type TestServer } from '../compat/harness.ts';
import { assertAllRefused, caseNames, casesOf, stable, type FuzzOperation, type Reply } from './cases.ts';

const SEED = 20261205;
/** The BatchService.json the server checks bodies against (specs/specification/…). */
const BATCH_SPEC = 'batch/data-plane/Microsoft.Batch/stable/2022-10-01.16.0/BatchService.json';
const API = 'api-version=2022-10-01.16.0';
const IMAGE = {
  imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
  nodeAgentSKUId: 'batch.node.lazurite tiny',
};
const START_TASK = {
  commandLine: 'true',
  maxTaskRetryCount: 0,
  waitForSuccess: true,
  userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'nonadmin' } },
  environmentSettings: [{ name: 'A', value: 'b' }],
};
/** A schedule that makes no job while the suite runs. */
const LATER = { doNotRunUntil: '2099-01-01T00:00:00Z' };
const CONSTRAINTS = { maxWallClockTime: 'PT1H', retentionTime: 'PT1H', maxTaskRetryCount: 1 };
const op = (o: Omit<FuzzOperation, 'specFile'>): FuzzOperation => ({ specFile: BATCH_SPEC, ...o });

const OPERATIONS: FuzzOperation[] = [
  op({
    name: 'Pool_Add',
    method: 'POST',
    definition: 'PoolAddParameter',
    path: () => `/pools?${API}`,
    idProperty: 'id',
    baseline: {
      id: 'fzbaseline-pool',
      vmSize: 'standard_a1_v2',
      virtualMachineConfiguration: IMAGE,
      targetDedicatedNodes: 0,
      resizeTimeout: 'PT15M',
      taskSlotsPerNode: 1,
      taskSchedulingPolicy: { nodeFillType: 'spread' },
      startTask: START_TASK,
      metadata: [{ name: 'a', value: 'b' }],
    },
    stored: { list: `/pools?${API}` },
  }),
  op({
    name: 'Pool_Patch',
    method: 'PATCH',
    definition: 'PoolPatchParameter',
    path: () => `/pools/base?${API}`,
    baseline: { startTask: START_TASK, metadata: [{ name: 'a', value: 'b' }] },
    stored: { unchanged: `/pools/base?${API}` },
    etag: true,
  }),
  op({
    name: 'Pool_UpdateProperties',
    method: 'POST',
    definition: 'PoolUpdatePropertiesParameter',
    path: () => `/pools/base/updateproperties?${API}`,
    baseline: {
      startTask: START_TASK,
      certificateReferences: [],
      applicationPackageReferences: [],
      metadata: [{ name: 'a', value: 'b' }],
    },
    stored: { unchanged: `/pools/base?${API}` },
    etag: true,
  }),
  op({
    name: 'Pool_Resize',
    method: 'POST',
    definition: 'PoolResizeParameter',
    path: () => `/pools/base/resize?${API}`,
    baseline: { targetDedicatedNodes: 0, targetLowPriorityNodes: 0, resizeTimeout: 'PT10M' },
    stored: { unchanged: `/pools/base?${API}` },
    etag: true,
  }),
  op({
    name: 'Pool_EnableAutoScale',
    method: 'POST',
    definition: 'PoolEnableAutoScaleParameter',
    path: () => `/pools/auto/enableautoscale?${API}`,
    baseline: { autoScaleFormula: '$TargetDedicatedNodes = 0;', autoScaleEvaluationInterval: 'PT5M' },
    stored: { unchanged: `/pools/auto?${API}` },
  }),
  op({
    name: 'Pool_EvaluateAutoScale',
    method: 'POST',
    definition: 'PoolEvaluateAutoScaleParameter',
    path: () => `/pools/auto/evaluateautoscale?${API}`,
    baseline: { autoScaleFormula: '$TargetDedicatedNodes = 0;' },
    stored: { unchanged: `/pools/auto?${API}` },
  }),
  op({
    name: 'Job_Add',
    method: 'POST',
    definition: 'JobAddParameter',
    path: () => `/jobs?${API}`,
    idProperty: 'id',
    baseline: {
      id: 'fzbaseline-job',
      priority: 0,
      poolInfo: { poolId: 'base' },
      constraints: { maxWallClockTime: 'PT1H', maxTaskRetryCount: 1 },
      metadata: [{ name: 'a', value: 'b' }],
      onAllTasksComplete: 'noaction',
      onTaskFailure: 'noaction',
      usesTaskDependencies: false,
    },
    stored: { list: `/jobs?${API}` },
  }),
  op({
    name: 'Job_Patch',
    method: 'PATCH',
    definition: 'JobPatchParameter',
    path: () => `/jobs/basejob?${API}`,
    baseline: { priority: 1, constraints: { maxWallClockTime: 'PT2H', maxTaskRetryCount: 2 } },
    stored: { unchanged: `/jobs/basejob?${API}` },
    etag: true,
  }),
  op({
    name: 'Job_Update',
    method: 'PUT',
    definition: 'JobUpdateParameter',
    path: () => `/jobs/basejob?${API}`,
    baseline: {
      poolInfo: { poolId: 'base' },
      priority: 0,
      constraints: { maxWallClockTime: 'PT1H', maxTaskRetryCount: 1 },
      metadata: [{ name: 'a', value: 'b' }],
      onAllTasksComplete: 'noaction',
    },
    stored: { unchanged: `/jobs/basejob?${API}` },
    etag: true,
  }),
  op({
    name: 'JobSchedule_Add',
    method: 'POST',
    definition: 'JobScheduleAddParameter',
    path: () => `/jobschedules?${API}`,
    idProperty: 'id',
    baseline: {
      id: 'fzbaseline-schedule',
      schedule: { recurrenceInterval: 'PT1H', startWindow: 'PT10M' },
      jobSpecification: { poolInfo: { poolId: 'base' }, priority: 0, constraints: { maxTaskRetryCount: 1 } },
      metadata: [{ name: 'a', value: 'b' }],
    },
    stored: { list: `/jobschedules?${API}` },
  }),
  op({
    name: 'JobSchedule_Patch',
    method: 'PATCH',
    definition: 'JobSchedulePatchParameter',
    path: () => `/jobschedules/basesched?${API}`,
    baseline: { schedule: { ...LATER, recurrenceInterval: 'PT2H' }, metadata: [{ name: 'a', value: 'b' }] },
    stored: { unchanged: `/jobschedules/basesched?${API}` },
    etag: true,
  }),
  op({
    name: 'JobSchedule_Update',
    method: 'PUT',
    definition: 'JobScheduleUpdateParameter',
    path: () => `/jobschedules/basesched?${API}`,
    baseline: {
      schedule: { ...LATER, recurrenceInterval: 'PT1H' },
      jobSpecification: { poolInfo: { poolId: 'base' }, priority: 1 },
      metadata: [],
    },
    stored: { unchanged: `/jobschedules/basesched?${API}` },
    etag: true,
  }),
  op({
    name: 'Task_Add',
    method: 'POST',
    definition: 'TaskAddParameter',
    path: () => `/jobs/basejob/tasks?${API}`,
    idProperty: 'id',
    baseline: {
      id: 'fzbaseline-task',
      commandLine: 'true',
      constraints: CONSTRAINTS,
      environmentSettings: [{ name: 'A', value: 'b' }],
      userIdentity: { autoUser: { scope: 'task', elevationLevel: 'nonadmin' } },
      requiredSlots: 1,
    },
    stored: { list: `/jobs/basejob/tasks?${API}` },
  }),
  op({
    name: 'Task_Update',
    method: 'PUT',
    definition: 'TaskUpdateParameter',
    path: () => `/jobs/basejob/tasks/basetask?${API}`,
    baseline: { constraints: CONSTRAINTS },
    stored: { unchanged: `/jobs/basejob/tasks/basetask?${API}` },
    etag: true,
  }),
];

describe('negative suite: Batch data plane (bad bodies from BatchService.json)', () => {
  let server: TestServer;
  let base: string;
  let token: string;

  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json; odata=minimalmetadata' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
    } satisfies Reply;
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await send(method, path, body);
    assert.ok(r.status < 300, `${method} ${path} → ${String(r.status)} ${JSON.stringify(r.body)}`);
    return r;
  };

  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    base = server.connection.batchUrl;
    token = (await credentialFor(server.connection).getToken('https://batch.core.windows.net//.default'))
      .token;
    const pool = { vmSize: 'standard_a1_v2', virtualMachineConfiguration: IMAGE, targetDedicatedNodes: 0 };
    await ok('POST', `/pools?${API}`, { id: 'base', ...pool });
    await ok('POST', `/pools?${API}`, { id: 'auto', ...pool });
    await ok('POST', `/jobs?${API}`, { id: 'basejob', poolInfo: { poolId: 'base' } });
    await ok('POST', `/jobs/basejob/tasks?${API}`, { id: 'basetask', commandLine: 'true' });
    await ok('POST', `/jobschedules?${API}`, {
      id: 'basesched',
      schedule: { ...LATER, recurrenceInterval: 'PT1H' },
      jobSpecification: { poolInfo: { poolId: 'base' } },
    });
  });
  after(async () => {
    await server.stop();
  });

  test('every baseline body is accepted (the generator starts from valid requests)', async () => {
    for (const o of OPERATIONS) {
      const body =
        o.idProperty === undefined
          ? o.baseline
          : { ...o.baseline, [o.idProperty]: `ok-${o.name.toLowerCase()}` };
      await ok(o.method, o.path(-1), body);
    }
  });

  test('every generated bad request → 4xx in the Batch envelope, and nothing is stored', async () => {
    const cases = casesOf(OPERATIONS, SEED);
    assert.ok(cases.length >= 250, `only ${String(cases.length)} cases`);
    const before = new Map<string, unknown>();
    for (const o of OPERATIONS)
      if ('unchanged' in o.stored) before.set(o.name, stable((await ok('GET', o.stored.unchanged)).body));
    await assertAllRefused('batch', cases, (c) => send(c.operation.method, c.path, c.body, c.headers));
    for (const o of OPERATIONS) {
      if ('list' in o.stored)
        assert.deepEqual(caseNames((await ok('GET', o.stored.list)).body), [], `${o.name} stored a case`);
      else assert.deepEqual(stable((await ok('GET', o.stored.unchanged)).body), before.get(o.name), o.name);
    }
    process.stdout.write(`# ${String(cases.length)} Batch data-plane cases\n`);
  });
});
