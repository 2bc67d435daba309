/**
 * Bad request bodies generated from the swagger files (ADR 0032). Starting from a valid baseline body of an
 * operation, the body definition is walked (`$ref`s followed across files, `allOf` merged) and every writable
 * property yields the mutations its schema makes wrong: a value of another type, the property left out when
 * required, a number past `minimum`/`maximum`, a string past `maxLength`, a value outside a closed enum, a
 * malformed ISO-8601 duration. Objects and arrays of objects present in the baseline are walked into (to
 * MAX_DEPTH), so nested fields are reached too. The only randomness is a seeded PRNG: same seed, same cases.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { REPO_ROOT } from '../compat/harness.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export type MutationKind =
  | 'wrong-type'
  | 'missing-required'
  | 'out-of-range'
  | 'over-long'
  | 'bad-enum'
  | 'bad-duration'
  | 'bad-characters';

export interface Mutation {
  kind: MutationKind;
  /** Dotted path of the property changed, e.g. `virtualMachineConfiguration.imageReference.sku`. */
  path: string;
  body: JsonObject;
}

const MAX_DEPTH = 4;
const SPECIFICATION = join(REPO_ROOT, 'specs', 'specification');
const files = new Map<string, JsonObject>();

function load(abs: string): JsonObject {
  let doc = files.get(abs);
  if (doc === undefined) {
    doc = JSON.parse(readFileSync(abs, 'utf8')) as JsonObject;
    files.set(abs, doc);
  }
  return doc;
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A schema with the file its `$ref`s are relative to. */
interface Located {
  file: string;
  schema: JsonObject;
}

function deref(at: Located): Located {
  let { file, schema } = at;
  for (let hops = 0; typeof schema.$ref === 'string' && hops < 20; hops++) {
    const [part = '', pointer = ''] = schema.$ref.split('#');
    if (part !== '') file = resolve(dirname(file), part);
    let node: Json = load(file);
    for (const seg of pointer.split('/').filter(Boolean)) node = isObject(node) ? (node[seg] ?? null) : null;
    schema = isObject(node) ? node : {};
  }
  return { file, schema };
}

/** An object schema's properties and required names, with `allOf` parents merged in. */
interface Shape {
  properties: Map<string, Located>;
  required: Set<string>;
}

function shapeOf(at: Located, depth = 0): Shape {
  const { file, schema } = deref(at);
  const shape: Shape = { properties: new Map(), required: new Set() };
  if (depth > 10) return shape;
  for (const parent of Array.isArray(schema.allOf) ? schema.allOf : []) {
    if (!isObject(parent)) continue;
    const inherited = shapeOf({ file, schema: parent }, depth + 1);
    for (const [k, v] of inherited.properties) shape.properties.set(k, v);
    for (const r of inherited.required) shape.required.add(r);
  }
  if (isObject(schema.properties))
    for (const [k, v] of Object.entries(schema.properties))
      if (isObject(v)) shape.properties.set(k, { file, schema: v });
  if (Array.isArray(schema.required))
    for (const r of schema.required) if (typeof r === 'string') shape.required.add(r);
  return shape;
}

function readOnly(s: JsonObject): boolean {
  const m = s['x-ms-mutability'];
  return s.readOnly === true || (Array.isArray(m) && m.length > 0 && m.every((x) => x === 'read'));
}

/** mulberry32: a small seeded PRNG, so the suite is the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BAD_DURATIONS = ['PT5X', 'five minutes', 'P', 'PT-1H', '1:00:00'];
const BAD_ENUM = ['NotAValue', 'bogus_enum_value', '0', 'Ünknown'];

/** A value of a type the schema does not allow. */
function wrongType(type: Json | undefined, random: () => number): Json {
  const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)] as T;
  switch (type) {
    case 'string':
      return pick([12345, true, { value: 'x' }, ['x']]);
    case 'integer':
    case 'number':
      return pick(['not-a-number', true, { n: 1 }, [1]]);
    case 'boolean':
      return pick(['maybe', 2, { b: true }]);
    case 'array':
      return pick(['not-an-array', 7, { item: 1 }]);
    default:
      return pick(['not-an-object', 42, [1, 2]]);
  }
}

function typeOf(s: JsonObject): Json | undefined {
  if (s.type !== undefined) return s.type;
  return s.properties !== undefined || s.allOf !== undefined ? 'object' : undefined;
}

