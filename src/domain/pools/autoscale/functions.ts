import type { Position } from './formula.ts';
import {
  FormulaEvaluationError,
  isInterval,
  isVec,
  StopEvaluation,
  timestamp,
  typeName,
  vec,
  type Value,
} from './values.ts';

/** Error code of a formula that parses but cannot be evaluated (type errors, unknown names, bad results). */
export const EVALUATION_ERROR = 'AutoScalingFormulaEvaluationError';

export const fail = (message: string, at: Position): never => {
  throw new FormulaEvaluationError(EVALUATION_ERROR, message, at);
};

/** A doubleVecList argument: doubles and doubleVecs, flattened in order. */
function flatten(args: Value[], fn: string, at: Position): number[] {
  const out: number[] = [];
  for (const a of args) {
    if (typeof a === 'number') out.push(a);
    else if (isVec(a)) out.push(...a.items);
    else fail(`${fn}() takes doubles and doubleVecs, not a ${typeName(a)}.`, at);
  }
  return out;
}

function nonEmpty(args: Value[], fn: string, at: Position): number[] {
  const xs = flatten(args, fn, at);
  if (xs.length === 0) fail(`${fn}() of no values.`, at);
  return xs;
}

function one(args: Value[], fn: string, at: Position): Value {
  if (args.length !== 1) fail(`${fn}() takes one argument, not ${String(args.length)}.`, at);
  return args[0] as Value;
}

/** Applies a double→double function to a double or to each element of a doubleVec. */
function elementwise(f: (x: number) => number) {
  return (args: Value[], fn: string, at: Position): Value => {
    const a = one(args, fn, at);
    if (typeof a === 'number') return f(a);
    if (isVec(a)) return vec(a.items.map(f));
    return fail(`${fn}() takes a double or a doubleVec, not a ${typeName(a)}.`, at);
  };
}

const sum = (xs: number[]): number => xs.reduce((s, x) => s + x, 0);

