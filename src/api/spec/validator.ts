import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { ENUM_KEYWORD, convertDefinitions, isObject, type Direction, type Json } from './swagger.ts';
import { toViolation, type SpecViolation } from './violations.ts';

export type { SpecViolation } from './violations.ts';

/** A loaded swagger file: the names of its definitions (ajv holds the converted schemas). */
interface LoadedSpec {
  url: string;
  definitions: ReadonlySet<string>;
  /** The converted definitions, for their property names. */
  schemas: Record<string, Json>;
}

type Compiled = { validate: ValidateFunction } | { violation: SpecViolation };

/**
 * Validates request bodies against definitions of the official swagger 2.0 files under
 * `<specsRoot>/specification/`. Swagger files are read lazily, once, together with the files their
 * definitions `$ref` (transitively); each `(file, definition)` pair is compiled once and cached.
 *
 * Rules (see swagger.ts for the schema rewrite):
 * - unknown properties are allowed unless the spec sets `additionalProperties` explicitly;
 * - read-only properties (`readOnly: true`, `x-ms-mutability: ["read"]`) are accepted with any value and are
 *   never required;
 * - enums with `x-ms-enum.modelAsString: true` accept any string; other string enums are enforced
 *   case-insensitively (`batchservice` matches `BatchService`);
 * - a property whose value is `null` counts as absent (clients send nulls for unset fields), so a required
 *   property set to null is reported as missing; `null` array items are only accepted where `x-nullable`;
 * - types, `required` (also inside `allOf`), numeric/length/item bounds and patterns are enforced; `format`,
 *   `discriminator` and `x-ms-*` extensions are ignored; no type coercion (`"5"` is not an integer).
 */
export class SpecValidator {
  private readonly root: string;
  private readonly direction: Direction;
  private readonly ajv: Ajv;
  private readonly specs = new Map<string, LoadedSpec | undefined>();
  private readonly compiled = new Map<string, Compiled>();
  private readonly operations = new Map<string, { pattern: RegExp; verbs: string[] }[]>();

  /**
   * @param specsRoot absolute path of the `specs/` folder (the one containing `specification/`).
   * @param direction `response` checks read-only properties too and also registers every operation's response
   *   schemas as definitions named by `responseDefinition` (swagger.ts); the default checks request bodies.
   */
  constructor(specsRoot: string, direction: Direction = 'request') {
    this.direction = direction;
    this.root = join(resolve(specsRoot), 'specification');
    this.ajv = new Ajv({
      strict: false,
      allErrors: true,
      verbose: true,
      validateSchema: false,
      validateFormats: false,
      addUsedSchema: false,
      logger: false,
    });
    this.ajv.addKeyword({
      keyword: ENUM_KEYWORD,
      type: 'string',
      schemaType: 'array',
      compile: (allowed: unknown) => {
        const values = new Set((Array.isArray(allowed) ? allowed : []).map((v) => String(v).toLowerCase()));
        return (data: unknown) => typeof data !== 'string' || values.has(data.toLowerCase());
      },
    });
  }

  /**
   * Validates `body` against definition `definition` of swagger file `specFile` (path relative to
   * `specs/specification/`). Returns the most useful violation — a missing property first — or undefined when
   * the body is valid. A spec file or definition that does not exist yields kind `unknown-type` (a server-side
   * mistake: map it to a 500, not a 400).
   */
  validate(specFile: string, definition: string, body: unknown): SpecViolation | undefined {
    const compiled = this.compile(specFile, definition);
    if ('violation' in compiled) return compiled.violation;
    if (compiled.validate(withoutNullProperties(body))) return undefined;
    return toViolation(compiled.validate.errors ?? []);
  }

  /**
   * The verbs (upper case) a swagger file's `paths` serve at a concrete request path, from the first path template
   * that matches it (`{param}` is one segment; a `{...Path}` parameter, such as `filePath`, may span several); an
   * empty list when no template matches or the file does not exist.
   */
  operationVerbs(specFile: string, path: string): string[] {
    let operations = this.operations.get(specFile);
    if (operations === undefined) {
      operations = readOperations(resolve(this.root, specFile));
      this.operations.set(specFile, operations);
    }
    return operations.find((o) => o.pattern.test(path))?.verbs ?? [];
  }

