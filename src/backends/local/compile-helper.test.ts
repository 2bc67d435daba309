import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileHelper } from './compile-helper.ts';

/** A scratch folder with one C source (and the data dir the binary goes into). */
function scratch(source: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-cc-'));
  const file = join(dir, 'helper.c');
  writeFileSync(file, source);
  return { dir, file, dataDir: join(dir, 'data') };
}

test('a helper is built once per source with warnings as errors; a failed build throws the compiler messages', () => {
  const ok = scratch('int main(void) { return 0; }\n');
  const bad = scratch('int main(void) { int unused; return 0; }\n');
  try {
    const binary = compileHelper(ok.dataDir, ok.file);
    assert.equal(compileHelper(ok.dataDir, ok.file), binary, 'built once');
    assert.deepEqual(readdirSync(join(ok.dataDir, 'bin')), [binary.split('/').pop()]);
    assert.throws(() => compileHelper(bad.dataDir, bad.file), /helper\.c failed.*-Werror.*unused/s);
  } finally {
    rmSync(ok.dir, { recursive: true, force: true });
    rmSync(bad.dir, { recursive: true, force: true });
  }
});

test('without a C compiler the error says how to get one', () => {
  const s = scratch('int main(void) { return 0; }\n');
  const path = process.env.PATH;
  process.env.PATH = join(s.dir, 'no-such-bin');
  try {
    assert.throws(() => compileHelper(s.dataDir, s.file), /C compiler.*apt-get install gcc/);
  } finally {
    process.env.PATH = path;
    rmSync(s.dir, { recursive: true, force: true });
  }
});
