import { normalizeLocation } from '../domain/locations.ts';
import { formatDuration, parseDuration } from '../domain/pools/pool-spec.ts';
import { PREDICTION_COLUMNS, planRows, type Plan } from '../domain/pools/planner.ts';
import { CliError, type ServerClient } from './client.ts';

const BLOCKS = '▁▂▃▄▅▆▇█';

/** `45`, `45m`, `90s`, `1h` or ISO 8601 (`PT45M`) → ms. */
export function parseTimeout(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h)?$/i.exec(text.trim());
  const unit = m?.[2]?.toLowerCase();
  const ms = m
    ? Number(m[1]) * (unit === 's' ? 1000 : unit === 'h' ? 3_600_000 : 60_000)
    : parseDuration(text);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    throw new CliError(
      `${what} '${text}' is not a duration`,
      'use minutes (45), 45m, 90s, 1h or ISO 8601 (PT45M)',
    );
  }
  return ms;
}

export function parseCount(text: string, what: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    throw new CliError(`${what} must be a whole number of at least ${String(min)}, not '${text}'`);
  }
  return n;
}

/** The replica count an image version keeps in `region` (the Batch account's region). */
export async function replicasOf(client: ServerClient, imageId: string, region: string): Promise<number> {
  const v = (await client.arm(imageId)) as {
    properties?: {
      publishingProfile?: {
        replicaCount?: number;
        targetRegions?: { name: string; regionalReplicaCount?: number }[];
      };
    };
  };
  const profile = v.properties?.publishingProfile;
  if (!profile) {
    throw new CliError(
      `'${imageId}' is not a gallery image version`,
      'pass --image /subscriptions/.../galleries/<g>/images/<def>/versions/<version>',
    );
  }
  const target = profile.targetRegions?.find((t) => normalizeLocation(t.name) === normalizeLocation(region));
  if (!target) {
    throw new CliError(
      `image version has no replica in the Batch account's region '${region}'`,
      "add the region to the version's target regions (a pool would fail with AllocationFailed)",
    );
  }
  return target.regionalReplicaCount ?? profile.replicaCount ?? 1;
}

const minutes = (ms: number) => formatDuration(ms).replace(/^PT/, '').toLowerCase();

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Time to steady against replica count, one block per count (taller is slower). */
export function sparkline(plan: Plan): string {
  const max = Math.max(...plan.curve.map((c) => c.steadyMs), 1);
  const line = plan.curve
    .map((c) => BLOCKS[Math.min(BLOCKS.length - 1, Math.floor((c.steadyMs / max) * (BLOCKS.length - 1)))])
    .join('');
  return `time to steady by replicas 1…${String(plan.curve.length)}: ${line}  (${minutes(plan.curve[0]?.steadyMs ?? 0)} … ${minutes(plan.curve.at(-1)?.steadyMs ?? 0)})`;
}

/** The human form of `lazurite plan`. */
export function formatPlan(plan: Plan): string {
  const m = plan.model;
  const rows = [
    [...PREDICTION_COLUMNS],
    ...planRows(plan, { duration: minutes, share: (a, n) => `${String(a)}/${String(n)}` }),
  ];
  return [
    `Pool of ${String(plan.nodes)} nodes from a gallery image`,
    `  minimum replicas     ${String(plan.minimumReplicas)}  (one per 300 nodes)`,
    `  recommended replicas ${String(plan.recommendedReplicas)}  (the seeds: always keep more than the minimum; +20 %)`,
    `  minimum resize timeout     ${minutes(plan.minimumResizeTimeoutMs)}  (15 minutes per 1,000 nodes)`,
    `  recommended resize timeout ${minutes(plan.recommendedResizeTimeoutMs)}  (covers the predicted allocation 1.5×)`,
    '',
    table(rows),
    '',
    sparkline(plan),
    '',
    `model (simulated backend): ${String(m.capacityPerReplica)} concurrent copies per replica, copy ${minutes(m.copyMs)} per node, boot ${minutes(m.bootMs)}, start task ${minutes(m.startTaskMs)}; change with --capacity, --copy-time, --boot-time, --start-task-time`,
    '',
  ].join('\n');
}
