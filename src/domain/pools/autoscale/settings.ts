import { DomainError } from '../../errors.ts';
import { missingProperty, parseDuration } from '../pool-spec.ts';
import { FormulaSyntaxError, parseFormula, type Assignment } from './formula.ts';

/** Batch's limits on autoscale settings (BatchService.json, BatchErrorCodeStrings). */
export const MAX_FORMULA_LENGTH = 8192;
export const DEFAULT_EVALUATION_INTERVAL_MS = 15 * 60_000;
const MIN_EVALUATION_INTERVAL_MS = 5 * 60_000;
const MAX_EVALUATION_INTERVAL_MS = 168 * 3_600_000;

function invalidSettings(property: string, reason: string): DomainError {
  return new DomainError(
    'invalid-input',
    'InvalidAutoScalingSettings',
    `The specified auto-scaling settings are not valid. ${reason}`,
    {
      target: property,
      values: { PropertyName: property, Reason: reason },
    },
  );
}

/** Parses a formula from a request body: 400 AutoScaleFormulaTooLong / AutoScalingFormulaSyntaxError. */
export function checkFormula(value: unknown, property = 'autoScaleFormula'): Assignment[] {
  if (value === undefined || value === null) throw missingProperty(property);
  if (typeof value !== 'string') throw invalidSettings(property, 'The formula must be a string.');
  if (value.length > MAX_FORMULA_LENGTH)
    throw new DomainError(
      'invalid-input',
      'AutoScaleFormulaTooLong',
      `The specified auto-scaling formula exceeds the length limit of ${String(MAX_FORMULA_LENGTH)} characters.`,
      { target: property, values: { PropertyName: property, Length: String(value.length) } },
    );
  try {
    return parseFormula(value);
  } catch (err) {
    if (!(err instanceof FormulaSyntaxError)) throw err;
    throw new DomainError(
      'invalid-input',
      'AutoScalingFormulaSyntaxError',
      'The specified auto-scaling formula has a syntax error.',
      { target: property, values: { PropertyName: property, Message: err.message } },
    );
  }
}

/** autoScaleEvaluationInterval: ISO 8601 from PT5M to PT168H; default 15 minutes. */
export function evaluationIntervalOf(
  value: unknown,
  property = 'autoScaleEvaluationInterval',
): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined)
    throw invalidSettings(property, `'${JSON.stringify(value)}' is not an ISO 8601 duration.`);
  if (ms < MIN_EVALUATION_INTERVAL_MS || ms > MAX_EVALUATION_INTERVAL_MS)
    throw invalidSettings(
      property,
      'The evaluation interval must be from 5 minutes (PT5M) to 168 hours (PT168H).',
    );
  return ms;
}

/** An add-pool body with enableAutoScale: a formula, an interval, and no fixed targets. */
export function checkAutoScaleAdd(body: Record<string, unknown>): { formula: string; intervalMs: number } {
  for (const fixed of ['targetDedicatedNodes', 'targetLowPriorityNodes'])
    if (body[fixed] !== undefined && body[fixed] !== null)
      throw invalidSettings(fixed, `${fixed} must not be specified when enableAutoScale is true.`);
  checkFormula(body.autoScaleFormula);
  return {
    formula: body.autoScaleFormula as string,
    intervalMs: evaluationIntervalOf(body.autoScaleEvaluationInterval) ?? DEFAULT_EVALUATION_INTERVAL_MS,
  };
}
