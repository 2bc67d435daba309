import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The layer map is enforced (issue 19): in a temporary copy of the tree, a domain file that imports a concrete
 * backend (the local VM host, the simulated executor), a concrete store or the HTTP surface fails `eslint`, and the
 * same file importing only the ports passes.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('the layer map in eslint.config.js', () => {
  let tree: string;
  before(() => {
    tree = mkdtempSync(join(tmpdir(), 'lazurite-layers-'));
    for (const p of ['src', 'eslint.config.js', 'tsconfig.json', 'package.json'])
      cpSync(join(ROOT, p), join(tree, p), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  });
  after(() => {
    rmSync(tree, { recursive: true, force: true });
  });

  const lint = (imports: string) => {
    const file = join(tree, 'src', 'domain', 'compute', 'layer-probe.ts');
    writeFileSync(file, `${imports}\nexport const probe = 1;\n`);
    return spawnSync(join(ROOT, 'node_modules', '.bin', 'eslint'), ['--no-cache', file], {
      cwd: tree,
      encoding: 'utf8',
    });
  };

  test('a domain file importing only the ports passes', () => {
    const r = lint(
      "import type { VmRuntime } from '../../backends/port.ts';\nimport type { Store } from '../../storage/port.ts';\nexport type Both = [VmRuntime, Store];",
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  for (const [what, path] of [
    ['the local VM host', '../../backends/local/vm-host.ts'],
    ['the simulated executor', '../../backends/simulated/node-executor.ts'],
    ['the PostgreSQL store', '../../storage/postgres/open.ts'],
    ['the Batch HTTP surface', '../../api/batch/errors.ts'],
  ] as const) {
    test(`a domain file importing ${what} fails lint, naming the rule`, () => {
      const r = lint(`import * as concrete from '${path}';\nexport const used = concrete;`);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /no-restricted-imports/);
      assert.match(r.stdout, /domain\/ must not import/);
    });
  }
});
