import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ID_FILE, ID_RANGE_START, IDS_PER_NODE, NodeIdRanges } from './node-ids.ts';

test('each node gets its own id range, kept in its folder for the next server; a destroyed node frees it', async () => {
  const nodes = mkdtempSync(join(tmpdir(), 'lzr-ids-'));
  try {
    for (const id of ['a', 'b', 'c']) mkdirSync(join(nodes, id));
    const ranges = new NodeIdRanges(nodes);
    const [a, b] = await Promise.all([ranges.baseFor('a'), ranges.baseFor('b')]);
    assert.deepEqual([a, b].sort(), [ID_RANGE_START, ID_RANGE_START + IDS_PER_NODE]);
    assert.equal(await ranges.baseFor('a'), a, 'asked again: the same');
    assert.equal(readFileSync(join(nodes, 'b', ID_FILE), 'utf8'), `${String(b)}\n`);
    const restarted = new NodeIdRanges(nodes);
    assert.equal(await restarted.baseFor('b'), b, 'a restarted server reads it back');
    assert.equal(await restarted.baseFor('c'), ID_RANGE_START + 2 * IDS_PER_NODE, 'a new node: a free slot');
    rmSync(join(nodes, 'a'), { recursive: true });
    await restarted.release('a');
    mkdirSync(join(nodes, 'd'));
    assert.equal(await restarted.baseFor('d'), a, "the destroyed node's slot is reused");
  } finally {
    rmSync(nodes, { recursive: true, force: true });
  }
});
