/**
 * The negative suite's cases and how one is judged (ADR 0032): every case must be answered 4xx in its surface's
 * envelope, and afterwards nothing it sent may be stored.
 */
import assert from 'node:assert/strict';
import { mutations, type Mutation } from './generate.ts';

type JsonObject = Record<string, unknown>;
export type Surface = 'batch' | 'arm';

export interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

/** One implemented operation with a JSON body, and a body it accepts. */
export interface FuzzOperation {
  name: string;
  method: 'POST' | 'PUT' | 'PATCH';
  specFile: string;
  definition: string;
  /** Request path (with query) for case `n`; adds put the case's fresh id or name in it or in the body. */
  path: (n: number) => string;
  baseline: JsonObject;
  /** For adds whose id is in the body: that property, set to a fresh `fz…` id per case. */
  idProperty?: string;
  /** Properties the generator must leave alone (dotted), with the reason next to the entry. */
  skip?: string[];
  /**
   * How "nothing stored" is checked. `list`: this collection path (GET) must hold nothing named `fz…`.
   * `unchanged`: this entity path (GET) answers the same body, volatile fields aside, before and after.
   */
  stored: { list: string } | { unchanged: string };
  /** Bad If-Match values are sent with the baseline body too (operations that honour If-Match). */
  etag?: boolean;
}

export interface FuzzCase {
  operation: FuzzOperation;
  label: string;
  path: string;
  body: JsonObject;
  headers: Record<string, string>;
}

const BAD_ETAGS = ['"0x8D0000000000000"', 'not-an-etag', '""', 'W/"0x1"'];

/** All cases of the operations, numbered across the whole suite so every add gets a name of its own. */
export function casesOf(operations: readonly FuzzOperation[], seed: number): FuzzCase[] {
  const out: FuzzCase[] = [];
  for (const [i, op] of operations.entries()) {
    const generated: Mutation[] = mutations(
      op.specFile,
      op.definition,
      op.baseline as never,
      seed + i,
      op.skip,
    );
    for (const m of generated) {
      const n = out.length;
      const body =
        op.idProperty !== undefined && m.path !== op.idProperty && !m.path.startsWith(`${op.idProperty}.`)
          ? { ...m.body, [op.idProperty]: `fz-${String(n)}` }
          : m.body;
      out.push({ operation: op, label: `${m.kind} ${m.path}`, path: op.path(n), body, headers: {} });
    }
    if (op.etag === true)
      for (const tag of BAD_ETAGS)
        out.push({
          operation: op,
          label: `bad-etag If-Match ${tag}`,
          path: op.path(out.length),
          body: op.baseline,
          headers: { 'if-match': tag },
        });
  }
  return out;
}

/** Runs assertRefused on each case's reply and fails once, listing every case that was not refused properly. */
export async function assertAllRefused(
  surface: Surface,
  cases: readonly FuzzCase[],
  send: (c: FuzzCase) => Promise<Reply>,
): Promise<void> {
  const failures: string[] = [];
  for (const c of cases) {
    try {
      assertRefused(surface, c, await send(c));
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  assert.deepEqual(failures, [], `${String(failures.length)} of ${String(cases.length)} cases failed`);
}

/** The case was refused as the surface refuses: 4xx, and the error envelope with a code and a message. */
export function assertRefused(surface: Surface, c: FuzzCase, reply: Reply): void {
  const what = `${c.operation.name} ${c.label} → ${String(reply.status)} ${JSON.stringify(reply.body ?? null).slice(0, 300)}`;
  assert.ok(reply.status >= 400 && reply.status < 500, `not a 4xx: ${what}`);
  if (c.label.startsWith('bad-etag')) assert.equal(reply.status, 412, `not 412 PreconditionFailed: ${what}`);
  const body = (reply.body ?? {}) as JsonObject;
  if (surface === 'batch') {
    const message = body.message as JsonObject | undefined;
    assert.equal(typeof body.code, 'string', `no Batch error code: ${what}`);
    assert.equal(typeof message?.value, 'string', `no Batch error message.value: ${what}`);
    assert.equal(typeof message?.lang, 'string', `no Batch error message.lang: ${what}`);
  } else {
    const error = body.error as JsonObject | undefined;
    assert.equal(typeof error?.code, 'string', `no ARM error.code: ${what}`);
    assert.equal(typeof error?.message, 'string', `no ARM error.message: ${what}`);
  }
}

/** Fields the service itself changes over time; "unchanged" ignores them. */
const VOLATILE = new Set([
  'state',
  'stateTransitionTime',
  'previousState',
  'previousStateTransitionTime',
  'allocationState',
  'allocationStateTransitionTime',
  'currentDedicatedNodes',
  'currentLowPriorityNodes',
  'resizeErrors',
  'autoScaleRun',
  'stats',
  'executionInfo',
  'odata.metadata',
]);

export function stable(body: unknown): unknown {
  if (Array.isArray(body)) return body.map(stable);
  if (body === null || typeof body !== 'object') return body;
  return Object.fromEntries(
    Object.entries(body as JsonObject)
      .filter(([k]) => !VOLATILE.has(k))
      .map(([k, v]) => [k, stable(v)]),
  );
}

/** Ids and names in a list answer (`value[].name` for ARM, `value[].id` for Batch) that a case would have made:
 * `fz…`, or a role assignment's `f2000000-…` GUID. */
export function caseNames(listBody: unknown): string[] {
  const value = ((listBody ?? {}) as { value?: { id?: string; name?: string }[] }).value ?? [];
  return value.map((v) => v.name ?? v.id ?? '').filter((n) => /^(fz|f2000000-)/i.test(n));
}
