import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ID_FILE, ID_RANGE_START, IDS_PER_NODE, NodeIdRanges } from './node-ids.ts';

const base = (slot: number) => ID_RANGE_START + slot * IDS_PER_NODE;

/** Two data dirs' node folders and one host registry of slots. */
function scratch() {
  const root = mkdtempSync(join(tmpdir(), 'lzr-ids-'));
  const dirs = { one: join(root, 'one'), two: join(root, 'two'), slots: join(root, 'slots') };
  for (const id of ['a', 'b', 'c']) mkdirSync(join(dirs.one, id), { recursive: true });
  mkdirSync(join(dirs.two, 'x'), { recursive: true });
  return { root, ...dirs };
}

test('each node of the host gets its own id range, across data dirs; its folder keeps it for the next server', async () => {
  const s = scratch();
  try {
    const one = new NodeIdRanges(s.one, s.slots);
    const two = new NodeIdRanges(s.two, s.slots);
    const [a, b] = await Promise.all([one.baseFor('a'), one.baseFor('b')]);
    assert.deepEqual([a, b].sort(), [base(0), base(1)]);
    assert.equal(await two.baseFor('x'), base(2), "another data dir's node: another range");
    assert.equal(await one.baseFor('a'), a, 'asked again: the same');
    assert.equal(readFileSync(join(s.one, 'b', ID_FILE), 'utf8'), `${String(b)}\n`);
    const restarted = new NodeIdRanges(s.one, s.slots);
    assert.equal(await restarted.baseFor('b'), b, 'a restarted server reads it back');
    assert.equal(await restarted.baseFor('c'), base(3));
    assert.deepEqual(readdirSync(s.slots).sort(), ['0', '1', '2', '3']);
  } finally {
    rmSync(s.root, { recursive: true, force: true });
  }
});

test('a destroyed node, or one whose data dir is gone, frees its range; a node whose range was taken gets another', async () => {
  const s = scratch();
  try {
    const one = new NodeIdRanges(s.one, s.slots);
    const a = await one.baseFor('a');
    await one.baseFor('b');
    await one.release('a');
    rmSync(join(s.one, 'a'), { recursive: true });
    const two = new NodeIdRanges(s.two, s.slots);
    assert.equal(await two.baseFor('x'), a, "the destroyed node's range is free");
    rmSync(s.two, { recursive: true });
    mkdirSync(join(s.one, 'a'));
    const fresh = new NodeIdRanges(s.one, s.slots);
    assert.equal(await fresh.baseFor('a'), a, 'the removed data dir held it: free again');
    rmSync(join(s.one, 'b', ID_FILE));
    mkdirSync(join(s.two, 'y'), { recursive: true });
    const other = await new NodeIdRanges(s.two, s.slots).baseFor('y');
    assert.notEqual(other, a);
    assert.equal(other, base(1), "b's folder no longer records slot 1: stale, taken");
    assert.equal(
      await fresh.baseFor('b'),
      base(2),
      'b boots again: a new range (its disk does not depend on it)',
    );
  } finally {
    rmSync(s.root, { recursive: true, force: true });
  }
});
