/**
 * Rewrites the `definitions` of a swagger 2.0 document into plain JSON Schema (draft-07) that ajv compiles
 * without complaint. The walk is schema-aware: names under `properties` are property names, never keywords, so
 * a property called `pattern`, `type` or `enum` (resources.json has `AliasPath.properties.pattern`) survives.
 *
 * Only the keywords listed here reach ajv; everything else (`description`, `format`, `x-ms-*`,
 * `discriminator`, `readOnly`, `example`, `default`, ...) is dropped, so unknown formats and extensions can
 * neither break compilation nor reject a body.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** ajv keyword for a closed swagger string enum, compared case-insensitively (see validator.ts). */
export const ENUM_KEYWORD = 'x-lazurite-enum';

const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
const COPIED = new Set([
  'maximum',
  'minimum',
  'multipleOf',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'const',
]);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf']);

export function isObject(node: unknown): node is JsonObject {
  return typeof node === 'object' && node !== null && !Array.isArray(node);
}

/** A converted document: the definitions ajv will see, and the files their `$ref`s point into. */
export interface ConvertedDefinitions {
  definitions: JsonObject;
  /** File parts of cross-file `$ref`s, as written (relative to the document). */
  files: Set<string>;
}

/**
 * `request` (the default): read-only properties accept anything and are never required, as the server ignores
 * them on input. `response`: they are checked like any other property, since the server is what writes them.
 */
export type Direction = 'request' | 'response';

/** What one conversion collects and obeys. */
interface Conversion {
  /** File parts of cross-file `$ref`s met so far. */
  files: Set<string>;
  direction: Direction;
}

export function convertDefinitions(doc: Json, mode: Direction = 'request'): ConvertedDefinitions {
  const files = new Set<string>();
  const c: Conversion = { files, direction: mode };
  const definitions: JsonObject = {};
  const source = isObject(doc) ? doc.definitions : undefined;
  if (isObject(source)) {
    for (const [name, def] of Object.entries(source)) definitions[name] = convertSchema(def, c);
  }
  if (mode === 'response') {
    for (const [name, schema] of Object.entries(responseSchemas(doc)))
      definitions[name] = convertSchema(schema, c);
  }
  return { definitions, files };
}

/** The definition name a response schema is registered under: `response:GET /pools 200`. */
export function responseDefinition(verb: string, template: string, status: string): string {
  return `response:${verb.toUpperCase()} ${template} ${status}`;
}

/** Every response schema of a swagger file's `paths` and `x-ms-paths`, by responseDefinition name. */
function responseSchemas(doc: Json): JsonObject {
  const out: JsonObject = {};
  if (!isObject(doc)) return out;
  for (const paths of [doc.paths, doc['x-ms-paths']]) {
    if (!isObject(paths)) continue;
    for (const [template, operations] of Object.entries(paths)) {
      if (!isObject(operations)) continue;
      for (const [verb, operation] of Object.entries(operations)) {
        const responses = isObject(operation) ? operation.responses : undefined;
        if (!isObject(responses)) continue;
        for (const [status, response] of Object.entries(responses)) {
          const schema = isObject(response) ? response.schema : undefined;
          if (schema !== undefined) out[responseDefinition(verb, template, status)] = schema;
        }
      }
    }
  }
  return out;
}

/** A property the server ignores on input: `readOnly: true`, or `x-ms-mutability: ["read"]`. */
function isReadOnly(node: Json | undefined, c: Conversion): boolean {
  if (c.direction === 'response' || !isObject(node)) return false;
  const mutability = node['x-ms-mutability'];
  const readOnlyMutability =
    Array.isArray(mutability) && mutability.length > 0 && mutability.every((m) => m === 'read');
  return node.readOnly === true || readOnlyMutability;
}

function convertSchema(node: Json, c: Conversion): Json {
  if (typeof node === 'boolean') return node;
  if (!isObject(node)) return {};
  const ref = node.$ref;
  if (typeof ref === 'string') return convertRef(ref, node['x-nullable'] === true, c);
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) convertKeyword(key, value, node, out, c);
  if (out.type === undefined && (out.properties ?? out.required ?? out.additionalProperties) !== undefined) {
    out.type = 'object'; // swagger definitions often leave `type: object` implicit
  }
  dropInclusiveBound(node, out);
  describedMaxLength(node, out);
  convertEnum(node, out);
  if (node['x-nullable'] === true) allowNull(out);
  return out;
}

/**
 * The Batch swagger states some string limits only in prose: ids "cannot contain more than 64 characters", display
 * names have "a maximum length of 1024". Such a description becomes `maxLength` (the negative suite found display
 * names of any length stored, ADR 0032).
 */
