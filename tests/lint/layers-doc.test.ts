import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { LAYERS } from '../../layers.ts';
import { BEGIN, END, renderLayerSection, withLayerSection } from '../../scripts/layer-diagram.ts';

/** docs/architecture.md's layer map is the one layers.ts draws (`npm run docs:layers` redraws it; ADR 0036). */
describe('the layer map in docs/architecture.md', () => {
  const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

  test('is up to date with layers.ts', () => {
    assert.equal(withLayerSection(doc), doc, 'run npm run docs:layers');
  });

  test('draws every allowed import as an edge, and a changed map changes the section', () => {
    const section = renderLayerSection();
    assert.ok(section.startsWith(BEGIN) && section.endsWith(END));
    assert.match(section, /^ {2}api --> domain$/m);
    assert.match(section, /^ {2}domain -->\|port\| storage$/m);
    assert.doesNotMatch(section, /^ {2}domain --> backends_adapters$/m);
    const edges = LAYERS.reduce((n, l) => n + l.mayImport.length, 0);
    assert.equal(section.split('\n').filter((line) => /^ {2}\w+ -->/.test(line)).length, edges);
    const widened = LAYERS.map((l) =>
      l.name === 'domain' ? { ...l, mayImport: [...l.mayImport, 'api'] } : l,
    );
    assert.notEqual(withLayerSection(doc, renderLayerSection(widened)), doc);
  });
});
