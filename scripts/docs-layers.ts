/**
 * `npm run docs:layers`: redraws the layer map section of docs/architecture.md from layers.ts
 * (`--check`: only says whether it is up to date, exit 1 when not).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withLayerSection } from './layer-diagram.ts';

const DOC = new URL('../docs/architecture.md', import.meta.url);
const doc = readFileSync(DOC, 'utf8');
const next = withLayerSection(doc);
if (process.argv.includes('--check')) {
  if (next !== doc) {
    process.stderr.write('docs/architecture.md: the layer map is out of date (npm run docs:layers)\n');
    process.exit(1);
  }
} else if (next !== doc) {
  writeFileSync(DOC, next);
  process.stdout.write('docs/architecture.md: layer map redrawn\n');
}
