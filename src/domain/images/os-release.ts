/** The fields of a root file system's `/etc/os-release` that say which distribution and release it is. */
export interface OsRelease {
  id: string;
  versionId: string;
  idLike: string[];
}

/** Parses os-release(5) text: `KEY=value` lines, values optionally quoted; comments and blanks skipped. */
export function parseOsRelease(text: string): OsRelease {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m?.[1]) continue;
    const raw = (m[2] ?? '').trim();
    const unquoted = /^(["'])(.*)\1$/.exec(raw)?.[2] ?? raw;
    fields.set(m[1], unquoted.replace(/\\(["'$`\\])/g, '$1'));
  }
  return {
    id: (fields.get('ID') ?? '').toLowerCase(),
    versionId: fields.get('VERSION_ID') ?? '',
    idLike: (fields.get('ID_LIKE') ?? '').toLowerCase().split(/\s+/).filter(Boolean),
  };
}

/** What `/etc/os-release` a node agent SKU (`batch.node.<family> <release>`) runs on; undefined: not known here. */
function expectedRelease(skuId: string): { ids: string[]; version: (v: string) => boolean } | undefined {
  const m = /^batch\.node\.(\S+) (\S+)$/i.exec(skuId.trim());
  const family = m?.[1]?.toLowerCase();
  const release = m?.[2]?.toLowerCase() ?? '';
  const major = (v: string) => v.split('.')[0] === release;
  switch (family) {
    case 'ubuntu':
      return { ids: ['ubuntu'], version: (v) => v === release };
    case 'debian':
      return { ids: ['debian'], version: major };
    case 'centos':
      return { ids: ['centos'], version: major };
    case 'el':
      return { ids: ['rhel', 'almalinux', 'rocky', 'ol', 'centos'], version: major };
    case 'lazurite':
      return { ids: [`lazurite-${release}`], version: () => true };
    default:
      return undefined;
  }
}

/** A release as people say it: `ubuntu 18.04`, or `no /etc/os-release`. */
export function describeRelease(r: OsRelease | undefined): string {
  if (!r || r.id === '') return 'no /etc/os-release';
  return r.versionId === '' ? r.id : `${r.id} ${r.versionId}`;
}

/**
 * Whether a root file system with this os-release can run the node agent SKU (R9): the distribution (ID, or for
 * Enterprise Linux one of ID_LIKE) and its release (Ubuntu: VERSION_ID exactly; others: the major version) must
 * be the SKU's. Undefined: Lazurite knows no os-release for the SKU (Windows), so no rule applies.
 */
export function releaseFitsSku(skuId: string, release: OsRelease | undefined): boolean | undefined {
  const want = expectedRelease(skuId);
  if (!want) return undefined;
  if (!release) return false;
  const ids = [release.id, ...(skuId.toLowerCase().startsWith('batch.node.el ') ? release.idLike : [])];
  return ids.some((id) => want.ids.includes(id)) && want.version(release.versionId);
}
