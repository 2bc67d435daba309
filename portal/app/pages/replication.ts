/** Replication of a gallery image version, per region, as progress bars. */
import { h } from '../dom.ts';
import type { GalleryVersion } from '../wire.ts';

/** Replicas a version has in a region: the region's own count, else the version's default. */
export function replicasIn(version: GalleryVersion, region: string): number {
  const norm = (r: string) => r.replace(/\s+/g, '').toLowerCase();
  const p = version.properties.publishingProfile;
  const target = p?.targetRegions?.find((t) => norm(t.name) === norm(region));
  if (target === undefined) return 0;
  return target.regionalReplicaCount ?? p?.replicaCount ?? 1;
}

export function replicationList(version: GalleryVersion): HTMLElement {
  const summary = version.properties.replicationStatus?.summary ?? [];
  const targets = version.properties.publishingProfile?.targetRegions ?? [];
  if (summary.length === 0)
    return h('span', { class: 'muted' }, version.properties.provisioningState ?? 'unknown');
  return h(
    'ul',
    { class: 'replication' },
    summary.map((r) => {
      const replicas = replicasIn(version, r.region);
      const label = `${r.region}: ${r.state} ${r.progress ?? 0}%`;
      return h(
        'li',
        { 'data-region': r.region, 'data-state': r.state },
        h(
          'span',
          null,
          `${label}${replicas > 0 ? ` · ${replicas} replica${replicas === 1 ? '' : 's'}` : ''}`,
        ),
        h('progress', { max: 100, value: r.progress ?? 0, 'aria-label': label }),
        r.details ? h('span', { class: 'muted' }, ` ${r.details}`) : null,
      );
    }),
    targets.length > summary.length ? h('li', { class: 'muted' }, `${targets.length} target regions`) : null,
  );
}
