import type { RegionStores } from '../../content/regions.ts';
import type { ComputeResourceRecord, ReplicaRecord } from '../../storage/records.ts';
import { invalidInput } from '../errors.ts';
import { normalizeLocation, REGIONS } from '../locations.ts';
import { obj } from './common.ts';

/** Version names are MAJOR.MINOR.PATCH, each a 32-bit integer. */
export function parseVersionName(name: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(name);
  const parts = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  if (parts.length !== 3 || parts.some((p) => p > 2147483647)) {
    throw invalidInput(
      'InvalidParameter',
      `The gallery image version name '${name}' is invalid. It must follow the format Major(int32).Minor(int32).Patch(int32), e.g. 1.0.0.`,
      'galleryImageVersionName',
    );
  }
  return parts as [number, number, number];
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersionName(a);
  const y = parseVersionName(b);
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
}

export interface TargetRegion {
  name: string;
  regionalReplicaCount: number;
  storageAccountType: string;
  excludeFromLatest: boolean;
}

const MAX_REPLICAS = 100;

function replicaCount(value: unknown, field: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_REPLICAS) {
    throw invalidInput(
      'InvalidParameter',
      `The replica count must be an integer between 1 and ${MAX_REPLICAS}; got ${JSON.stringify(value)}.`,
      field,
    );
  }
  return value;
}

/** Validates and fills in `publishingProfile.targetRegions` (default: the version's own region). */
export function targetRegions(
  profile: Record<string, unknown>,
  location: string,
  regions: RegionStores,
): TargetRegion[] {
  const defaultCount = replicaCount(profile.replicaCount, 'properties.publishingProfile.replicaCount', 1);
  const storageType =
    typeof profile.storageAccountType === 'string' ? profile.storageAccountType : 'Standard_LRS';
  const raw = Array.isArray(profile.targetRegions) ? profile.targetRegions : [{ name: location }];
  const seen = new Set<string>();
  const out = raw.map((entry, i): TargetRegion => {
    const t = obj(entry);
    const field = `properties.publishingProfile.targetRegions[${i}]`;
    const name = typeof t.name === 'string' ? normalizeLocation(t.name) : '';
    if (!(name in REGIONS) || !regions.has(name)) {
      throw invalidInput(
        'InvalidParameter',
        `The target region '${String(t.name)}' is not a region configured on this server (${regions.names().join(', ')}).`,
        `${field}.name`,
      );
    }
    if (seen.has(name))
      throw invalidInput('InvalidParameter', `The target region '${name}' is listed twice.`, `${field}.name`);
    seen.add(name);
    return {
      name,
      regionalReplicaCount: replicaCount(
        t.regionalReplicaCount,
        `${field}.regionalReplicaCount`,
        defaultCount,
      ),
      storageAccountType: typeof t.storageAccountType === 'string' ? t.storageAccountType : storageType,
      excludeFromLatest: t.excludeFromLatest === true,
    };
  });
  if (!seen.has(location)) {
    throw invalidInput(
      'InvalidParameter',
      `The version's location '${location}' must be one of its target regions.`,
      'properties.publishingProfile.targetRegions',
    );
  }
  return out;
}

/** `replicationStatus` as `$expand=ReplicationStatus` shows it. */
export function replicationStatus(replicas: ReplicaRecord[]) {
  const aggregatedState = replicas.some((r) => r.state === 'Failed')
    ? 'Failed'
    : replicas.every((r) => r.state === 'Completed')
      ? 'Completed'
      : 'InProgress';
  return {
    aggregatedState,
    summary: replicas.map((r) => ({
      region: REGIONS[r.region] ?? r.region,
      state: r.state,
      details: r.details,
      progress:
        r.state === 'Completed'
          ? 100
          : r.bytesTotal === 0
            ? 0
            : Math.floor((100 * r.bytesDone) / r.bytesTotal),
    })),
  };
}

/**
 * "latest": the highest MAJOR.MINOR.PATCH among versions that finished provisioning, are not excluded from latest
 * (overall or for `region`), have a replica in `region`, and have not reached their end-of-life date.
 */
export function resolveLatest(
  versions: ComputeResourceRecord[],
  region: string,
  now: Date,
): ComputeResourceRecord | undefined {
  const eligible = versions.filter((v) => {
    const p = obj(v.properties.publishingProfile);
    const target = (p.targetRegions as TargetRegion[] | undefined)?.find(
      (t) => normalizeLocation(t.name) === region,
    );
    const eol = typeof p.endOfLifeDate === 'string' ? Date.parse(p.endOfLifeDate) : NaN;
    return (
      v.properties.provisioningState === 'Succeeded' &&
      p.excludeFromLatest !== true &&
      target !== undefined &&
      !target.excludeFromLatest &&
      !(eol < now.getTime())
    );
  });
  return eligible.sort((a, b) => compareVersions(b.name, a.name))[0];
}
