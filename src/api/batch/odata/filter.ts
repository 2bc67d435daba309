import { QueryError } from './errors.ts';

/** Filterable properties by path (`executionInfo/exitCode`), with how their values compare. */
export type FilterSchema = Record<string, 'string' | 'number' | 'boolean' | 'date' | 'enum'>;
type ValueType = FilterSchema[string];
type Op = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
type Literal = string | number | boolean | null;

export type FilterExpr =
  | { kind: 'and' | 'or'; left: FilterExpr; right: FilterExpr }
  | { kind: 'not'; inner: FilterExpr }
  | { kind: 'cmp'; path: string[]; type: ValueType; op: Op; value: Literal }
  | { kind: 'startswith'; path: string[]; prefix: string; expect: boolean };

interface Token {
  kind: 'ident' | 'string' | 'number' | 'punct';
  text: string;
  pos: number;
}

const MAX_LENGTH = 4096;
const MAX_DEPTH = 32;
const OPS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);

const fail = (reason: string): never => {
  throw new QueryError('$filter', reason);
};

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (/\s/.test(ch)) {
      i++;
    } else if ('(),'.includes(ch)) {
      tokens.push({ kind: 'punct', text: ch, pos: i++ });
    } else if (ch === "'") {
      const start = i++;
      let value = '';
      for (;;) {
        if (i >= text.length) fail(`Syntax error at position ${start}: unterminated string.`);
        if (text[i] === "'" && text[i + 1] === "'") {
          value += "'";
          i += 2;
        } else if (text[i] === "'") {
          i++;
          break;
        } else value += text[i++] ?? '';
      }
      tokens.push({ kind: 'string', text: value, pos: start });
    } else if (/[-\d]/.test(ch)) {
      const m = /^-?\d+(\.\d+)?/.exec(text.slice(i));
      if (!m) fail(`Syntax error at position ${i}: unexpected '${ch}'.`);
      tokens.push({ kind: 'number', text: m?.[0] ?? '', pos: i });
      i += m?.[0].length ?? 1;
    } else if (/[A-Za-z_$]/.test(ch)) {
      const m = /^[A-Za-z_$][\w$/]*/.exec(text.slice(i));
      const word = m?.[0] ?? ch;
      if (word.toLowerCase() === 'datetime' && text[i + word.length] === "'") {
        i += word.length;
        continue; // the quoted literal that follows is read as a string and compared as a date
      }
      tokens.push({ kind: 'ident', text: word, pos: i });
      i += word.length;
    } else {
      fail(`Syntax error at position ${i}: unexpected '${ch}'.`);
    }
  }
  return tokens;
}

class Parser {
  private readonly tokens: Token[];
  private readonly schema: Map<string, { key: string; type: ValueType }>;
  private i = 0;
  private depth = 0;
  constructor(tokens: Token[], schema: FilterSchema) {
    this.tokens = tokens;
    this.schema = new Map(Object.entries(schema).map(([k, t]) => [k.toLowerCase(), { key: k, type: t }]));
  }
  private peek(): Token | undefined {
    return this.tokens[this.i];
  }
  private next(expected: string): Token {
    const t = this.tokens[this.i++];
    if (!t) return fail(`Syntax error at the end of the filter: expected ${expected}.`);
    return t;
  }
  private isWord(word: string): boolean {
    const t = this.peek();
    return t?.kind === 'ident' && t.text.toLowerCase() === word;
  }
  private expectPunct(p: string): void {
    const t = this.next(`'${p}'`);
    if (t.kind !== 'punct' || t.text !== p) fail(`Syntax error at position ${t.pos}: expected '${p}'.`);
  }
  parse(): FilterExpr {
    const expr = this.or();
    const extra = this.peek();
    if (extra) fail(`Syntax error at position ${extra.pos}: unexpected '${extra.text}'.`);
    return expr;
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
    if (++this.depth > MAX_DEPTH) fail('The filter is nested too deeply.');
    try {
      if (this.isWord('not')) {
        this.i++;
        return { kind: 'not', inner: this.unary() };
      }
      const t = this.peek();
      if (t?.kind === 'punct' && t.text === '(') {
        this.i++;
        const inner = this.or();
        this.expectPunct(')');
        return inner;
      }
      if (this.isWord('startswith')) return this.startsWith();
      return this.comparison();
    } finally {
      this.depth--;
    }
  }
  private property(): { path: string[]; type: ValueType; name: string } {
    const t = this.next('a property name');
    if (t.kind !== 'ident') fail(`Syntax error at position ${t.pos}: expected a property name.`);
    const entry = this.schema.get(t.text.toLowerCase());
    if (!entry) return fail(`The property '${t.text}' cannot be used in a filter.`);
    return { path: entry.key.split('/'), type: entry.type, name: entry.key };
  }
  private startsWith(): FilterExpr {
    this.i++;
    this.expectPunct('(');
    const prop = this.property();
    if (prop.type !== 'string' && prop.type !== 'enum')
      fail(`startswith needs a string property, not '${prop.name}'.`);
    this.expectPunct(',');
    const lit = this.next('a string literal');
    if (lit.kind !== 'string') fail(`Syntax error at position ${lit.pos}: expected a string literal.`);
    this.expectPunct(')');
    let expect = true;
    if (this.isWord('eq') || this.isWord('ne')) {
      const negate = this.next('eq').text.toLowerCase() === 'ne';
      const b = this.next('true or false');
      if (b.kind !== 'ident' || !['true', 'false'].includes(b.text.toLowerCase()))
        fail(`Syntax error at position ${b.pos}: expected true or false.`);
      expect = (b.text.toLowerCase() === 'true') !== negate;
    }
    return { kind: 'startswith', path: prop.path, prefix: lit.text, expect };
  }
  private comparison(): FilterExpr {
    const prop = this.property();
    const opTok = this.next('an operator');
    const op = opTok.text.toLowerCase();
    if (opTok.kind !== 'ident' || !OPS.has(op))
      fail(`Syntax error at position ${opTok.pos}: expected one of eq, ne, gt, ge, lt, le.`);
    const lit = this.next('a literal');
    return {
      kind: 'cmp',
      path: prop.path,
      type: prop.type,
      op: op as Op,
      value: literal(lit, prop.type, prop.name),
    };
  }
}

