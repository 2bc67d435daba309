/** Top-level Batch data-plane collections: a root-level path starting with one of these is a Batch call. */
export const ROOT_COLLECTIONS = [
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
] as const;