/** The mutations of one property's value, given its (dereferenced) schema. */
function valueMutations(s: JsonObject, random: () => number): { kind: MutationKind; value: Json }[] {
  const out: { kind: MutationKind; value: Json }[] = [];
  const type = typeOf(s);
  if (type !== undefined) out.push({ kind: 'wrong-type', value: wrongType(type, random) });
  const ext = s['x-ms-enum'];
  const closed = Array.isArray(s.enum) && !(isObject(ext) && ext.modelAsString === true);
  if (closed && type === 'string')
    out.push({ kind: 'bad-enum', value: BAD_ENUM[Math.floor(random() * BAD_ENUM.length)] ?? 'x' });
  if (typeof s.minimum === 'number') out.push({ kind: 'out-of-range', value: s.minimum - 1 });
  if (typeof s.maximum === 'number') out.push({ kind: 'out-of-range', value: s.maximum + 1 });
  const limits = describedLimits(s);
  const maxLength = typeof s.maxLength === 'number' ? s.maxLength : limits.maxLength;
  if (maxLength !== undefined) out.push({ kind: 'over-long', value: 'x'.repeat(maxLength + 1) });
  if (typeof s.minimum !== 'number' && limits.minimum !== undefined)
    out.push({ kind: 'out-of-range', value: limits.minimum - 1 });
  if (typeof s.maximum !== 'number' && limits.maximum !== undefined)
    out.push({ kind: 'out-of-range', value: limits.maximum + 1 });
  if (limits.idCharacters) out.push({ kind: 'bad-characters', value: 'no spaces/or#slashes' });
  if (s.format === 'duration')
    out.push({
      kind: 'bad-duration',
      value: BAD_DURATIONS[Math.floor(random() * BAD_DURATIONS.length)] ?? 'x',
    });
  return out;
}

/**
 * Limits the Batch swagger states only in prose, read from a property's description: "cannot contain more than
 * 64 characters", "up to a maximum length of 1024", "can range from -1000 to 1000", and ids made of
 * "alphanumeric characters including hyphens and underscores".
 */
function describedLimits(s: JsonObject): {
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  idCharacters: boolean;
} {
  const text = typeof s.description === 'string' ? s.description : '';
  const length = /(?:more than|maximum length of) (\d+)(?: characters)?/.exec(text);
  const range = /range from (-?\d+) to (-?\d+)/.exec(text);
  return {
    ...(length ? { maxLength: Number(length[1]) } : {}),
    ...(range ? { minimum: Number(range[1]), maximum: Number(range[2]) } : {}),
    idCharacters: /alphanumeric characters including hyphens and underscores/.test(text),
  };
}

function setAt(body: JsonObject, path: (string | number)[], value: Json | undefined): JsonObject {
  const copy = structuredClone(body);
  let node: Json = copy;
  for (const seg of path.slice(0, -1)) node = (node as Record<string | number, Json>)[seg] ?? null;
  const last = path.at(-1);
  if (last === undefined || node === null || typeof node !== 'object') return copy;
  if (value === undefined) Reflect.deleteProperty(node, last);
  else (node as Record<string | number, Json>)[last] = value;
  return copy;
}

const dotted = (path: (string | number)[]) =>
  path.map((p, i) => (typeof p === 'number' ? `[${String(p)}]` : i === 0 ? p : `.${p}`)).join('');

/**
 * Every mutation of `baseline` that breaks definition `definition` of `specFile` (relative to
 * specs/specification/). Properties listed in `skip` (dotted paths) are left alone.
 */
export function mutations(
  specFile: string,
  definition: string,
  baseline: JsonObject,
  seed: number,
  skip: readonly string[] = [],
): Mutation[] {
  const random = seeded(seed);
  const out: Mutation[] = [];
  const walk = (at: Located, value: JsonObject, path: (string | number)[], depth: number) => {
    const shape = shapeOf(at);
    for (const [name, located] of shape.properties) {
      const here = [...path, name];
      if (skip.includes(dotted(here))) continue;
      const resolved = deref(located);
      if (readOnly(located.schema) || readOnly(resolved.schema)) continue;
      const present = value[name];
      if (shape.required.has(name) && present !== undefined)
        out.push({ kind: 'missing-required', path: dotted(here), body: setAt(baseline, here, undefined) });
      for (const m of valueMutations(resolved.schema, random))
        out.push({ kind: m.kind, path: dotted(here), body: setAt(baseline, here, m.value) });
      if (depth >= MAX_DEPTH) continue;
      if (isObject(present)) walk(resolved, present, here, depth + 1);
      const items = resolved.schema.items;
      if (Array.isArray(present) && isObject(present[0]) && isObject(items))
        walk({ file: resolved.file, schema: items }, present[0], [...here, 0], depth + 1);
    }
  };
  const file = join(SPECIFICATION, specFile);
  walk({ file, schema: { $ref: `#/definitions/${definition}` } }, baseline, [], 0);
  return out;
}
