/** Which wire surface a path belongs to; decides the error envelope and the auth scheme. */
export type Surface = 'batch' | 'identity' | 'arm' | 'service';

const IDENTITY_SECOND = new Set(['oauth2', 'v2.0', '.well-known', 'discovery']);
/** Root-level Batch collections (kept in sync with api/batch/surface.ts ROOT_COLLECTIONS). */
const BATCH_ROOTS = new Set([
  'pools',
  'jobs',
  'jobschedules',
  'certificates',
  'applications',
  'supportedimages',
  'nodecounts',
  'poolusagemetrics',
  'lifetimejobstats',
  'lifetimepoolstats',
]);

export function surfaceOf(path: string): Surface {
  const clean = path.split('?')[0] ?? '/';
  const [first = '', second = ''] = clean
    .split('/')
    .filter(Boolean)
    .map((s) => s.toLowerCase());
  if (first === 'batch' || BATCH_ROOTS.has(first)) return 'batch';
  if (first === 'health') return 'service';
  if (first === 'adfs' || IDENTITY_SECOND.has(second)) return 'identity';
  return 'arm';
}
