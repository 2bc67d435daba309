import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';
import { requirePermission, type Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { DomainError, invalidInput, notFound } from '../errors.ts';
import { requireKnownLocation } from '../locations.ts';
import { requireRegistered, requireResourceGroup, rgScope, validateTags } from '../resources/resources.ts';

/** Address of a compute resource: `segments` are type/name pairs after `Microsoft.Compute`. */
export interface ComputeAddress {
  subscriptionId: string;
  resourceGroup: string;
  segments: { type: string; name: string }[];
}

export const computeType = (a: ComputeAddress): string =>
  `Microsoft.Compute/${a.segments.map((s) => s.type).join('/')}`;

export function computeId(a: ComputeAddress): string {
  return `${rgScope(a.subscriptionId, a.resourceGroup)}/providers/Microsoft.Compute/${a.segments.map((s) => `${s.type}/${s.name}`).join('/')}`;
}

export function parentAddress(a: ComputeAddress): ComputeAddress | undefined {
  return a.segments.length > 1 ? { ...a, segments: a.segments.slice(0, -1) } : undefined;
}

const ID = /^\/?subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/(.+?)\/?$/i;

/** Parses a compute resource id (spec examples sometimes omit the leading slash). */
export function parseComputeId(id: string, field: string): ComputeAddress {
  const m = ID.exec(id.trim());
  const rest = m?.[3]?.split('/') ?? [];
  if (!m?.[1] || !m[2] || rest.length === 0 || rest.length % 2 !== 0) {
    throw invalidInput('InvalidParameter', `'${id}' is not a valid Microsoft.Compute resource id.`, field);
  }
  const segments: { type: string; name: string }[] = [];
  for (let i = 0; i < rest.length; i += 2) segments.push({ type: rest[i] ?? '', name: rest[i + 1] ?? '' });
  return { subscriptionId: m[1], resourceGroup: m[2], segments };
}

/** 404 the way ARM words it for a missing compute resource. */
export function resourceNotFound(a: ComputeAddress, target?: string): DomainError {
  const typePath = `Microsoft.Compute/${a.segments.map((s) => `${s.type}/${s.name}`).join('/')}`;
  return notFound(
    'ResourceNotFound',
    `The Resource '${typePath}' under resource group '${a.resourceGroup}' was not found.`,
    target,
  );
}

export async function requireResource(
  tx: StoreTx,
  a: ComputeAddress,
  target?: string,
): Promise<ComputeResourceRecord> {
  const r = await tx.findComputeResource(computeId(a));
  if (!r || r.type.toLowerCase() !== computeType(a).toLowerCase()) throw resourceNotFound(a, target);
  return r;
}

/** Common checks for a compute write: group exists, caller may write, provider registered. */
export async function authorizeWrite(
  tx: StoreTx,
  caller: Caller,
  a: ComputeAddress,
  verb: 'write' | 'delete' = 'write',
): Promise<void> {
  await requireResourceGroup(tx, a.subscriptionId, a.resourceGroup);
  await requirePermission(tx, caller, `${computeType(a)}/${verb}`, computeId(a));
  if (verb === 'write') await requireRegistered(tx, a.subscriptionId, 'Microsoft.Compute');
}

export async function authorizeRead(tx: StoreTx, caller: Caller, a: ComputeAddress): Promise<void> {
  await requireResourceGroup(tx, a.subscriptionId, a.resourceGroup);
  await requirePermission(tx, caller, `${computeType(a)}/read`, computeId(a));
}

const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?$/;

export function requireName(name: string, what: string, field: string, pattern = NAME): void {
  if (!pattern.test(name)) {
    throw invalidInput(
      'InvalidParameter',
      `The ${what} name '${name}' is invalid. It must start with a letter or digit and may contain letters, digits, periods, underscores and hyphens (up to 80 characters).`,
      field,
    );
  }
}

/** A new or updated record for `a`, carrying over creation time and internal facts from `existing`. */
export function record(
  ctx: DomainContext,
  a: ComputeAddress,
  input: { location?: unknown; tags?: unknown },
  existing: ComputeResourceRecord | undefined,
  rest: Pick<ComputeResourceRecord, 'properties'> & Partial<ComputeResourceRecord>,
): ComputeResourceRecord {
  const now = isoNow(ctx);
  const parent = parentAddress(a);
  return {
    id: existing?.id ?? computeId(a),
    subscriptionId: a.subscriptionId.toLowerCase(),
    resourceGroup: a.resourceGroup,
    type: computeType(a),
    name: existing?.name ?? a.segments.at(-1)?.name ?? '',
    parentId: parent ? computeId(parent) : null,
    location:
      input.location === undefined && existing ? existing.location : requireKnownLocation(input.location),
    tags: input.tags === undefined && existing ? existing.tags : validateTags(input.tags),
    sku: existing?.sku ?? null,
    content: existing?.content ?? null,
    lineage: existing?.lineage ?? {},
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
    ...rest,
  };
}

export const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
