import type { Assignment, Expr, Position } from './formula.ts';
import { arithmetic, fail, FUNCTIONS } from './functions.ts';
import {
  formatValue,
  FormulaEvaluationError,
  isInterval,
  isTimestamp,
  StopEvaluation,
  TIME_INTERVALS,
  timestamp,
  typeName,
  vec,
  type Value,
} from './values.ts';

/** One sample of a pool's metrics, taken by the autoscaler every sample interval. */
export interface MetricSample {
  at: number;
  values: Record<string, number>;
}

/** The sampled variables this server collects (BatchService autoscale docs' task and node metrics). */
export const SAMPLED_VARIABLES = [
  '$ActiveTasks',
  '$RunningTasks',
  '$PendingTasks',
  '$SucceededTasks',
  '$FailedTasks',
  '$SampleNodeCount',
] as const;

/** Resource metrics Batch samples from inside each VM; this server does not collect them. */
const UNCOLLECTED = [
  '$CPUPercent',
  '$WallClockSeconds',
  '$MemoryBytes',
  '$DiskBytes',
  '$DiskReadBytes',
  '$DiskWriteBytes',
  '$DiskReadOps',
  '$DiskWriteOps',
  '$NetworkInBytes',
  '$NetworkOutBytes',
];

/** What a formula sees of its pool. */
export interface FormulaInput {
  now: number;
  /** Oldest first. */
  samples: MetricSample[];
  sampleIntervalMs: number;
  /** Read-only scalars: $TaskSlotsPerNode, $CurrentDedicatedNodes, … */
  scalars: Record<string, number>;
  targetDedicatedNodes: number;
  targetLowPriorityNodes: number;
  random?: () => number;
}

export interface FormulaOutcome {
  targetDedicatedNodes: number;
  targetLowPriorityNodes: number;
  nodeDeallocationOption: string;
  /** autoScaleRun.results: `$name=value` for each assigned variable, separated by `;`. */
  results: string;
}

const DEALLOCATION_OPTIONS = ['requeue', 'terminate', 'taskcompletion', 'retaineddata'];
/** Old names still accepted for the targets. */
const ALIASES: Record<string, string> = {
  $TargetDedicated: '$TargetDedicatedNodes',
  $TargetLowPriority: '$TargetLowPriorityNodes',
};
const WRITABLE = ['$TargetDedicatedNodes', '$TargetLowPriorityNodes', '$NodeDeallocationOption'];

class Evaluation {
  private readonly input: FormulaInput;
  readonly vars = new Map<string, Value>();
  readonly assigned: string[] = [];

  constructor(input: FormulaInput) {
    this.input = input;
    this.vars.set('$TargetDedicatedNodes', input.targetDedicatedNodes);
    this.vars.set('$TargetLowPriorityNodes', input.targetLowPriorityNodes);
    this.vars.set('$NodeDeallocationOption', 'requeue');
  }

  assign(a: Assignment): void {
    if (a.name === undefined) {
      this.eval(a.value);
      return;
    }
    const name = ALIASES[a.name] ?? a.name;
    if (name.startsWith('$') && !WRITABLE.includes(name) && this.isServiceVariable(name))
      fail(`${a.name} is a read-only service variable.`, a.at);
    const value = this.eval(a.value);
    if (typeof value === 'object' && value.type === 'series')
      fail(`${value.name} is a sampled variable; read it with GetSample().`, a.value.at);
    this.vars.set(name, value);
    if (!this.assigned.includes(a.name)) this.assigned.push(a.name);
  }

  private isServiceVariable(name: string): boolean {
    return (
      name in this.input.scalars ||
      (SAMPLED_VARIABLES as readonly string[]).includes(name) ||
      UNCOLLECTED.includes(name)
    );
  }

  eval(e: Expr): Value {
    switch (e.kind) {
      case 'number':
      case 'string':
        return e.value;
      case 'var':
        return this.lookup(e.name, e.at);
      case 'unary':
        return this.unary(e.op, this.eval(e.operand), e.at);
      case 'binary':
        return this.binary(e);
      case 'ternary':
        return this.truth(this.eval(e.test), e.at) ? this.eval(e.then) : this.eval(e.otherwise);
      case 'call': {
        const fn = FUNCTIONS[e.name];
        if (fn === undefined) return fail(`Unknown function '${e.name}'.`, e.at);
        return fn(
          e.args.map((a) => this.eval(a)),
          e.at,
          this.input.now,
          this.input.random ?? Math.random,
        );
      }
      case 'method':
        return this.method(e.target, e.name, e.args, e.at);
    }
  }

  private lookup(raw: string, at: Position): Value {
    const name = ALIASES[raw] ?? raw;
    const own = this.vars.get(name);
    if (own !== undefined) return own;
    const scalar = this.input.scalars[name];
    if (scalar !== undefined) return scalar;
    if ((SAMPLED_VARIABLES as readonly string[]).includes(name)) return { type: 'series', name };
    if (UNCOLLECTED.includes(name))
      return fail(
        `${name} is a resource metric this server does not sample; use the task and node metrics.`,
        at,
      );
    const ms = TIME_INTERVALS[name];
    if (ms !== undefined) return { type: 'interval', ms };
    if (DEALLOCATION_OPTIONS.includes(name)) return name;
    return fail(`Variable '${raw}' is not defined.`, at);
  }

  private unary(op: '-' | '!', v: Value, at: Position): Value {
    if (op === '!') return this.truth(v, at) ? 0 : 1;
    if (typeof v === 'number') return -v;
    if (typeof v === 'object' && v.type === 'vec') return vec(v.items.map((x) => -x));
    if (isInterval(v)) return { type: 'interval', ms: -v.ms };
    return fail(`Unary '-' is not defined for a ${typeName(v)}.`, at);
  }

