import { invalidInput } from '../../domain/errors.ts';
import { formatDuration } from '../../domain/pools/pool-spec.ts';
import type { BatchAccountRecord, NodeRecord, PoolRecord } from '../../domain/records.ts';

/**
 * Microsoft.Batch `batchAccounts/pools` (BatchManagement.json Pool) ↔ the data plane's pool (BatchService.json
 * PoolAddParameter / CloudPool). Both surfaces show the same pools; the management shape differs in names
 * (`nodeAgentSkuId`, `imageReference.id`, `certificates`, `applicationPackages`) and groups the targets under
 * `scaleSettings`.
 */

type Json = Record<string, unknown>;

const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};

/** Management names of pool properties that the data plane calls otherwise. */
const RENAMED_IN: Record<string, string> = {
  certificates: 'certificateReferences',
  applicationPackages: 'applicationPackageReferences',
  applicationLicenses: 'applicationLicenses',
};
/** Properties handled field by field below (everything else passes through under the same name). */
const MAPPED = new Set([
  'deploymentConfiguration',
  'scaleSettings',
  'interNodeCommunication',
  ...Object.keys(RENAMED_IN),
]);
/** Read-only properties a client may echo back from a GET; they are not input. */
const READ_ONLY = new Set([
  'lastModified',
  'creationTime',
  'provisioningState',
  'provisioningStateTransitionTime',
  'allocationState',
  'allocationStateTransitionTime',
  'currentDedicatedNodes',
  'currentLowPriorityNodes',
  'autoScaleRun',
  'resizeOperationStatus',
  'currentNodeCommunicationMode',
]);

/** Management ApplicationPackageReference `{id, version}` → the data plane's `{applicationId, version}`. */
export function packageReferencesIn(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((r: unknown) => {
    const { id, ...rest } = obj(r);
    return id === undefined ? r : { applicationId: id, ...rest };
  });
}

function packageReferencesOut(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((r: unknown) => {
    const { applicationId, ...rest } = obj(r);
    return applicationId === undefined ? r : { id: applicationId, ...rest };
  });
}

function vmConfigurationIn(deployment: Json): Json {
  if (deployment.cloudServiceConfiguration !== undefined)
    return { cloudServiceConfiguration: deployment.cloudServiceConfiguration };
  const vmc = deployment.virtualMachineConfiguration;
  if (vmc === undefined || vmc === null) return {};
  const { nodeAgentSkuId, imageReference, ...rest } = obj(vmc);
  const { id, ...image } = obj(imageReference);
  return {
    virtualMachineConfiguration: {
      ...rest,
      imageReference: id === undefined ? image : { ...image, virtualMachineImageId: id },
      nodeAgentSKUId: nodeAgentSkuId,
    },
  };
}

/** `scaleSettings` as the data plane's targets or autoscale settings (none: a fixed pool of no nodes). */
export function scaleIn(scale: unknown): Json {
  const s = obj(scale);
  if (s.fixedScale !== undefined && s.autoScale !== undefined)
    throw invalidInput(
      'InvalidRequestBody',
      'scaleSettings takes fixedScale or autoScale, not both.',
      'properties.scaleSettings',
    );
  if (s.autoScale !== undefined) {
    const auto = obj(s.autoScale);
    return {
      enableAutoScale: true,
      autoScaleFormula: auto.formula,
      ...(auto.evaluationInterval === undefined
        ? {}
        : { autoScaleEvaluationInterval: auto.evaluationInterval }),
    };
  }
  const fixed = obj(s.fixedScale);
  const { nodeDeallocationOption, ...targets } = fixed;
  return {
    targetDedicatedNodes: 0,
    ...targets,
    ...(nodeDeallocationOption === undefined ? {} : { nodeDeallocationOption }),
  };
}