function percentile(args: Value[], at: Position): number {
  const [v, p] = args;
  if (args.length !== 2 || v === undefined || typeof p !== 'number')
    return fail('percentile() takes a doubleVec and a percentage.', at);
  const xs = nonEmpty([v], 'percentile', at).sort((a, b) => a - b);
  if (p < 0 || p > 100) return fail('percentile() takes a percentage from 0 to 100.', at);
  const rank = (p / 100) * (xs.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return (xs[lo] as number) + ((xs[hi] as number) - (xs[lo] as number)) * (rank - lo);
}

function std(xs: number[]): number {
  if (xs.length < 2) return 0;
  const mean = sum(xs) / xs.length;
  return Math.sqrt(sum(xs.map((x) => (x - mean) ** 2)) / (xs.length - 1));
}

function valAt(args: Value[], at: Position): number {
  const [v, i] = args;
  if (args.length !== 2 || v === undefined || !isVec(v) || typeof i !== 'number')
    return fail('val() takes a doubleVec and an index.', at);
  const x = v.items[Math.trunc(i)];
  if (x === undefined || i < 0)
    return fail(`val(): index ${String(i)} is outside a vector of ${String(v.items.length)}.`, at);
  return x;
}

function timeOf(args: Value[], now: number, at: Position): Value {
  if (args.length === 0) return timestamp(now);
  const s = one(args, 'time', at);
  if (typeof s !== 'string') return fail('time() takes a date-time string.', at);
  const ms = s === '' ? now : Date.parse(s);
  if (Number.isNaN(ms)) return fail(`time(): '${s}' is not a date-time.`, at);
  return timestamp(ms);
}

type Builtin = (args: Value[], at: Position, now: number, random: () => number) => Value;

/** The built-in functions of the autoscale language (names are case-sensitive, as in Batch). */
export const FUNCTIONS: Record<string, Builtin> = {
  avg: (a, at) => {
    const xs = nonEmpty(a, 'avg', at);
    return sum(xs) / xs.length;
  },
  ceil: (a, at) => elementwise(Math.ceil)(a, 'ceil', at),
  floor: (a, at) => elementwise(Math.floor)(a, 'floor', at),
  round: (a, at) => elementwise(Math.round)(a, 'round', at),
  lg: (a, at) => elementwise(Math.log2)(a, 'lg', at),
  ln: (a, at) => elementwise(Math.log)(a, 'ln', at),
  log: (a, at) => elementwise(Math.log10)(a, 'log', at),
  len: (a, at) => {
    const v = a.length === 1 && typeof a[0] === 'string' ? a[0] : undefined;
    return v === undefined ? flatten(a, 'len', at).length : v.length;
  },
  max: (a, at) => Math.max(...nonEmpty(a, 'max', at)),
  min: (a, at) => Math.min(...nonEmpty(a, 'min', at)),
  norm: (a, at) => Math.sqrt(sum(flatten(a, 'norm', at).map((x) => x * x))),
  percentile: (a, at) => percentile(a, at),
  rand: (_a, _at, _now, random) => random(),
  range: (a, at) => {
    const xs = nonEmpty(a, 'range', at);
    return Math.max(...xs) - Math.min(...xs);
  },
  std: (a, at) => std(nonEmpty(a, 'std', at)),
  stop: () => {
    throw new StopEvaluation();
  },
  sum: (a, at) => sum(flatten(a, 'sum', at)),
  time: (a, at, now) => timeOf(a, now, at),
  val: (a, at) => valAt(a, at),
};

/** Arithmetic and comparison on two values, by the type rules of the Batch formula language. */
export function arithmetic(op: string, l: Value, r: Value, at: Position): Value {
  if (typeof l === 'number' && typeof r === 'number') return scalar(op, l, r, at);
  if ((typeof l === 'number' || isVec(l)) && (typeof r === 'number' || isVec(r))) {
    const ls = typeof l === 'number' ? undefined : l.items;
    const rs = typeof r === 'number' ? undefined : r.items;
    if (ls && rs && ls.length !== rs.length)
      return fail(`Vectors of different lengths (${String(ls.length)} and ${String(rs.length)}).`, at);
    const n = (ls ?? rs ?? []).length;
    const item = (xs: number[] | undefined, x: Value, i: number) => (xs ? (xs[i] as number) : (x as number));
    return vec(Array.from({ length: n }, (_, i) => scalar(op, item(ls, l, i), item(rs, r, i), at)));
  }
  if (typeof l === 'string' && typeof r === 'string' && (op === '==' || op === '!='))
    return (l === r) === (op === '==') ? 1 : 0;
  return timeArithmetic(op, l, r, at);
}

function scalar(op: string, l: number, r: number, at: Position): number {
  switch (op) {
    case '+':
      return l + r;
    case '-':
      return l - r;
    case '*':
      return l * r;
    case '/':
      return r === 0 ? fail('Division by zero.', at) : l / r;
    default:
      return compare(op, l, r);
  }
}

function compare(op: string, l: number, r: number): number {
  const results: Record<string, boolean> = {
    '==': l === r,
    '!=': l !== r,
    '<': l < r,
    '<=': l <= r,
    '>': l > r,
    '>=': l >= r,
  };
  return results[op] === true ? 1 : 0;
}

/** timestamp ± timeinterval, timestamp − timestamp, timeinterval × double, and their comparisons. */
function timeArithmetic(op: string, l: Value, r: Value, at: Position): Value {
  const ms = (v: Value) => (typeof v === 'object' && 'ms' in v ? v.ms : NaN);
  const kind = `${typeName(l)} ${op} ${typeName(r)}`;
  if (typeof l === 'object' && typeof r === 'object' && l.type === r.type && 'ms' in l && 'ms' in r) {
    if (['==', '!=', '<', '<=', '>', '>='].includes(op)) return compare(op, l.ms, r.ms);
    if (op === '-') return { type: 'interval', ms: l.ms - r.ms };
    if (op === '+' && l.type === 'interval') return { type: 'interval', ms: l.ms + r.ms };
    if (op === '/' && l.type === 'interval') return r.ms === 0 ? fail('Division by zero.', at) : l.ms / r.ms;
  }
  if (typeof l === 'object' && l.type === 'timestamp' && isInterval(r) && (op === '+' || op === '-'))
    return timestamp(op === '+' ? l.ms + r.ms : l.ms - r.ms);
  if (isInterval(l) && typeof r === 'number' && (op === '*' || op === '/'))
    return op === '*'
      ? { type: 'interval', ms: l.ms * r }
      : r === 0
        ? fail('Division by zero.', at)
        : { type: 'interval', ms: l.ms / r };
  if (typeof l === 'number' && isInterval(r) && op === '*') return { type: 'interval', ms: l * ms(r) };
  return fail(`Operator '${op}' is not defined for ${kind}.`, at);
}
