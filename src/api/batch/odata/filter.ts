// Batch `$filter`: a small OData subset parsed against the properties a list operation allows.
import { FilterError } from './errors.ts';
import { syntaxError, tokenize, type Token } from './filter-lexer.ts';

export { FilterError } from './errors.ts';

/**
 * Filterable properties keyed by path (`executionInfo/exitCode`), matched case-insensitively; the key's
 * spelling is the one read from entities. 'enum' compares strings case-insensitively, 'string' exactly,
 * 'date' as instants.
 */
export type FilterSchema = Record<string, 'string' | 'number' | 'boolean' | 'date' | 'enum'>;
export type FilterValueType = FilterSchema[string];
export type FilterOp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
/** A parsed literal; dates are epoch milliseconds. */
export type FilterLiteral = string | number | boolean | null;

export type FilterExpr =
  | { kind: 'and' | 'or'; left: FilterExpr; right: FilterExpr }
  | { kind: 'not'; inner: FilterExpr }
  | { kind: 'cmp'; path: string[]; type: FilterValueType; op: FilterOp; value: FilterLiteral }
  | { kind: 'startswith'; path: string[]; type: FilterValueType; prefix: string; expect: boolean };

/** Longest filter accepted, in UTF-8 bytes. */
export const MAX_FILTER_BYTES = 4096;
/** Deepest nesting of parentheses and `not` accepted. */
export const MAX_FILTER_DEPTH = 32;

const OPS: ReadonlySet<string> = new Set<FilterOp>(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const KEYWORDS = new Set(['and', 'or', 'not', 'true', 'false', 'null', 'eq', 'ne', 'gt', 'ge', 'lt', 'le']);

interface Property {
  path: string[];
  type: FilterValueType;
  name: string;
}

const describe = (t: Token): string =>
  t.kind === 'string' ? `'${t.text}'` : t.kind === 'datetime' ? `datetime'${t.text}'` : t.text;

const ISO_DATE =
  /^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?)?([Zz]|[+-]\d{2}:?\d{2})?$/;

/** Epoch milliseconds of an ISO 8601 date or date-time (UTC unless an offset is given), else undefined. */
export function parseIsoDate(text: string): number | undefined {
  const m = ISO_DATE.exec(text.trim());
  if (!m) return undefined;
  const [, date = '', time, fraction, zone] = m;
  const iso =
    time === undefined
      ? `${date}T00:00:00Z`
      : `${date}T${time}${fraction === undefined ? '' : `.${fraction.slice(0, 3)}`}${zone ?? 'Z'}`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

function literal(t: Token, prop: Property): FilterLiteral {
  const word = t.kind === 'ident' ? t.text.toLowerCase() : '';
  if (word === 'null') return null;
  const isBool = word === 'true' || word === 'false';
  if (t.kind === 'punct' || (t.kind === 'ident' && !isBool)) return syntaxError(t.pos, 'expected a literal.');
  const mismatch = (): never => {
    throw new FilterError(
      `The value ${describe(t)} at position ${t.pos} cannot be compared with the property '${prop.name}', ` +
        `which holds ${prop.type === 'enum' ? 'an enum' : `a ${prop.type}`} value.`,
    );
  };
  switch (prop.type) {
    case 'string':
    case 'enum':
      return t.kind === 'string' ? t.text : mismatch();
    case 'number':
      return t.kind === 'number' ? Number(t.text) : mismatch();
    case 'boolean':
      return isBool ? word === 'true' : mismatch();
    case 'date': {
      if (t.kind !== 'string' && t.kind !== 'datetime') return mismatch();
      const ms = parseIsoDate(t.text);
      if (ms === undefined) {
        throw new FilterError(`The value ${describe(t)} at position ${t.pos} is not a valid datetime.`);
      }
      return ms;
    }
  }
}

class Parser {
  private readonly tokens: Token[];
  private readonly schema: Map<string, Property>;
  private i = 0;
  private depth = 0;

  constructor(tokens: Token[], schema: FilterSchema) {
    this.tokens = tokens;
    this.schema = new Map(
      Object.entries(schema).map(([key, type]) => [
        key.toLowerCase(),
        { path: key.split('/'), type, name: key },
      ]),
    );
  }

  parse(): FilterExpr {
    const expr = this.or();
    const extra = this.peek();
    if (extra) syntaxError(extra.pos, `unexpected ${describe(extra)}.`);
    return expr;
  }

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }

  private next(expected: string): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new FilterError(`Syntax error at the end of the filter: expected ${expected}.`);
    return t;
  }

  private isWord(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.kind === 'ident' && t.text.toLowerCase() === word;
  }

  private isPunct(p: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.kind === 'punct' && t.text === p;
  }

  private expectPunct(p: string): void {
    const t = this.next(`'${p}'`);
    if (t.kind !== 'punct' || t.text !== p) syntaxError(t.pos, `expected '${p}'.`);
  }

  private or(): FilterExpr {
    let left = this.and();
    while (this.isWord('or')) {
      this.i++;
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): FilterExpr {
    let left = this.unary();
    while (this.isWord('and')) {
      this.i++;
      left = { kind: 'and', left, right: this.unary() };
    }
    return left;
  }

  private unary(): FilterExpr {
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw new FilterError(`The filter is nested more than ${MAX_FILTER_DEPTH} levels deep.`);
    }
    try {
      if (this.isWord('not')) {
        this.i++;
        return { kind: 'not', inner: this.unary() };
      }
      if (this.isPunct('(')) {
        this.i++;
        const inner = this.or();
        this.expectPunct(')');
        return inner;
      }
      if (this.isWord('startswith') && this.isPunct('(', 1)) return this.startsWith();
      return this.comparison();
    } finally {
      this.depth--;
    }
  }

  private property(): Property {
    const t = this.next('a property name');
    if (t.kind !== 'ident' || KEYWORDS.has(t.text.toLowerCase())) {
      return syntaxError(t.pos, 'expected a property name.');
    }
    if (this.isPunct('(')) throw new FilterError(`The function '${t.text}' is not supported in a filter.`);
    const prop = this.schema.get(t.text.toLowerCase());
    if (!prop) throw new FilterError(`The property '${t.text}' cannot be used in a filter.`);
    return prop;
  }

  /** `startswith(path,'prefix')`, optionally followed by `eq|ne true|false`. */
  private startsWith(): FilterExpr {
    this.i++;
    this.expectPunct('(');
    const prop = this.property();
    if (prop.type !== 'string' && prop.type !== 'enum') {
      throw new FilterError(`startswith cannot be used with the property '${prop.name}' (${prop.type}).`);
    }
    this.expectPunct(',');
    const lit = this.next('a string literal');
    if (lit.kind !== 'string') syntaxError(lit.pos, 'expected a string literal.');
    this.expectPunct(')');
    return {
      kind: 'startswith',
      path: prop.path,
      type: prop.type,
      prefix: lit.text,
      expect: this.boolSuffix(),
    };
  }

  /** The optional `eq true`/`ne false`… after a boolean-valued term; returns the value it must have. */
  private boolSuffix(): boolean {
    if (!this.isWord('eq') && !this.isWord('ne')) return true;
    const negate = this.next('eq').text.toLowerCase() === 'ne';
    const b = this.next('true or false');
    const word = b.kind === 'ident' ? b.text.toLowerCase() : '';
    if (word !== 'true' && word !== 'false') syntaxError(b.pos, 'expected true or false.');
    return (word === 'true') !== negate;
  }

  private comparison(): FilterExpr {
    const prop = this.property();
    const opTok = this.peek();
    const op = opTok?.kind === 'ident' ? opTok.text.toLowerCase() : '';
    if (!OPS.has(op) && prop.type === 'boolean') {
      // A bare boolean property is a predicate on its own: `isDedicated`, `not isDedicated`.
      return { kind: 'cmp', path: prop.path, type: prop.type, op: 'eq', value: true };
    }
    this.next('a comparison operator (eq, ne, gt, ge, lt, le)');
    if (!opTok || !OPS.has(op))
      return syntaxError(opTok?.pos ?? 0, 'expected one of eq, ne, gt, ge, lt, le.');
    const value = literal(this.next('a literal'), prop);
    return { kind: 'cmp', path: prop.path, type: prop.type, op: op as FilterOp, value };
  }
}

