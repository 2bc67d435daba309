/**
 * The Batch autoscale formula language: tokens and a recursive-descent parser producing an AST.
 *
 * A formula is a list of assignments separated by `;` (the last may omit it). Service-defined variables start
 * with `$` (`$TargetDedicatedNodes`, `$ActiveTasks`, …); user variables are plain names. Expressions have
 * numbers, double-quoted strings, `+ - * /`, comparisons, `&&`, `||`, `!`, unary minus, the ternary `?:`,
 * function calls (`max(a, b)`) and method calls on sampled variables (`$ActiveTasks.GetSample(10)`).
 * `//` starts a comment that runs to the end of the line.
 */

export interface Position {
  line: number;
  col: number;
}

export type Expr =
  | { kind: 'number'; value: number; at: Position }
  | { kind: 'string'; value: string; at: Position }
  | { kind: 'var'; name: string; at: Position }
  | { kind: 'unary'; op: '-' | '!'; operand: Expr; at: Position }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; at: Position }
  | { kind: 'ternary'; test: Expr; then: Expr; otherwise: Expr; at: Position }
  | { kind: 'call'; name: string; args: Expr[]; at: Position }
  | { kind: 'method'; target: Expr; name: string; args: Expr[]; at: Position };

export type BinaryOp = '+' | '-' | '*' | '/' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';

/** A statement: an assignment, or a bare call evaluated for its effect (`stop()`); then `name` is absent. */
export interface Assignment {
  name?: string;
  value: Expr;
  at: Position;
}

/** A formula that does not parse; `at` is where the parser gave up. */
export class FormulaSyntaxError extends Error {
  readonly at: Position;
  constructor(message: string, at: Position) {
    super(`Line ${String(at.line)}, Col ${String(at.col)}: ${message}`);
    this.at = at;
  }
}

type TokenKind = 'number' | 'string' | 'name' | 'op' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  at: Position;
}

const OPERATORS = [
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '+',
  '-',
  '*',
  '/',
  '<',
  '>',
  '!',
  '?',
  ':',
  '=',
  ';',
  ',',
  '.',
  '(',
  ')',
];
const NAME_START = /[A-Za-z_$]/;
const NAME_PART = /[A-Za-z0-9_]/;
const NUMBER = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/;

/** Splits a formula into tokens, tracking line and column (1-based) for messages. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const here = (): Position => ({ line, col: i - lineStart + 1 });
  while (i < source.length) {
    const c = source.charAt(i);
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
    } else if (/\s/.test(c)) {
      i++;
    } else if (source.startsWith('//', i)) {
      while (i < source.length && source.charAt(i) !== '\n') i++;
    } else if (/[0-9.]/.test(c) && NUMBER.test(source.slice(i, i + 64))) {
      const text = NUMBER.exec(source.slice(i, i + 64))?.[0] ?? '';
      tokens.push({ kind: 'number', text, at: here() });
      i += text.length;
    } else if (c === '"') {
      const at = here();
      const end = source.indexOf('"', i + 1);
      if (end < 0 || source.slice(i, end).includes('\n'))
        throw new FormulaSyntaxError('Unterminated string.', at);
      tokens.push({ kind: 'string', text: source.slice(i + 1, end), at });
      i = end + 1;
    } else if (NAME_START.test(c)) {
      const at = here();
      let j = i + 1;
      while (j < source.length && NAME_PART.test(source.charAt(j))) j++;
      tokens.push({ kind: 'name', text: source.slice(i, j), at });
      i = j;
    } else {
      const op = OPERATORS.find((o) => source.startsWith(o, i));
      if (op === undefined) throw new FormulaSyntaxError(`Unexpected character '${c}'.`, here());
      tokens.push({ kind: 'op', text: op, at: here() });
      i += op.length;
    }
  }
  tokens.push({ kind: 'end', text: '', at: here() });
  return tokens;
}

/**
 * How deep a formula may nest parentheses, unary operators, conditionals and call arguments (the parser recurses
 * once per level), and how deep its expression tree may be in all (the evaluator recurses once per level; a long
 * chain such as `1+1+…+1` is deep too). Both keep parsing and evaluation on a bounded stack.
 */
export const MAX_NESTING = 256;
export const MAX_EXPRESSION_DEPTH = 1024;

/** Binary operators by precedence level, loosest first. */
const LEVELS: readonly (readonly BinaryOp[])[] = [
  ['||'],
  ['&&'],
  ['==', '!='],
  ['<', '<=', '>', '>='],
  ['+', '-'],
  ['*', '/'],
];