function describedMaxLength(node: JsonObject, out: JsonObject): void {
  if (node.type !== 'string' || out.maxLength !== undefined || typeof node.description !== 'string') return;
  const found = /(?:maximum length of|cannot contain more than) (\d+)\b/.exec(node.description);
  if (found) out.maxLength = Number(found[1]);
}

/** Swagger 2.0 ignores siblings of `$ref` (ajv 8 would apply them), so only `x-nullable` is honoured. */
function convertRef(ref: string, nullable: boolean, c: Conversion): JsonObject {
  const hash = ref.indexOf('#');
  const file = hash === -1 ? ref : ref.slice(0, hash);
  if (file !== '') c.files.add(file);
  // A whole-file `$ref` (no fragment) resolves to our registered stub `{ definitions }`: no constraint.
  const target: JsonObject = { $ref: ref };
  return nullable ? { if: { type: 'null' }, then: true, else: target } : target;
}

function convertKeyword(key: string, value: Json, node: JsonObject, out: JsonObject, c: Conversion): void {
  if (COPIED.has(key)) {
    if (typeof value === 'number' || typeof value === 'boolean' || key === 'const') out[key] = value;
    return;
  }
  if (SCHEMA_LISTS.has(key)) {
    if (Array.isArray(value)) out[key] = value.map((v) => convertSchema(v, c));
    return;
  }
  switch (key) {
    case 'type':
      convertType(value, out);
      return;
    case 'properties':
      if (isObject(value)) out.properties = convertProperties(value, c);
      return;
    case 'required':
      if (Array.isArray(value)) out.required = requiredNames(value, node.properties, c);
      return;
    case 'items':
      out.items = Array.isArray(value) ? value.map((v) => convertSchema(v, c)) : convertSchema(value, c);
      return;
    case 'additionalProperties':
    case 'not':
      out[key] = convertSchema(value, c);
      return;
    case 'pattern':
      if (typeof value === 'string' && compiles(value)) out.pattern = value;
      return;
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      convertExclusive(key, value, node, out);
      return;
    default:
  }
}

function convertType(value: Json, out: JsonObject): void {
  // `type: file` (multipart uploads) and anything else JSON Schema does not know means "no constraint".
  if (typeof value === 'string' && JSON_TYPES.has(value)) out.type = value;
  if (Array.isArray(value)) {
    const known = value.filter((t): t is string => typeof t === 'string' && JSON_TYPES.has(t));
    if (known.length > 0) out.type = known;
  }
}

/** Read-only properties are accepted with any value: the server ignores them on input. */
function convertProperties(properties: JsonObject, c: Conversion): JsonObject {
  const out: JsonObject = {};
  for (const [name, schema] of Object.entries(properties)) {
    out[name] = isReadOnly(schema, c) ? {} : convertSchema(schema, c);
  }
  return out;
}

function requiredNames(required: Json[], properties: Json | undefined, c: Conversion): Json[] {
  const props = isObject(properties) ? properties : {};
  return required.filter((name): name is string => typeof name === 'string' && !isReadOnly(props[name], c));
}

/** Swagger 2.0 (draft-04) spells `exclusiveMinimum` as a boolean modifier of `minimum`. */
function convertExclusive(
  key: 'exclusiveMinimum' | 'exclusiveMaximum',
  value: Json,
  node: JsonObject,
  out: JsonObject,
): void {
  if (typeof value === 'number') {
    out[key] = value;
    return;
  }
  const bound = node[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'];
  if (value === true && typeof bound === 'number') out[key] = bound;
}

/** `minimum`/`maximum` are copied before we know whether they were exclusive; fix that up here. */
function dropInclusiveBound(node: JsonObject, out: JsonObject): void {
  if (node.exclusiveMinimum === true) delete out.minimum;
  if (node.exclusiveMaximum === true) delete out.maximum;
}

/**
 * `x-ms-enum.modelAsString: true` marks an extensible enum: any string is accepted. Other string enums are
 * closed and checked case-insensitively through ENUM_KEYWORD; non-string enums are checked exactly.
 */
function convertEnum(node: JsonObject, out: JsonObject): void {
  const values = node.enum;
  if (!Array.isArray(values) || values.length === 0) return;
  const ext = node['x-ms-enum'];
  if (isObject(ext) && ext.modelAsString === true) return;
  if (values.every((v) => typeof v === 'string')) out[ENUM_KEYWORD] = values;
  else out.enum = node['x-nullable'] === true ? [...values, null] : values;
}

function allowNull(out: JsonObject): void {
  const type = out.type;
  if (typeof type === 'string') out.type = [type, 'null'];
  else if (Array.isArray(type) && !type.includes('null')) out.type = [...type, 'null'];
}

/** ajv compiles patterns with the `u` flag; a pattern that is not a valid ECMAScript regex is not enforced. */
function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch {
    return false;
  }
}