  /**
   * The names of a definition's own top-level properties (what `$select` may name), or an empty list when the
   * file or definition does not exist.
   */
  propertyNames(specFile: string, definition: string): string[] {
    const spec = this.load(resolve(this.root, specFile));
    const schema = spec?.schemas[definition];
    const properties = isObject(schema) ? schema.properties : undefined;
    return isObject(properties) ? Object.keys(properties) : [];
  }

  private compile(specFile: string, definition: string): Compiled {
    const key = `${specFile}#${definition}`;
    let compiled = this.compiled.get(key);
    if (compiled === undefined) {
      compiled = this.compileUncached(specFile, definition);
      this.compiled.set(key, compiled);
    }
    return compiled;
  }

  private compileUncached(specFile: string, definition: string): Compiled {
    const abs = resolve(this.root, specFile);
    const rel = relative(this.root, abs);
    if (rel.startsWith('..') || isAbsolute(rel))
      throw new Error(`spec file outside ${this.root}: ${specFile}`);
    const spec = this.load(abs);
    if (spec?.definitions.has(definition) !== true) {
      const message =
        spec === undefined
          ? `The spec file '${specFile}' does not exist.`
          : `The spec file '${specFile}' has no definition '${definition}'.`;
      return { violation: { kind: 'unknown-type', path: '', property: '', message } };
    }
    try {
      return {
        validate: this.ajv.compile({ $ref: `${spec.url}#/definitions/${pointerSegment(definition)}` }),
      };
    } catch (err) {
      const missing = (err as { missingSchema?: unknown }).missingSchema;
      const detail = typeof missing === 'string' ? `references missing ${missing}` : String(err);
      throw new Error(`cannot compile ${specFile}#/definitions/${definition}: ${detail}`, { cause: err });
    }
  }

  /** Reads, converts and registers a swagger file and (transitively) the files its definitions reference. */
  private load(abs: string): LoadedSpec | undefined {
    if (this.specs.has(abs)) return this.specs.get(abs);
    if (!existsSync(abs)) {
      this.specs.set(abs, undefined);
      return undefined;
    }
    const { definitions, files } = convertDefinitions(
      JSON.parse(readFileSync(abs, 'utf8')) as Json,
      this.direction,
    );
    const url = pathToFileURL(abs).href;
    this.ajv.addSchema({ $id: url, definitions });
    const spec: LoadedSpec = { url, definitions: new Set(Object.keys(definitions)), schemas: definitions };
    this.specs.set(abs, spec);
    // A file that is missing only matters if a compiled definition reaches it; ajv then reports it.
    for (const file of files) this.load(resolve(dirname(abs), decodeURIComponent(file)));
    return spec;
  }
}

/** A swagger file's `paths` as patterns over concrete request paths, with the verbs each serves. */
function readOperations(abs: string): { pattern: RegExp; verbs: string[] }[] {
  if (!existsSync(abs)) return [];
  const paths = (JSON.parse(readFileSync(abs, 'utf8')) as { paths?: Record<string, Record<string, unknown>> })
    .paths;
  return Object.entries(paths ?? {}).map(([template, ops]) => {
    const source = template
      .split(/(\{[^}]+\})/)
      .map((part) =>
        part.startsWith('{')
          ? /path\}$/i.test(part)
            ? '.+'
            : '[^/]+'
          : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('');
    return { pattern: new RegExp(`^${source}/?$`, 'i'), verbs: Object.keys(ops).map((v) => v.toUpperCase()) };
  });
}

/** One JSON-pointer segment, escaped for use in a URI fragment. */
function pointerSegment(name: string): string {
  return encodeURIComponent(name.replace(/~/g, '~0').replace(/\//g, '~1'));
}

/** A copy of `value` in which object properties set to `null` are gone (array items are kept as they are). */
function withoutNullProperties(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNullProperties);
  if (!isObject(value)) return value;
  // fromEntries defines own properties, so a `__proto__` key stays data and never becomes a prototype.
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, item]) => item !== null)
      .map(([key, item]) => [key, withoutNullProperties(item)]),
  );
}