/**
 * Parses an OData `$filter` over the properties in `allowed`. Throws FilterError (a QueryError for
 * `$filter`) for syntax errors, unknown properties, type mismatches, text over 4 KB or nesting over 32.
 */
export function parseFilter(text: string, allowed: FilterSchema): FilterExpr {
  if (text.length > MAX_FILTER_BYTES || Buffer.byteLength(text, 'utf8') > MAX_FILTER_BYTES) {
    throw new FilterError(`The filter is longer than ${MAX_FILTER_BYTES} bytes.`);
  }
  const tokens = tokenize(text);
  if (tokens.length === 0) throw new FilterError('The filter is empty.');
  return new Parser(tokens, allowed).parse();
}

function read(entity: unknown, path: readonly string[]): unknown {
  let cur = entity;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** The entity's value in the literal's terms; absent or ill-typed values are null. */
function normalize(value: unknown, type: FilterValueType): FilterLiteral {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : null;
    case 'enum':
      return typeof value === 'string' ? value.toLowerCase() : null;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date':
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.getTime();
      return typeof value === 'string' ? (parseIsoDate(value) ?? null) : null;
  }
}

function compare(actual: FilterLiteral, op: FilterOp, wanted: FilterLiteral): boolean {
  if (op === 'eq') return actual === wanted;
  if (op === 'ne') return actual !== wanted;
  // Ordering against null (or across types) is never true, as in OData.
  if (actual === null || wanted === null || typeof actual !== typeof wanted) return false;
  switch (op) {
    case 'gt':
      return actual > wanted;
    case 'ge':
      return actual >= wanted;
    case 'lt':
      return actual < wanted;
    case 'le':
      return actual <= wanted;
  }
}

/** Whether `entity` matches; reads nested values by the schema key's path segments. */
export function evaluateFilter(expr: FilterExpr, entity: unknown): boolean {
  switch (expr.kind) {
    case 'and':
      return evaluateFilter(expr.left, entity) && evaluateFilter(expr.right, entity);
    case 'or':
      return evaluateFilter(expr.left, entity) || evaluateFilter(expr.right, entity);
    case 'not':
      return !evaluateFilter(expr.inner, entity);
    case 'startswith': {
      const v = normalize(read(entity, expr.path), expr.type);
      const prefix = expr.type === 'enum' ? expr.prefix.toLowerCase() : expr.prefix;
      return (typeof v === 'string' && v.startsWith(prefix)) === expr.expect;
    }
    case 'cmp': {
      const wanted =
        expr.type === 'enum' && typeof expr.value === 'string' ? expr.value.toLowerCase() : expr.value;
      return compare(normalize(read(entity, expr.path), expr.type), expr.op, wanted);
    }
  }
}
