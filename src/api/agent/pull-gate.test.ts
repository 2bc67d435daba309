import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PullGate } from './pull-gate.ts';

test('a region serves at most its bound of downloads at once; a slot given back (once) is free again', () => {
  const gate = new PullGate(2);
  const a = gate.enter('westeurope');
  const b = gate.enter('westeurope');
  assert.ok(a && b);
  assert.equal(gate.enter('westeurope'), undefined);
  assert.ok(gate.enter('eastus'), 'other regions have their own slots');
  a();
  a();
  assert.equal(gate.inUse('westeurope'), 1);
  assert.ok(gate.enter('westeurope'));
  assert.equal(gate.enter('westeurope'), undefined);
});
