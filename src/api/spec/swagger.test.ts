import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SpecValidator } from './validator.ts';

// Synthetic swagger files exercising the dialect quirks the real specs only show here and there.
const root = mkdtempSync(join(tmpdir(), 'lazurite-specs-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
});

function writeSpec(file: string, definitions: Record<string, unknown>): void {
  const abs = join(root, 'specification', file);
  mkdirSync(join(abs, '..'), { recursive: true });
  const doc = { swagger: '2.0', info: { title: 't', version: '1' }, paths: {}, definitions };
  writeFileSync(abs, JSON.stringify(doc));
}

writeSpec('common/v1/types.json', {
  Resource: {
    properties: { id: { type: 'string', readOnly: true }, location: { type: 'string' } },
    required: ['location'],
  },
});
writeSpec('svc/stable/api.json', {
  Strict: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false },
  Quirks: {
    properties: {
      upload: { type: 'file' },
      pattern: { type: 'string', format: 'arm-id' },
      enum: { type: 'integer', format: 'int64' },
      count: { type: 'integer', format: 'int32', minimum: 0, exclusiveMinimum: true, maximum: 10 },
      name: { type: 'string', minLength: 2, maxLength: 4, format: 'some-unknown-format' },
      unicodeHostile: { type: 'string', pattern: '^\\_$' },
      level: { type: 'integer', enum: [1, 2, 3] },
      mode: { type: 'string', enum: ['On', 'Off'] },
      open: { type: 'string', enum: ['A', 'B'], 'x-ms-enum': { name: 'Open', modelAsString: true } },
      serverSide: { type: 'string', readOnly: true },
      stamped: { type: 'string', 'x-ms-mutability': ['read'] },
      nullableItems: { type: 'array', items: { $ref: '#/definitions/Leaf', 'x-nullable': true } },
      strictItems: { type: 'array', items: { type: 'string' } },
      nullableStrings: { type: 'array', items: { type: 'string', 'x-nullable': true } },
    },
    required: ['serverSide', 'stamped'],
    discriminator: 'kind',
  },
  QuirksChild: { allOf: [{ $ref: '#/definitions/Quirks' }], 'x-ms-discriminator-value': 'child' },
  Leaf: { type: 'object', properties: { v: { type: 'string' } }, required: ['v'] },
  'Odd Name/1': { type: 'object', required: ['x'] },
  Tracked: { allOf: [{ $ref: '../../common/v1/types.json#/definitions/Resource' }] },
  Broken: { properties: { gone: { $ref: '../../missing/file.json#/definitions/Gone' } } },
});

const specs = new SpecValidator(root);
const API = 'svc/stable/api.json';
const quirks = (body: unknown) => specs.validate(API, 'Quirks', body);

describe('swagger dialect', () => {
  test('explicit additionalProperties: false rejects unknown properties by name', () => {
    assert.deepEqual(specs.validate(API, 'Strict', { a: 'x', extra: 1 }), {
      kind: 'invalid',
      path: 'extra',
      property: 'extra',
      message: "The property 'extra' is not allowed.",
    });
  });

  test('type: file, unknown formats and keyword-named properties compile; read-only is never required', () => {
    assert.equal(quirks({ upload: 12, pattern: 'x', enum: 5, name: 'ab' }), undefined);
    assert.equal(quirks({ pattern: 5 })?.path, 'pattern');
    assert.equal(quirks({ enum: 'x' })?.path, 'enum');
  });

  test('draft-04 boolean exclusiveMinimum and inclusive maximum', () => {
    assert.equal(quirks({ count: 0 })?.message, "The value of 'count' must be greater than 0.");
    assert.equal(quirks({ count: 10 }), undefined);
    assert.equal(quirks({ count: 11 })?.message, "The value of 'count' must be less than or equal to 10.");
  });

  test('string lengths', () => {
    assert.equal(quirks({ name: 'a' })?.message, "The value of 'name' must be at least 2 characters long.");
    assert.equal(
      quirks({ name: 'abcde' })?.message,
      "The value of 'name' must be at most 4 characters long.",
    );
  });

  test('a pattern that is not a valid unicode regex is not enforced', () => {
    assert.equal(quirks({ unicodeHostile: 'anything' }), undefined);
  });

  test('enums: integers exact, closed strings case-insensitive, modelAsString open', () => {
    assert.equal(quirks({ level: 2 }), undefined);
    assert.equal(quirks({ level: 4 })?.message, "The value of 'level' must be one of 1, 2, 3.");
    assert.equal(quirks({ mode: 'oFF' }), undefined);
    assert.equal(quirks({ mode: 'Auto' })?.message, "The value of 'mode' must be one of On, Off.");
    assert.equal(quirks({ open: 'C' }), undefined);
  });

  test('x-nullable admits null array items; elsewhere null items are invalid', () => {
    assert.equal(quirks({ nullableItems: [null, { v: 'x' }], nullableStrings: ['a', null] }), undefined);
    assert.equal(quirks({ nullableItems: [null, {}] })?.path, 'nullableItems[1].v');
    assert.equal(quirks({ strictItems: ['a', null] })?.path, 'strictItems[1]');
  });

  test('discriminator is ignored: the child validates like its base', () => {
    assert.equal(specs.validate(API, 'QuirksChild', { kind: 'child', mode: 'on' }), undefined);
    assert.equal(specs.validate(API, 'QuirksChild', { kind: 'other', mode: 'x' })?.path, 'mode');
  });

  test('definition names are escaped in the JSON pointer', () => {
    assert.equal(specs.validate(API, 'Odd Name/1', {})?.path, 'x');
  });

  test('cross-file refs: required inherited through allOf; read-only inherited fields accepted', () => {
    assert.equal(specs.validate(API, 'Tracked', { id: 1 })?.path, 'location');
    assert.equal(specs.validate(API, 'Tracked', { id: 1, location: 'w' }), undefined);
  });

  test('a definition that reaches a missing file fails loudly', () => {
    assert.throws(() => specs.validate(API, 'Broken', {}), /missing/);
  });
});
