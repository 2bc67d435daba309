import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/** The first problem found in a request body, named by its dotted path from the body root. */
export interface SpecViolation {
  kind: 'missing' | 'invalid';
  /** e.g. `properties.principalId`, `value[3].id`; '' is the body itself. */
  path: string;
  /** Last segment of the path. */
  property: string;
  message: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Rewrites swagger 2.0 schema dialect into JSON Schema ajv understands:
 * - `type: file` is dropped; `x-nullable: true` admits null;
 * - enums with `x-ms-enum.modelAsString: true` are extensible, so any string is accepted;
 *   other enums are checked case-insensitively (Azure accepts `batchservice` for `BatchService`).
 */
function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'enum' || k === 'x-ms-enum' || k === 'discriminator') continue;
    if (k === 'type' && v === 'file') continue;
    out[k] = toJsonSchema(v);
  }
  const ext = node['x-ms-enum'] as { modelAsString?: boolean } | undefined;
  if (Array.isArray(node.enum) && ext?.modelAsString !== true) out['x-enum-ci'] = node.enum;
  if (node['x-nullable'] === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

function dotted(instancePath: string): string {
  return instancePath
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`), '');
}

function describe(e: ErrorObject): SpecViolation {
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    const base = dotted(e.instancePath);
    const path = base === '' ? missing : `${base}.${missing}`;
    return { kind: 'missing', path, property: missing, message: `The property '${path}' is required.` };
  }
  const path = dotted(e.instancePath);
  const property = path.split(/[.[]/).pop() ?? '';
  const where = path === '' ? 'The request body' : `The value of '${path}'`;
  if (e.keyword === 'x-enum-ci') {
    const allowed = (e.params as { allowed?: unknown[] }).allowed ?? [];
    return {
      kind: 'invalid',
      path,
      property,
      message: `${where} must be one of ${allowed.map(String).join(', ')}.`,
    };
  }
  return {
    kind: 'invalid',
    path,
    property,
    message: `${where} is invalid: it ${e.message ?? 'does not match the schema'}.`,
  };
}

/** Validates bodies against definitions in the official swagger files under `specsRoot/specification`. */
export class SpecValidator {
  private readonly root: string;
  private readonly ajv: Ajv;
  private readonly loaded = new Set<string>();
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(specsRoot: string) {
    this.root = join(resolve(specsRoot), 'specification');
    this.ajv = new Ajv({
      strict: false,
      allErrors: true,
      validateSchema: false,
      validateFormats: false,
      logger: false,
    });
    this.ajv.addKeyword({
      keyword: 'x-enum-ci',
      type: 'string',
      errors: true,
      validate: function check(this: unknown, allowed: unknown[], data: string) {
        const ok = allowed.some((a) => typeof a === 'string' && a.toLowerCase() === data.toLowerCase());
        if (!ok)
          (check as unknown as { errors: Partial<ErrorObject>[] }).errors = [
            { keyword: 'x-enum-ci', params: { allowed } },
          ];
        return ok;
      },
    });
  }

  private load(absFile: string): void {
    if (this.loaded.has(absFile)) return;
    const doc = JSON.parse(readFileSync(absFile, 'utf8')) as Json;
    const id = pathToFileURL(absFile).href;
    this.ajv.addSchema({ ...(toJsonSchema(doc) as Record<string, Json>), $id: id });
    this.loaded.add(absFile);
  }

  private compile(specFile: string, definition: string): ValidateFunction {
    const key = `${specFile}#${definition}`;
    const cached = this.compiled.get(key);
    if (cached) return cached;
    const abs = join(this.root, specFile);
    if (relative(this.root, abs).startsWith('..')) throw new Error(`spec file outside specs: ${specFile}`);
    this.load(abs);
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        const fn = this.ajv.compile({ $ref: `${pathToFileURL(abs).href}#/definitions/${definition}` });
        this.compiled.set(key, fn);
        return fn;
      } catch (err) {
        const missing = (err as { missingSchema?: string }).missingSchema;
        if (missing === undefined || !missing.startsWith('file:')) throw err;
        this.load(fileURLToPath(missing.split('#')[0] ?? missing));
      }
    }
    throw new Error(`too many referenced files compiling ${key}`);
  }

  /** The most useful violation (a missing property first), or undefined when the body is valid. */
  validate(specFile: string, definition: string, body: unknown): SpecViolation | undefined {
    const fn = this.compile(specFile, definition);
    if (fn(body)) return undefined;
    const errors = (fn.errors ?? []).filter((e) => !['anyOf', 'oneOf', 'allOf', 'if'].includes(e.keyword));
    const first = errors.find((e) => e.keyword === 'required') ?? errors[0];
    return first
      ? describe(first)
      : { kind: 'invalid', path: '', property: '', message: 'The request body does not match the schema.' };
  }
}
