import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

/**
 * Every environment variable the typed config reads (src/config/config.ts, the only reader below app/ and cli/,
 * ADR 0036) has a row in the README's options table.
 */
test("every LAZURITE_* variable config reads is in the README's options table", () => {
  const source = readFileSync(new URL('../../src/config/config.ts', import.meta.url), 'utf8');
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const read = new Set([...source.matchAll(/\benv\.(LAZURITE_[A-Z_]+)/g)].map((m) => m[1]));
  assert.ok(read.size > 20, `only ${String(read.size)} variables found: is the pattern stale?`);
  const rows = readme.split('\n').filter((line) => line.startsWith('| '));
  const missing = [...read].filter((name) => !rows.some((row) => row.includes(`\`${name ?? ''}\``)));
  assert.deepEqual(missing, []);
});
