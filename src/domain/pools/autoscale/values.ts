import type { Position } from './formula.ts';

/**
 * The value types of the autoscale language: double, doubleVec, string, timestamp, timeinterval, and the
 * sampled service variables (`$ActiveTasks`, …), which only methods such as GetSample can read.
 */
export type Value =
  | number
  | string
  | { type: 'vec'; items: number[] }
  | { type: 'timestamp'; ms: number }
  | { type: 'interval'; ms: number }
  | { type: 'series'; name: string };

/** An evaluation that fails at run time (the formula parsed): reported in the pool's autoScaleRun.error. */
export class FormulaEvaluationError extends Error {
  readonly code: string;
  readonly at: Position | undefined;
  constructor(code: string, message: string, at?: Position) {
    super(at ? `Line ${String(at.line)}, Col ${String(at.col)}: ${message}` : message);
    this.code = code;
    this.at = at;
  }
}

/** Raised by stop(): ends the evaluation with the variables as they are. */
export class StopEvaluation extends Error {}

export const vec = (items: number[]): Value => ({ type: 'vec', items });
export const interval = (ms: number): Value => ({ type: 'interval', ms });
export const timestamp = (ms: number): Value => ({ type: 'timestamp', ms });

export function typeName(v: Value): string {
  if (typeof v === 'number') return 'double';
  if (typeof v === 'string') return 'string';
  switch (v.type) {
    case 'vec':
      return 'doubleVec';
    case 'timestamp':
      return 'timestamp';
    case 'interval':
      return 'timeinterval';
    case 'series':
      return 'sampled variable';
  }
}

export const isVec = (v: Value): v is { type: 'vec'; items: number[] } =>
  typeof v === 'object' && v.type === 'vec';
export const isInterval = (v: Value): v is { type: 'interval'; ms: number } =>
  typeof v === 'object' && v.type === 'interval';
export const isTimestamp = (v: Value): v is { type: 'timestamp'; ms: number } =>
  typeof v === 'object' && v.type === 'timestamp';

/** The TimeInterval_* constants, in milliseconds. */
export const TIME_INTERVALS: Record<string, number> = {
  TimeInterval_Zero: 0,
  TimeInterval_100ns: 0.0001,
  TimeInterval_Microsecond: 0.001,
  TimeInterval_Millisecond: 1,
  TimeInterval_Second: 1000,
  TimeInterval_Minute: 60_000,
  TimeInterval_Hour: 3_600_000,
  TimeInterval_Day: 86_400_000,
  TimeInterval_Week: 604_800_000,
  TimeInterval_Year: 31_536_000_000,
};

/** How a value appears in autoScaleRun.results (`$name=value`). */
export function formatValue(v: Value): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15)));
  if (typeof v === 'string') return v;
  switch (v.type) {
    case 'vec':
      return `[${v.items.map((x) => formatValue(x)).join(',')}]`;
    case 'timestamp':
      return new Date(v.ms).toISOString();
    case 'interval':
      return `${String(v.ms / 1000)}s`;
    case 'series':
      return v.name;
  }
}
