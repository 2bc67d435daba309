import { ROOT_COLLECTIONS } from '../batch/collections.ts';

/** Which wire surface a path belongs to; decides the error envelope and the auth scheme. */
export type Surface = 'batch' | 'identity' | 'arm' | 'service';

const IDENTITY_SECOND = new Set(['oauth2', 'v2.0', '.well-known', 'discovery']);
const BATCH_ROOTS: ReadonlySet<string> = new Set(ROOT_COLLECTIONS);

export function surfaceOf(path: string): Surface {
  const clean = path.split('?')[0] ?? '/';
  const [first = '', second = ''] = clean
    .split('/')
    .filter(Boolean)
    .map((s) => s.toLowerCase());
  // `/certificates(thumbprintAlgorithm=…,thumbprint=…)`: an entity in OData key form belongs to its collection.
  if (first === 'batch' || BATCH_ROOTS.has(first.replace(/\(.*$/, ''))) return 'batch';
  if (first === 'health' || first === 'agent' || first === 'metrics' || first === 'portal') return 'service';
  if (first === 'adfs' || IDENTITY_SECOND.has(second)) return 'identity';
  return 'arm';
}
