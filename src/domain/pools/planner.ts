import { recommendedReplicas, recommendedResizeTimeoutMs } from './sizing-guidance.ts';

/**
 * The allocation model of the simulated backend, in virtual time: the pool sizer grants at most
 * `replicas × capacityPerReplica` concurrent hydrations; a granted node copies its disks from a replica
 * (`copyMs`, holding the slot), then boots (`bootMs`) and runs its start task (`startTaskMs`) before it is idle.
 * The first nodes also wait for the host's one-time image hydration (`hydrateMs`).
 */
export interface AllocationModel {
  capacityPerReplica: number;
  hydrateMs: number;
  copyMs: number;
  bootMs: number;
  startTaskMs: number;
}

/** Durations assumed for a cloud-sized pool when the user gives none (each can be overridden). */
export const DEFAULT_PLAN_MODEL: Omit<AllocationModel, 'capacityPerReplica'> = {
  hydrateMs: 0,
  copyMs: 60_000,
  bootMs: 60_000,
  startTaskMs: 30_000,
};

export interface PlanSettings {
  nodes: number;
  replicas: number;
  resizeTimeoutMs: number;
}

export interface Prediction extends PlanSettings {
  /** Nodes allocated before the resize ended (all of them unless it timed out). */
  allocatedNodes: number;
  /** The resize outlasted its timeout: the pool ends steady with an `AllocationTimedout` resize error. */
  timedOut: boolean;
  /** From the resize to allocationState steady. */
  steadyMs: number;
  /** From the resize to the last allocated node idle. */
  allIdleMs: number;
  /** Mean of each allocated node's allocation → idle time. */
  meanIdleLatencyMs: number;
}

export interface Plan {
  nodes: number;
  minimumReplicas: number;
  recommendedReplicas: number;
  minimumResizeTimeoutMs: number;
  recommendedResizeTimeoutMs: number;
  model: AllocationModel;
  given: Prediction | undefined;
  minimum: Prediction;
  recommended: Prediction;
  /** Time to steady for 1 … 2 × recommended replicas at the recommended timeout (for a chart). */
  curve: { replicas: number; steadyMs: number; timedOut: boolean }[];
}

const FIVE_MINUTES = 5 * 60_000;

/** The prediction for one setting: nodes leave `creating` in waves of `replicas × capacity`. */
export function predict(settings: PlanSettings, model: AllocationModel): Prediction {
  const slots = Math.max(1, settings.replicas) * model.capacityPerReplica;
  const waves = Math.ceil(settings.nodes / slots);
  const allocatedAt = (wave: number) => model.hydrateMs + (wave + 1) * model.copyMs;
  const finishedWaves =
    model.copyMs === 0
      ? waves
      : Math.min(waves, Math.floor((settings.resizeTimeoutMs - model.hydrateMs) / model.copyMs));
  const timedOut = finishedWaves < waves;
  const allocatedNodes = timedOut ? Math.max(0, finishedWaves) * slots : settings.nodes;
  const lastWave = Math.max(0, Math.ceil(allocatedNodes / slots) - 1);
  let latencySum = 0;
  for (let wave = 0; wave * slots < allocatedNodes; wave++) {
    const inWave = Math.min(slots, allocatedNodes - wave * slots);
    latencySum += inWave * (allocatedAt(wave) + model.bootMs + model.startTaskMs);
  }
  const startUp = model.bootMs + model.startTaskMs;
  return {
    ...settings,
    allocatedNodes,
    timedOut,
    steadyMs: timedOut ? settings.resizeTimeoutMs : allocatedNodes === 0 ? 0 : allocatedAt(waves - 1),
    allIdleMs: allocatedNodes === 0 ? 0 : allocatedAt(lastWave) + startUp,
    meanIdleLatencyMs: allocatedNodes === 0 ? 0 : latencySum / allocatedNodes,
  };
}

/**
 * Answers the seeds' large-pool questions for `nodes`: the minimum replicas (one per 300 nodes) and resize
 * timeout (15 minutes per 1,000 nodes), recommended values with headroom (the seeds: always keep more replicas
 * than the minimum; a timeout that covers the predicted allocation 1.5 times), and predictions for each.
 */
export function planPool(
  nodes: number,
  model: AllocationModel,
  given?: { replicas?: number; resizeTimeoutMs?: number },
): Plan {
  const minimumReplicas = recommendedReplicas(nodes);
  const replicas = minimumReplicas + Math.max(1, Math.ceil(minimumReplicas * 0.2));
  const minimumTimeout = recommendedResizeTimeoutMs(nodes);
  const atRecommended = predict({ nodes, replicas, resizeTimeoutMs: Number.MAX_SAFE_INTEGER }, model);
  const timeout = Math.max(
    minimumTimeout,
    Math.ceil((atRecommended.steadyMs * 1.5) / FIVE_MINUTES) * FIVE_MINUTES,
  );
  const curve = Array.from({ length: replicas * 2 }, (_, i) => {
    const p = predict({ nodes, replicas: i + 1, resizeTimeoutMs: timeout }, model);
    return { replicas: i + 1, steadyMs: p.steadyMs, timedOut: p.timedOut };
  });
  const asGiven =
    given?.replicas === undefined && given?.resizeTimeoutMs === undefined
      ? undefined
      : predict(
          {
            nodes,
            replicas: given.replicas ?? minimumReplicas,
            resizeTimeoutMs: given.resizeTimeoutMs ?? 15 * 60_000,
          },
          model,
        );
  return {
    nodes,
    minimumReplicas,
    recommendedReplicas: replicas,
    minimumResizeTimeoutMs: minimumTimeout,
    recommendedResizeTimeoutMs: timeout,
    model,
    given: asGiven,
    minimum: predict({ nodes, replicas: minimumReplicas, resizeTimeoutMs: minimumTimeout }, model),
    recommended: predict({ nodes, replicas, resizeTimeoutMs: timeout }, model),
    curve,
  };
}

/** Column headings of a prediction table (the CLI's and the portal's). */
export const PREDICTION_COLUMNS = [
  'setting',
  'replicas',
  'timeout',
  'allocated',
  'to steady',
  'all idle',
  'mean idle latency',
  'outcome',
] as const;

/** How a table writes durations and "allocated of nodes" (the terminal tighter than the portal). */
export interface CellFormat {
  duration: (ms: number) => string;
  share: (part: number, whole: number) => string;
}

/** One prediction as table cells. */
export function predictionRow(label: string, p: Prediction, f: CellFormat): string[] {
  return [
    label,
    String(p.replicas),
    f.duration(p.resizeTimeoutMs),
    f.share(p.allocatedNodes, p.nodes),
    f.duration(p.steadyMs),
    f.duration(p.allIdleMs),
    f.duration(p.meanIdleLatencyMs),
    p.timedOut ? 'AllocationTimedout' : 'steady',
  ];
}

/** The given (when set), minimum and recommended predictions of a plan as rows. */
export function planRows(plan: Plan, f: CellFormat): string[][] {
  return [
    ...(plan.given ? [predictionRow('given', plan.given, f)] : []),
    predictionRow('minimum', plan.minimum, f),
    predictionRow('recommended', plan.recommended, f),
  ];
}
