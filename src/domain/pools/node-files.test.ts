import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NodeDirectoryNotEmpty,
  NodeFileNotFound,
  NodeFilesUnavailable,
  type NodeFileInfo,
} from '../../backends/port.ts';
import type { NodeFileAccess } from '../../backends/remote-files.ts';
import { DomainError } from '../errors.ts';
import { NodeService } from './nodes.ts';
import { tinyPool, world } from './pools.fixture.ts';

const SHARED_KEY = { scheme: 'SharedKey' } as const;

/** A host whose every file call fails with `err`. */
const failing = (err: Error): NodeFileAccess => ({
  listFiles: (): Promise<NodeFileInfo[]> => Promise.reject(err),
  readFile: () => Promise.reject(err),
  statFile: () => Promise.reject(err),
  deleteFile: () => Promise.reject(err),
});

test("node file calls answer the executor's failures as Batch does, never as internal errors", async () => {
  const w = await world();
  await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 1));
  await w.settle();
  const node = (await w.pools.get(w.account, 'p')).nodes[0]?.id ?? '';
  const codeOf = async (err: Error, call: (s: NodeService) => Promise<unknown>) => {
    try {
      await call(new NodeService(w.ctx, () => failing(err)));
    } catch (e) {
      assert.ok(e instanceof DomainError, String(e));
      return `${e.category} ${e.code}`;
    }
    return 'ok';
  };
  // A node still starting has no Batch folders yet: its listing is FileNotFound (it was a 500).
  assert.equal(
    await codeOf(new NodeFileNotFound(''), (s) => s.listFiles(w.account, 'p', node, '', true)),
    'not-found FileNotFound',
  );
  assert.equal(
    await codeOf(new NodeFileNotFound('x'), (s) => s.statFile(w.account, 'p', node, 'x')),
    'not-found FileNotFound',
  );
  assert.equal(
    await codeOf(new NodeDirectoryNotEmpty('d'), (s) => s.deleteFile(w.account, 'p', node, 'd', false)),
    'conflict OperationInvalidForCurrentState',
  );
  assert.equal(
    await codeOf(new NodeFilesUnavailable('gone'), (s) => s.readFile(w.account, 'p', node, 'x')),
    'conflict OperationNotValidOnNode',
  );
});