function literal(t: Token, type: ValueType, name: string): Literal {
  if (t.kind === 'ident' && t.text.toLowerCase() === 'null') return null;
  const mismatch = () => fail(`The value '${t.text}' does not match the type of '${name}' (${type}).`);
  switch (type) {
    case 'string':
    case 'enum':
      return t.kind === 'string' ? t.text : mismatch();
    case 'number':
      return t.kind === 'number' ? Number(t.text) : mismatch();
    case 'boolean':
      return t.kind === 'ident' && ['true', 'false'].includes(t.text.toLowerCase())
        ? t.text.toLowerCase() === 'true'
        : mismatch();
    case 'date': {
      const ms = t.kind === 'string' ? Date.parse(t.text) : NaN;
      return Number.isNaN(ms) ? mismatch() : ms;
    }
  }
}

/** Parses an OData `$filter` over the given properties; throws QueryError naming what is wrong. */
export function parseFilter(text: string, schema: FilterSchema): FilterExpr {
  if (text.length > MAX_LENGTH) fail(`The filter is longer than ${MAX_LENGTH} characters.`);
  const tokens = tokenize(text);
  if (tokens.length === 0) fail('The filter is empty.');
  return new Parser(tokens, schema).parse();
}

function read(entity: unknown, path: string[]): unknown {
  let cur = entity;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function normalize(value: unknown, type: ValueType): Literal {
  if (value === undefined || value === null) return null;
  if (type === 'date')
    return typeof value === 'string' || value instanceof Date ? new Date(value).getTime() : null;
  if (type === 'enum' && typeof value === 'string') return value.toLowerCase();
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : null;
}

function compare(actual: Literal, op: Op, wanted: Literal): boolean {
  if (op === 'eq') return actual === wanted;
  if (op === 'ne') return actual !== wanted;
  if (actual === null || wanted === null) return false;
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

export function evaluateFilter(expr: FilterExpr, entity: unknown): boolean {
  switch (expr.kind) {
    case 'and':
      return evaluateFilter(expr.left, entity) && evaluateFilter(expr.right, entity);
    case 'or':
      return evaluateFilter(expr.left, entity) || evaluateFilter(expr.right, entity);
    case 'not':
      return !evaluateFilter(expr.inner, entity);
    case 'startswith': {
      const v = read(entity, expr.path);
      return (typeof v === 'string' && v.startsWith(expr.prefix)) === expr.expect;
    }
    case 'cmp': {
      const wanted =
        expr.type === 'enum' && typeof expr.value === 'string' ? expr.value.toLowerCase() : expr.value;
      return compare(normalize(read(entity, expr.path), expr.type), expr.op, wanted);
    }
  }
}
