import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isObject, responseDefinition, type Json } from './swagger.ts';
import { SpecValidator } from './validator.ts';

/** A response the server sent that its swagger operation does not allow. */
export interface ResponseViolation {
  /** `operationId` of the swagger operation, e.g. `Pool_List`. */
  operation: string;
  method: string;
  /** Request path without the query. */
  path: string;
  status: number;
  /** Spec file (under specs/specification/) the operation was taken from. */
  specFile: string;
  /** ajv's finding, phrased with the body path (`value[0].state must be one of …`), or the status problem. */
  message: string;
}

interface Operation {
  specFile: string;
  /** The api-version folder the file lives in (`2024-02-01.19.0`, `2023-11-01`). */
  version: string;
  dataPlane: boolean;
  template: string;
  pattern: RegExp;
  /** Literal characters in the template: the more, the more specific the match. */
  specificity: number;
  verb: string;
  operationId: string;
  /** Response status (`200`, `default`) → has a schema. */
  responses: Map<string, boolean>;
}

/** Path parameters whose values are several segments (`x-ms-skip-url-encoding` ids and paths). */
const MULTI_SEGMENT =
  /^\{(scope|parentResourcePath|filePath|resourceId|roleId|roleAssignmentId|denyAssignmentId)\}$/i;

/**
 * Checks the JSON bodies and statuses the server answers against the response schemas of the swagger operation
 * each request matches (ADR 0032). A test hook: main.ts builds one only when `checkResponses` is on.
 *
 * The operation is found by verb and path among the spec files of the request's surface (`/batch/{account}`
 * prefix dropped for the data plane), in the file whose version folder is the request's `api-version`, else the
 * newest one not newer than it, else the oldest. A status the operation does not list (and that `default` does
 * not cover, as it covers errors) is a violation; a listed status with a schema has its body validated.
 */
export class ResponseChecker {
  private readonly validator: SpecValidator;
  private readonly operations: Operation[];

  constructor(specsRoot: string) {
    this.validator = new SpecValidator(specsRoot, 'response');
    this.operations = indexOperations(join(specsRoot, 'specification'));
  }

  check(method: string, url: string, status: number, body: unknown): ResponseViolation | undefined {
    const [rawPath = '/', query = ''] = url.split('?', 2);
    const batchPrefix = /^\/batch\/[^/]+(?=\/|$)/i;
    const dataPlane = batchPrefix.test(rawPath) || this.isDataPlaneRoot(rawPath);
    const path = rawPath.replace(batchPrefix, '') || '/';
    const op = this.operationFor(method, path, dataPlane, new URLSearchParams(query).get('api-version'));
    if (op === undefined) return undefined;
    const violation = (message: string): ResponseViolation => ({
      operation: op.operationId,
      method: method.toUpperCase(),
      path: rawPath,
      status,
      specFile: op.specFile,
      message,
    });
    const key = op.responses.has(String(status))
      ? String(status)
      : status >= 400 && op.responses.has('default')
        ? 'default'
        : undefined;
    // Some files (DiskRP 2022-03-02) list no error response at all, though the service answers CloudError.
    if (key === undefined && status >= 400 && !op.responses.has('default')) return undefined;
    if (key === undefined)
      return violation(
        `status ${String(status)} is not one of the operation's responses (${[...op.responses.keys()].join(', ')})`,
      );
    if (op.responses.get(key) !== true || body === undefined) return undefined;
    const found = this.validator.validate(op.specFile, responseDefinition(op.verb, op.template, key), body);
    // `$select` answers only the properties asked for: a required one left out is what the client wanted.
    if (found?.kind === 'missing' && /(^|&)%24select=|(^|&)\$select=/i.test(query)) return undefined;
    return found === undefined ? undefined : violation(found.message);
  }

  private isDataPlaneRoot(path: string): boolean {
    return this.operations.some((o) => o.dataPlane && o.pattern.test(path));
  }

  private operationFor(
    method: string,
    path: string,
    dataPlane: boolean,
    apiVersion: string | null,
  ): Operation | undefined {
    const verb = method.toLowerCase();
    const matches = this.operations.filter(
      (o) => o.dataPlane === dataPlane && o.verb === verb && o.pattern.test(path),
    );
    if (matches.length === 0) return undefined;
    const versions = [...new Set(matches.map((o) => o.version))].sort();
    const wanted = apiVersion ?? '';
    const version =
      versions.find((v) => v === wanted) ?? versions.filter((v) => v <= wanted).at(-1) ?? versions[0] ?? '';
    return matches.filter((o) => o.version === version).sort((a, b) => b.specificity - a.specificity)[0];
  }
}

/** Every operation of every swagger file under `specification/` (examples excluded). */
function indexOperations(root: string): Operation[] {
  const out: Operation[] = [];
  for (const abs of swaggerFiles(root)) {
    const doc = JSON.parse(readFileSync(abs, 'utf8')) as Json;
    if (!isObject(doc)) continue;
    const specFile = relative(root, abs);
    const version = specFile.split('/').at(-2) ?? '';
    for (const paths of [doc.paths, doc['x-ms-paths']]) {
      if (!isObject(paths)) continue;
      for (const [template, operations] of Object.entries(paths)) {
        if (!isObject(operations)) continue;
        if (isGeneric(template)) continue;
        for (const [verb, operation] of Object.entries(operations)) {
          if (!isObject(operation) || !isObject(operation.responses)) continue;
          out.push({
            specFile,
            version,
            dataPlane: specFile.includes('/data-plane/'),
            template,
            pattern: templatePattern(template),
            specificity: template.replace(/\{[^}]+\}/g, '').length,
            verb,
            operationId: typeof operation.operationId === 'string' ? operation.operationId : template,
            responses: new Map(
              Object.entries(operation.responses).map(([s, r]) => [s, isObject(r) && r.schema !== undefined]),
            ),
          });
        }
      }
    }
  }
  return out;
}

/**
 * `/{resourceId}`, `/{roleId}` and Microsoft.Resources' `…/{parentResourcePath}/{resourceType}/{resourceName}`:
 * generic by-id operations that would match any resource path, though ARM routes such a path to its provider.
 */
function isGeneric(template: string): boolean {
  const path = template.split('?')[0] ?? '';
  return !/[a-z]/i.test(path.replace(/\{[^}]+\}/g, '')) || path.includes('{resourceType}');
}

function swaggerFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return e.name === 'examples' ? [] : swaggerFiles(join(dir, e.name));
    return e.name.endsWith('.json') ? [join(dir, e.name)] : [];
  });
}

/** `/pools/{poolId}/nodes` → a case-insensitive pattern over request paths (query part of x-ms-paths dropped). */
function templatePattern(template: string): RegExp {
  const source = (template.split('?')[0] ?? '')
    .split(/(\{[^}]+\})/)
    .map((part) =>
      part.startsWith('{')
        ? MULTI_SEGMENT.test(part)
          ? '.+'
          : '[^/]+'
        : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}/?$`, 'i');
}