  private truth(v: Value, at: Position): boolean {
    if (typeof v !== 'number') return fail(`A condition must be a double, not a ${typeName(v)}.`, at);
    return v !== 0;
  }

  private binary(e: Extract<Expr, { kind: 'binary' }>): Value {
    const left = this.eval(e.left);
    if (e.op === '&&') return this.truth(left, e.at) && this.truth(this.eval(e.right), e.at) ? 1 : 0;
    if (e.op === '||') return this.truth(left, e.at) || this.truth(this.eval(e.right), e.at) ? 1 : 0;
    return arithmetic(e.op, left, this.eval(e.right), e.at);
  }

  private method(targetExpr: Expr, name: string, argExprs: Expr[], at: Position): Value {
    const target = this.eval(targetExpr);
    if (typeof target !== 'object' || target.type !== 'series')
      return fail(`${name}() applies to sampled variables, not to a ${typeName(target)}.`, at);
    const args = argExprs.map((a) => this.eval(a));
    const samples = this.input.samples;
    const series = (list: MetricSample[]) => list.map((s) => s.values[target.name] ?? 0);
    switch (name) {
      case 'Count':
        return samples.length;
      case 'HistoryBeginTime':
        return samples[0] ? timestamp(samples[0].at) : fail(`${target.name} has no samples yet.`, at);
      case 'GetSample':
      case 'GetSamplePeriod':
        return vec(series(this.window(target.name, args, at, name === 'GetSample')));
      case 'GetSamplePercent':
        return this.coverage(this.range(args, at, name)).percent;
      default:
        return fail(`Unknown method '${name}'.`, at);
    }
  }

  /** The samples GetSample(count | interval[, percent] | start, end[, percent]) selects, newest last. */
  private window(variable: string, args: Value[], at: Position, checkPercent: boolean): MetricSample[] {
    const [first] = args;
    if (args.length === 1 && typeof first === 'number') {
      const count = Math.trunc(first);
      if (count < 1) return fail('GetSample() needs a sample count of at least 1.', at);
      if (this.input.samples.length < count)
        insufficient(variable, `${String(count)} samples`, String(this.input.samples.length), at);
      return this.input.samples.slice(-count);
    }
    const last = args.at(-1);
    const wanted = args.length > 1 && typeof last === 'number' ? last : undefined;
    const range = this.range(wanted === undefined ? args : args.slice(0, -1), at, 'GetSample');
    const { percent, samples } = this.coverage(range);
    if (checkPercent && wanted !== undefined && percent < wanted)
      insufficient(variable, `${formatValue(wanted)}%`, `${formatValue(Math.floor(percent))}%`, at);
    return samples;
  }

  /** A time range from one interval (the last …) or two interval/timestamp bounds. */
  private range(args: Value[], at: Position, fn: string): { from: number; to: number } {
    const now = this.input.now;
    const point = (v: Value | undefined): number => {
      if (v !== undefined && isTimestamp(v)) return v.ms;
      if (v !== undefined && isInterval(v)) return now - v.ms;
      return fail(`${fn}() takes a sample count, a timeinterval or two time bounds.`, at);
    };
    if (args.length === 1) return { from: point(args[0]), to: now };
    if (args.length === 2) {
      const a = point(args[0]);
      const b = point(args[1]);
      return { from: Math.min(a, b), to: Math.max(a, b) };
    }
    return fail(`${fn}() takes a sample count, a timeinterval or two time bounds.`, at);
  }

  private coverage(range: { from: number; to: number }) {
    const samples = this.input.samples.filter((s) => s.at > range.from && s.at <= range.to);
    const expected = Math.max(1, Math.floor((range.to - range.from) / this.input.sampleIntervalMs));
    return { samples, percent: Math.min(100, (samples.length / expected) * 100) };
  }
}

function insufficient(variable: string, wanted: string, received: string, at: Position): never {
  throw new FormulaEvaluationError(
    'InsufficientSampleData',
    `Insufficient data from data set: ${variable} wanted ${wanted}, received ${received}.`,
    at,
  );
}

function targetOf(name: string, v: Value | undefined): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new FormulaEvaluationError(
      'AutoScalingFormulaEvaluationError',
      `${name} must be a number of nodes (0 or more), not ${v === undefined ? 'nothing' : formatValue(v)}.`,
    );
  return Math.trunc(v);
}

/** Runs a parsed formula; throws FormulaEvaluationError when it cannot produce valid targets. */
export function evaluateFormula(statements: Assignment[], input: FormulaInput): FormulaOutcome {
  const run = new Evaluation(input);
  try {
    for (const s of statements) run.assign(s);
  } catch (err) {
    if (!(err instanceof StopEvaluation)) throw err;
  }
  const deallocation = run.vars.get('$NodeDeallocationOption');
  if (typeof deallocation !== 'string' || !DEALLOCATION_OPTIONS.includes(deallocation))
    throw new FormulaEvaluationError(
      'AutoScalingFormulaEvaluationError',
      `$NodeDeallocationOption must be one of ${DEALLOCATION_OPTIONS.join(', ')}.`,
    );
  const shown = run.assigned.includes('$NodeDeallocationOption')
    ? run.assigned
    : [...run.assigned, '$NodeDeallocationOption'];
  return {
    targetDedicatedNodes: targetOf('$TargetDedicatedNodes', run.vars.get('$TargetDedicatedNodes')),
    targetLowPriorityNodes: targetOf('$TargetLowPriorityNodes', run.vars.get('$TargetLowPriorityNodes')),
    nodeDeallocationOption: deallocation,
    results: shown.map((n) => `${n}=${formatValue(run.vars.get(ALIASES[n] ?? n) ?? 0)}`).join(';'),
  };
}
