// Batch `$select`: which top-level properties of each returned entity to keep.
import { QueryError } from './errors.ts';

/**
 * Parses a comma-separated `$select` of top-level property names (trimmed, matched case-insensitively)
 * into their canonical spellings from `allowedTopLevel`, without duplicates. Absent, blank or `*` selects
 * everything (undefined). An unknown or empty name throws QueryError for `$select`.
 */
export function parseSelect(
  text: string | undefined,
  allowedTopLevel: readonly string[],
): string[] | undefined {
  if (text === undefined || text.trim() === '' || text.trim() === '*') return undefined;
  const canonical = new Map(allowedTopLevel.map((name) => [name.toLowerCase(), name]));
  const selected: string[] = [];
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (name === '') throw new QueryError('$select', 'The select list contains an empty property name.');
    const found = canonical.get(name.toLowerCase());
    if (found === undefined) throw new QueryError('$select', `The property '${name}' cannot be selected.`);
    if (!selected.includes(found)) selected.push(found);
  }
  return selected;
}

/** A shallow copy of `entity` holding only the selected keys that it has; all keys when nothing is selected. */
export function applySelect<T extends object>(
  entity: T,
  selected: readonly string[] | undefined,
): Partial<T> {
  if (selected === undefined) return { ...entity };
  const source = entity as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of selected) {
    if (Object.hasOwn(source, key) && source[key] !== undefined) out[key] = source[key];
  }
  return out as Partial<T>;
}