class Parser {
  private readonly tokens: Token[];
  private pos = 0;
  private nesting = 0;

  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  private peek(): Token {
    return this.tokens[this.pos] ?? (this.tokens.at(-1) as Token);
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.pos++;
    return t;
  }

  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }

  private expect(text: string): Token {
    const t = this.peek();
    if (t.kind !== 'op' || t.text !== text)
      throw new FormulaSyntaxError(`Expected '${text}' but found ${describe(t)}.`, t.at);
    return this.next();
  }

  /** Runs `parse` one nesting level deeper; past MAX_NESTING the formula is refused where it went too deep. */
  private nested<T>(parse: () => T): T {
    if (this.nesting >= MAX_NESTING)
      throw new FormulaSyntaxError(
        `The formula nests more than ${String(MAX_NESTING)} levels deep.`,
        this.peek().at,
      );
    this.nesting++;
    try {
      return parse();
    } finally {
      this.nesting--;
    }
  }

  formula(): Assignment[] {
    const statements: Assignment[] = [];
    while (this.peek().kind !== 'end') {
      if (this.isOp(';')) {
        this.next();
        continue;
      }
      statements.push(this.assignment());
      if (this.peek().kind !== 'end') this.expect(';');
    }
    if (statements.length === 0)
      throw new FormulaSyntaxError('The formula has no assignments.', this.peek().at);
    return statements;
  }

  private assignment(): Assignment {
    const t = this.next();
    if (t.kind !== 'name')
      throw new FormulaSyntaxError(`Expected a variable to assign but found ${describe(t)}.`, t.at);
    if (this.isOp('('))
      return { value: { kind: 'call', name: t.text, args: this.args(), at: t.at }, at: t.at };
    this.expect('=');
    return { name: t.text, value: this.expression(), at: t.at };
  }

  private expression(): Expr {
    return this.nested(() => this.conditional());
  }

  private conditional(): Expr {
    const test = this.binary(0);
    if (!this.isOp('?')) return test;
    const at = this.next().at;
    const then = this.expression();
    this.expect(':');
    return { kind: 'ternary', test, then, otherwise: this.expression(), at };
  }

  private binary(level: number): Expr {
    const ops = LEVELS[level];
    if (ops === undefined) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      const t = this.peek();
      const op = ops.find((o) => t.kind === 'op' && t.text === o);
      if (op === undefined) return left;
      this.next();
      left = { kind: 'binary', op, left, right: this.binary(level + 1), at: t.at };
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if (t.kind === 'op' && (t.text === '-' || t.text === '!')) {
      this.next();
      return { kind: 'unary', op: t.text, operand: this.nested(() => this.unary()), at: t.at };
    }
    return this.postfix();
  }

  private postfix(): Expr {
    let target = this.primary();
    while (this.isOp('.')) {
      this.next();
      const name = this.next();
      if (name.kind !== 'name')
        throw new FormulaSyntaxError(`Expected a method name but found ${describe(name)}.`, name.at);
      target = { kind: 'method', target, name: name.text, args: this.args(), at: name.at };
    }
    return target;
  }

  private args(): Expr[] {
    this.expect('(');
    const args: Expr[] = [];
    if (this.isOp(')')) {
      this.next();
      return args;
    }
    for (;;) {
      args.push(this.expression());
      if (this.isOp(')')) break;
      this.expect(',');
    }
    this.next();
    return args;
  }

  private primary(): Expr {
    const t = this.next();
    switch (t.kind) {
      case 'number':
        return { kind: 'number', value: Number(t.text), at: t.at };
      case 'string':
        return { kind: 'string', value: t.text, at: t.at };
      case 'name':
        if (this.isOp('(')) return { kind: 'call', name: t.text, args: this.args(), at: t.at };
        return { kind: 'var', name: t.text, at: t.at };
      case 'op':
        if (t.text === '(') {
          const inner = this.expression();
          this.expect(')');
          return inner;
        }
        throw new FormulaSyntaxError(`Unexpected ${describe(t)}.`, t.at);
      case 'end':
        throw new FormulaSyntaxError('Unexpected end of formula.', t.at);
    }
  }
}

function describe(t: Token): string {
  if (t.kind === 'end') return 'the end of the formula';
  if (t.kind === 'string') return `"${t.text}"`;
  return `'${t.text}'`;
}

function children(e: Expr): Expr[] {
  switch (e.kind) {
    case 'unary':
      return [e.operand];
    case 'binary':
      return [e.left, e.right];
    case 'ternary':
      return [e.test, e.then, e.otherwise];
    case 'call':
      return e.args;
    case 'method':
      return [e.target, ...e.args];
    default:
      return [];
  }
}

/** Refuses an expression tree deeper than MAX_EXPRESSION_DEPTH, walked with an explicit stack. */
function checkDepth(root: Expr): void {
  const stack: [Expr, number][] = [[root, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [e, depth] = top;
    if (depth > MAX_EXPRESSION_DEPTH)
      throw new FormulaSyntaxError(
        `The expression is more than ${String(MAX_EXPRESSION_DEPTH)} levels deep; split it into variables.`,
        e.at,
      );
    for (const c of children(e)) stack.push([c, depth + 1]);
  }
}

/** Parses a whole formula; throws FormulaSyntaxError naming line and column. */
export function parseFormula(source: string): Assignment[] {
  const statements = new Parser(tokenize(source)).formula();
  for (const s of statements) checkDepth(s.value);
  return statements;
}
