import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../../domain/errors.ts';
import { evaluate, MAX_EXPRESSION_DEPTH, type TemplateScope } from './template.ts';

const scope: TemplateScope = {
  subscriptionId: 's',
  resourceGroup: 'rg',
  location: 'westeurope',
  tenantId: 't',
  parameters: { n: 'x' },
  variables: {},
};
const invalidTemplate = (e: unknown) => e instanceof DomainError && e.code === 'InvalidTemplate';

test('expressions evaluate; nesting up to the bound is fine', () => {
  assert.equal(evaluate("[concat('a', toUpper(parameters('n')), string(int('3')))]", scope), 'aX3');
  const nested = `[${'concat('.repeat(MAX_EXPRESSION_DEPTH - 1)}'z'${')'.repeat(MAX_EXPRESSION_DEPTH - 1)}]`;
  assert.equal(evaluate(nested, scope), 'z');
});

test('expressions nested thousands deep, deep json() and bad json() are InvalidTemplate, not a stack overflow', () => {
  const deep = `[${'concat('.repeat(50_000)}'z'${')'.repeat(50_000)}]`;
  assert.throws(() => evaluate(deep, scope), invalidTemplate);
  assert.throws(
    () => evaluate(`[${'createArray('.repeat(9000)}1${')'.repeat(9000)}]`, scope),
    invalidTemplate,
  );
  assert.throws(
    () => evaluate(`[json('${'['.repeat(20_000)}${']'.repeat(20_000)}')]`, scope),
    invalidTemplate,
  );
  assert.throws(() => evaluate("[json('{not json')]", scope), invalidTemplate);
  assert.deepEqual(evaluate('[json(\'{"a":[1]}\')]', scope), { a: [1] });
});

// No timed assertion: a quadratic tokenizer would need minutes for these 400,000 characters, past the test's timeout.
test('a long flat expression tokenizes in linear time', { timeout: 60_000 }, () => {
  const args = Array.from({ length: 100_000 }, (_, i) => `'${String(i % 10)}'`).join(',');
  const value = evaluate(`[concat(${args})]`, scope) as string;
  assert.equal(value.length, 100_000);
});
