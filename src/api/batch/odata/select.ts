// Batch `$select`: which properties of each returned entity to keep — top-level names, or nested paths
// (`executionInfo/exitCode`) that keep one property of an object property.
import { QueryError } from './errors.ts';

const SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses a comma-separated `$select` of property paths (trimmed; the first segment matched case-insensitively
 * against `allowedTopLevel` and given its canonical spelling, deeper segments `/`-separated names) without
 * duplicates. Absent, blank or `*` selects everything (undefined). An unknown or empty name throws QueryError.
 */
export function parseSelect(
  text: string | undefined,
  allowedTopLevel: readonly string[],
): string[] | undefined {
  if (text === undefined || text.trim() === '' || text.trim() === '*') return undefined;
  const canonical = new Map(allowedTopLevel.map((name) => [name.toLowerCase(), name]));
  const selected: string[] = [];
  for (const raw of text.split(',')) {
    const path = raw.trim();
    if (path === '') throw new QueryError('$select', 'The select list contains an empty property name.');
    const [first = '', ...rest] = path.split('/');
    const found = canonical.get(first.toLowerCase());
    if (found === undefined || rest.some((s) => !SEGMENT.test(s)))
      throw new QueryError('$select', `The property '${path}' cannot be selected.`);
    const full = [found, ...rest].join('/');
    if (!selected.includes(full)) selected.push(full);
  }
  return selected;
}

/** The value at `path` of `source` (undefined when a step is missing or not an object). */
function at(source: unknown, path: readonly string[]): unknown {
  let value = source;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Puts `value` at `path` of `target`, making the objects on the way (never replacing a whole property kept). */
function put(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

/** A copy of `entity` holding only the selected properties (and nested ones) it has; all when nothing is selected. */
export function applySelect<T extends object>(
  entity: T,
  selected: readonly string[] | undefined,
): Partial<T> {
  if (selected === undefined) return { ...entity };
  const out: Record<string, unknown> = {};
  const whole = new Set(selected.filter((p) => !p.includes('/')));
  for (const key of whole) {
    const value = at(entity, [key]);
    if (value !== undefined) out[key] = value;
  }
  for (const path of selected.filter((p) => p.includes('/'))) {
    const parts = path.split('/');
    if (whole.has(parts[0] ?? '')) continue;
    const value = at(entity, parts);
    if (value !== undefined) put(out, parts, value);
  }
  return out as Partial<T>;
}
