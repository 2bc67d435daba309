/**
 * Case-insensitive keys: Batch ids and ARM names match regardless of case, so the store (`*_key` columns) and the
 * domain (maps of pools, nodes, jobs) look them up by these lower-cased forms. The one place that says how a key
 * is made (ADR 0003: keys instead of collations, which differ between SQLite and PostgreSQL).
 */

/** The key of one name or id: lower case. */
export const caseKey = (s: string): string => s.toLowerCase();

/** The key of a compound name (`account|pool|node`): its parts' keys joined by `|`. */
export const compoundKey = (...parts: string[]): string => parts.map(caseKey).join('|');

/** The key of an ARM resource id: lower case, no trailing slash. */
export const resourceIdKey = (id: string): string => caseKey(id).replace(/\/+$/, '');

/** The key of an RBAC scope: lower case, no trailing slash; the root scope stays "/". */
export const scopeKey = (scope: string): string => {
  const k = resourceIdKey(scope);
  return k === '' ? '/' : k;
};
