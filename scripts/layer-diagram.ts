import { LAYERS, targetOf, type Layer } from '../layers.ts';

/**
 * The layer map's section of `docs/architecture.md`, drawn from `layers.ts` (ADR 0036): a Mermaid flowchart of
 * the allowed imports and a table of the layers. `npm run docs:layers` writes it between the markers;
 * `tests/lint/layers-doc.test.ts` fails when the document's copy is not what this renders.
 */
export const BEGIN = '<!-- layer map: generated from layers.ts by `npm run docs:layers`; do not edit -->';
export const END = '<!-- end of layer map -->';

const id = (name: string) => name.replace(/[^A-Za-z0-9]/g, '_');

function edges(layer: Layer): string[] {
  return layer.mayImport.map((entry) => {
    const { layer: to, part } = targetOf(entry);
    return part === undefined
      ? `  ${id(layer.name)} --> ${id(to)}`
      : `  ${id(layer.name)} -->|${part}| ${id(to)}`;
  });
}

function row(layer: Layer): string {
  const folders = layer.folders.map((f) => `\`${f.replace(/^src\//, '')}/\``).join(', ');
  const parts = Object.entries(layer.parts ?? {})
    .map(
      ([name, files]) =>
        ` Part \`${name}\`: ${files.map((f) => `\`${f.replace(/^src\//, '')}\``).join(', ')}.`,
    )
    .join('');
  const may =
    layer.mayImport.length === 0 ? 'nothing else' : layer.mayImport.map((m) => `\`${m}\``).join(', ');
  return `| \`${layer.name}\` | ${folders} | ${layer.what}.${parts} | ${may} |`;
}

/** The generated section, markers included. */
export function renderLayerSection(layers: readonly Layer[] = LAYERS): string {
  return [
    BEGIN,
    '```mermaid',
    'flowchart TD',
    ...layers.map((l) => `  ${id(l.name)}["${l.name}"]`),
    ...layers.flatMap(edges),
    '```',
    '',
    '| layer | folders (under `src/`) | what | may import (`layer/part`: only that part) |',
    '|---|---|---|---|',
    ...layers.map(row),
    END,
  ].join('\n');
}

/** `doc` with its section replaced by `section`; throws when the markers are missing. */
export function withLayerSection(doc: string, section: string = renderLayerSection()): string {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error('docs/architecture.md has no layer map markers');
  return doc.slice(0, start) + section + doc.slice(end + END.length);
}