/** A management pool's `properties` as a data-plane pool add body named `name`. */
export function poolAddFromArm(name: string, properties: Json): Json {
  const body: Json = { id: name };
  for (const [k, v] of Object.entries(properties)) {
    if (READ_ONLY.has(k) || MAPPED.has(k)) continue;
    body[k] = v;
  }
  for (const [from, to] of Object.entries(RENAMED_IN))
    if (properties[from] !== undefined) body[to] = properties[from];
  if (properties.applicationPackages !== undefined)
    body.applicationPackageReferences = packageReferencesIn(properties.applicationPackages);
  if (properties.interNodeCommunication !== undefined)
    body.enableInterNodeCommunication = properties.interNodeCommunication === 'Enabled';
  // nodeDeallocationOption says which nodes leave a shrinking pool: a new pool has none to remove.
  const scale = scaleIn(properties.scaleSettings);
  delete scale.nodeDeallocationOption;
  return { ...body, ...vmConfigurationIn(obj(properties.deploymentConfiguration)), ...scale };
}

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function vmConfigurationOut(spec: Json): Json {
  const vmc = obj(spec.virtualMachineConfiguration);
  const { nodeAgentSKUId, imageReference, ...rest } = vmc;
  const image = { ...obj(imageReference) };
  const virtualMachineImageId = image.virtualMachineImageId;
  delete image.virtualMachineImageId;
  delete image.exactVersion;
  return {
    virtualMachineConfiguration: {
      ...rest,
      imageReference: virtualMachineImageId === undefined ? image : { ...image, id: virtualMachineImageId },
      nodeAgentSkuId: nodeAgentSKUId,
    },
  };
}

function scaleOut(pool: PoolRecord): Json {
  if (pool.autoScale)
    return {
      autoScale: {
        formula: pool.autoScale.formula,
        evaluationInterval: formatDuration(pool.autoScale.evaluationIntervalMs),
      },
    };
  return {
    fixedScale: {
      targetDedicatedNodes: pool.targetDedicatedNodes,
      targetLowPriorityNodes: pool.targetLowPriorityNodes,
      resizeTimeout: formatDuration(pool.resizeTimeoutMs),
    },
  };
}

/** BatchManagement.json Pool: the data plane's pool as the management plane shows it. */
export function poolToArm(account: BatchAccountRecord, pool: PoolRecord, nodes: NodeRecord[]): Json {
  const spec = pool.spec;
  const live = nodes.filter((n) => n.state !== 'leavingpool');
  const run = pool.autoScale?.lastRun;
  const { certificateReferences, applicationPackageReferences, enableInterNodeCommunication, ...rest } = spec;
  delete rest.virtualMachineConfiguration;
  return {
    id: `/subscriptions/${account.subscriptionId}/resourceGroups/${account.resourceGroup}/providers/Microsoft.Batch/batchAccounts/${account.name}/pools/${pool.id}`,
    name: pool.id,
    type: 'Microsoft.Batch/batchAccounts/pools',
    etag: pool.etag,
    properties: {
      ...rest,
      ...(certificateReferences === undefined ? {} : { certificates: certificateReferences }),
      ...(applicationPackageReferences === undefined
        ? {}
        : { applicationPackages: packageReferencesOut(applicationPackageReferences) }),
      interNodeCommunication: enableInterNodeCommunication === true ? 'Enabled' : 'Disabled',
      lastModified: pool.lastModified,
      creationTime: pool.creationTime,
      provisioningState: pool.state === 'deleting' ? 'Deleting' : 'Succeeded',
      provisioningStateTransitionTime: pool.stateTransitionTime,
      allocationState: capitalized(pool.allocationState),
      allocationStateTransitionTime: pool.allocationStateTransitionTime,
      deploymentConfiguration: vmConfigurationOut(spec),
      currentDedicatedNodes: live.filter((n) => n.isDedicated).length,
      currentLowPriorityNodes: live.filter((n) => !n.isDedicated).length,
      scaleSettings: scaleOut(pool),
      ...(run === undefined
        ? {}
        : {
            autoScaleRun: {
              evaluationTime: run.timestamp,
              ...(run.results === undefined ? {} : { results: run.results }),
              ...(run.error === undefined ? {} : { error: run.error }),
            },
          }),
      taskSlotsPerNode: typeof spec.taskSlotsPerNode === 'number' ? spec.taskSlotsPerNode : 1,
      resizeOperationStatus: {
        targetDedicatedNodes: pool.targetDedicatedNodes,
        targetLowPriorityNodes: pool.targetLowPriorityNodes,
        resizeTimeout: formatDuration(pool.resizeTimeoutMs),
        startTime: pool.resizeStartedAt,
        ...(pool.resizeErrors.length === 0
          ? {}
          : {
              errors: pool.resizeErrors.map((e) => ({
                code: e.code,
                message: e.message,
                ...(e.values ? { details: e.values.map((v) => ({ code: v.name, message: v.value })) } : {}),
              })),
            }),
      },
    },
  };
}
