import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { depthExceededAt, MAX_JSON_DEPTH } from './json-depth.ts';

const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

describe('depthExceededAt', () => {
  test('a document at the limit passes; one level more is refused where it goes too deep', () => {
    assert.equal(depthExceededAt(nested(MAX_JSON_DEPTH)), -1);
    assert.equal(depthExceededAt(nested(MAX_JSON_DEPTH + 1)), MAX_JSON_DEPTH * 5);
    assert.equal(depthExceededAt('[[[[]]]]', 3), 3);
    assert.equal(depthExceededAt('[[[]]]', 3), -1);
  });

  test('brackets inside strings, escaped quotes included, do not count', () => {
    assert.equal(depthExceededAt(JSON.stringify({ a: '[[[[[[{{{{', b: 'x\\"[[[[[' }), 2), -1);
    assert.equal(depthExceededAt(JSON.stringify(['\\', [[1]]]), 2), 7);
  });

  test('fifty thousand levels are refused in one pass', () => {
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    assert.equal(depthExceededAt(deep), MAX_JSON_DEPTH);
  });
});
