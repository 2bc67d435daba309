import type { ErrorObject } from 'ajv';
import { ENUM_KEYWORD } from './swagger.ts';

/** The first problem found in a request body, named by its dotted path from the body root. */
export interface SpecViolation {
  /**
   * `missing`: a required property is absent (or null); `invalid`: a value has the wrong type, is not one of
   * the allowed values, breaks a bound, ...; `unknown-type`: the spec file or definition asked for does not
   * exist — a server-side mistake, not the client's.
   */
  kind: 'missing' | 'invalid' | 'unknown-type';
  /** e.g. `properties.principalId`, `value[3].id`; '' is the body itself. */
  path: string;
  /** Last segment of the path (the property name; '' for the root or an array element). */
  property: string;
  /** Human-readable, names the property and what was expected. */
  message: string;
}

const COMBINATORS = new Set(['allOf', 'anyOf', 'oneOf', 'not', 'if']);

/** Picks the most useful ajv error (a missing property first) and phrases it. */
export function toViolation(errors: readonly ErrorObject[]): SpecViolation {
  const relevant = errors.filter((e) => !COMBINATORS.has(e.keyword));
  const first = relevant.find((e) => e.keyword === 'required') ?? relevant[0] ?? errors[0];
  if (first === undefined) {
    return {
      kind: 'invalid',
      path: '',
      property: '',
      message: 'The request body does not match the schema.',
    };
  }
  return describe(first);
}

function describe(error: ErrorObject): SpecViolation {
  const params: Record<string, unknown> = error.params;
  const segments = pointerSegments(error.instancePath);
  if (error.keyword === 'required' || error.keyword === 'additionalProperties') {
    const name = String(params[error.keyword === 'required' ? 'missingProperty' : 'additionalProperty']);
    const path = dotted([...segments, name]);
    const missing = error.keyword === 'required';
    const message = missing
      ? `The property '${path}' is required.`
      : `The property '${path}' is not allowed.`;
    return { kind: missing ? 'missing' : 'invalid', path, property: name, message };
  }
  const path = dotted(segments);
  const last = segments.at(-1) ?? '';
  const property = /^\d+$/.test(last) ? '' : last;
  const subject = path === '' ? 'The request body' : `The value of '${path}'`;
  return { kind: 'invalid', path, property, message: `${subject} ${expectation(error, params)}.` };
}

function expectation(error: ErrorObject, params: Record<string, unknown>): string {
  const limit = String(params.limit);
  switch (error.keyword) {
    case 'type':
      return `must be of type ${list(params.type, ' or ')}`;
    case ENUM_KEYWORD:
      return `must be one of ${list(error.schema, ', ')}`;
    case 'enum':
      return `must be one of ${list(params.allowedValues, ', ')}`;
    case 'pattern':
      return `must match the pattern '${String(params.pattern)}'`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${COMPARISONS[String(params.comparison)] ?? String(params.comparison)} ${limit}`;
    case 'minLength':
      return `must be at least ${limit} characters long`;
    case 'maxLength':
      return `must be at most ${limit} characters long`;
    case 'minItems':
      return `must contain at least ${limit} items`;
    case 'maxItems':
      return `must contain at most ${limit} items`;
    case 'uniqueItems':
      return `must not contain duplicate items (items ${String(params.j)} and ${String(params.i)} are identical)`;
    default:
      return error.message ?? 'does not match the schema';
  }
}

const COMPARISONS: Record<string, string> = {
  '>=': 'greater than or equal to',
  '<=': 'less than or equal to',
  '>': 'greater than',
  '<': 'less than',
};

function list(value: unknown, separator: string): string {
  return Array.isArray(value) ? value.map((v) => String(v)).join(separator) : String(value);
}

/** JSON pointer (`/properties/value/3/id`) to its unescaped segments. */
function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * `properties.value[3].id`. Numeric segments are rendered as indexes (a map key that is all digits reads the
 * same way); a name that would be ambiguous in a dotted path is quoted: `tags["a.b"]`.
 */
function dotted(segments: readonly string[]): string {
  let out = '';
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) out += `[${segment}]`;
    else if (/^[^.[\]"]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}
