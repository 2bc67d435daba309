import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluateFormula, type FormulaInput, type MetricSample } from './evaluate.ts';
import { FormulaSyntaxError, parseFormula } from './formula.ts';
import { FormulaEvaluationError } from './values.ts';

const NOW = Date.parse('2026-06-01T01:00:00Z');
const SAMPLE_MS = 30_000;

/** `count` samples ending now, 30 s apart, with $ActiveTasks = f(i) (i = 0 is the oldest). */
function samples(count: number, active: (i: number) => number): MetricSample[] {
  return Array.from({ length: count }, (_, i) => ({
    at: NOW - (count - 1 - i) * SAMPLE_MS,
    values: { $ActiveTasks: active(i), $RunningTasks: 2, $PendingTasks: active(i) + 2 },
  }));
}

function run(formula: string, over: Partial<FormulaInput> = {}) {
  return evaluateFormula(parseFormula(formula), {
    now: NOW,
    samples: samples(20, (i) => i),
    sampleIntervalMs: SAMPLE_MS,
    scalars: { $TaskSlotsPerNode: 4, $CurrentDedicatedNodes: 3, $CurrentLowPriorityNodes: 0 },
    targetDedicatedNodes: 3,
    targetLowPriorityNodes: 0,
    random: () => 0.5,
    ...over,
  });
}

describe('autoscale formulas', () => {
  test('assignments, precedence, ternary and the results string', () => {
    const out = run('a = 1 + 2 * 3; b = (1 + 2) * 3;\n$TargetDedicatedNodes = a > b ? 1 : b - a;');
    assert.equal(out.targetDedicatedNodes, 2);
    assert.equal(out.targetLowPriorityNodes, 0);
    assert.equal(out.results, 'a=7;b=9;$TargetDedicatedNodes=2;$NodeDeallocationOption=requeue');
  });

  test('the old target name and the deallocation option as a bare word', () => {
    const out = run('$TargetDedicated = 1; $NodeDeallocationOption = taskcompletion');
    assert.equal(out.targetDedicatedNodes, 1);
    assert.equal(out.nodeDeallocationOption, 'taskcompletion');
    assert.equal(out.results, '$TargetDedicated=1;$NodeDeallocationOption=taskcompletion');
  });

  test('samples: count, interval with percent, functions over vectors', () => {
    assert.equal(run('$TargetDedicatedNodes = max($ActiveTasks.GetSample(3))').targetDedicatedNodes, 19);
    // The last 5 minutes hold 10 samples of the 10 expected.
    const five = run('$TargetDedicatedNodes = avg($ActiveTasks.GetSample(TimeInterval_Minute * 5, 100))');
    assert.equal(five.targetDedicatedNodes, 14); // avg(10..19) = 14.5, truncated
    const percent = run(
      'p = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 20); $TargetDedicatedNodes = p',
    );
    assert.equal(percent.results.split(';')[0], 'p=50');
    const mixed = run(
      '$TargetDedicatedNodes = min(7, $PendingTasks.GetSample(1), 100) + len($ActiveTasks.GetSample(4))',
    );
    assert.equal(mixed.targetDedicatedNodes, 11);
  });

  test('too few samples fail with InsufficientSampleData, naming the variable and percentages', () => {
    assert.throws(
      () => run('$TargetDedicatedNodes = avg($ActiveTasks.GetSample(TimeInterval_Minute * 20, 70))'),
      (e: unknown) => e instanceof FormulaEvaluationError && e.code === 'InsufficientSampleData',
    );
    try {
      run('x = 1;\n$TargetDedicatedNodes = avg($ActiveTasks.GetSample(TimeInterval_Minute * 20, 70))');
    } catch (e) {
      assert.ok(e instanceof FormulaEvaluationError);
      assert.match(
        e.message,
        /^Line 2, Col \d+: Insufficient data from data set: \$ActiveTasks wanted 70%, received 50%/,
      );
    }
    assert.throws(
      () => run('$TargetDedicatedNodes = $ActiveTasks.GetSample(21)'),
      (e: unknown) => e instanceof FormulaEvaluationError && e.code === 'InsufficientSampleData',
    );
  });

  test('time arithmetic and stop()', () => {
    const out = run(
      't = time() - TimeInterval_Hour; d = (time() - t) / TimeInterval_Minute; $TargetDedicatedNodes = d; stop(); $TargetDedicatedNodes = 0',
    );
    assert.equal(out.targetDedicatedNodes, 60);
  });

  test('syntax errors name line and column', () => {
    assert.throws(
      () => parseFormula('$TargetDedicatedNodes = 1;\n$TargetLowPriorityNodes = (2 + ;'),
      (e: unknown) => e instanceof FormulaSyntaxError && e.at.line === 2 && /Col 32/.test(e.message),
    );
    assert.throws(() => parseFormula(''), FormulaSyntaxError);
    assert.throws(() => parseFormula('$TargetDedicatedNodes = "open'), FormulaSyntaxError);
    assert.throws(() => parseFormula('$TargetDedicatedNodes = 1 # 2'), FormulaSyntaxError);
  });

  test('deep nesting is a syntax error on a bounded stack; nesting and chains under the bounds evaluate', () => {
    const deep = (what: string) => {
      assert.throws(
        () => parseFormula(`$TargetDedicatedNodes = ${what};`),
        (e: unknown) => e instanceof FormulaSyntaxError && /levels deep/.test(e.message),
      );
    };
    deep(`${'('.repeat(4000)}1${')'.repeat(4000)}`);
    deep(`${'-'.repeat(8000)}1`);
    deep(`${'!'.repeat(300)}1`);
    deep(Array(4090).fill('1').join('+'));
    deep(`${'max(1,'.repeat(1300)}1${')'.repeat(1300)}`);
    deep(`${'1 ? 1 : '.repeat(1000)}1`);
    deep(`$ActiveTasks${'.Count()'.repeat(1100)}`);
    assert.equal(
      run(`$TargetDedicatedNodes = ${'('.repeat(200)}7${')'.repeat(200)};`).targetDedicatedNodes,
      7,
    );
    assert.equal(run(`$TargetDedicatedNodes = ${'-'.repeat(200)}7;`).targetDedicatedNodes, 7);
    assert.equal(
      run(`$TargetDedicatedNodes = ${Array(1000).fill('1').join('+')};`).targetDedicatedNodes,
      1000,
    );
  });

  test('evaluation errors: unknown names, read-only variables, types, bad targets', () => {
    const code = (f: string) => {
      try {
        run(f);
      } catch (e) {
        return e instanceof FormulaEvaluationError ? e.message : String(e);
      }
      return 'no error';
    };
    assert.match(code('$TargetDedicatedNodes = nope'), /Variable 'nope' is not defined/);
    assert.match(code('$ActiveTasks = 1'), /read-only/);
    assert.match(code('$TargetDedicatedNodes = $CPUPercent.GetSample(1)'), /does not sample/);
    assert.match(code('$TargetDedicatedNodes = "a" + 1'), /not defined for string \+ double/);
    assert.match(code('$TargetDedicatedNodes = -1'), /0 or more/);
    assert.match(code('$TargetDedicatedNodes = 1 / 0'), /Division by zero/);
    assert.match(code('$NodeDeallocationOption = "later"'), /must be one of/);
    assert.match(code('$TargetDedicatedNodes = $ActiveTasks'), /sampled variable/);
  });
});
