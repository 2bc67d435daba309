/** Gallery browser: galleries → image definitions → versions, with replication per region, refreshed live. */
import { arm, armList, groupPath } from '../api.ts';
import { badge, formatTime, h, swap, table } from '../dom.ts';
import { heading, type PageContext } from '../page.ts';
import type { Session } from '../session.ts';
import type { ArmResource, GalleryDefinition, GalleryVersion } from '../wire.ts';
import { replicationList } from './replication.ts';

const galleriesPath = (s: Session) => `${groupPath(s)}/providers/Microsoft.Compute/galleries`;

/** Versions of a definition, each read with `$expand=ReplicationStatus` (lists carry no replication status). */
export async function versionsOf(s: Session, definitionId: string): Promise<GalleryVersion[]> {
  const listed = await armList<GalleryVersion>(s, `${definitionId}/versions`);
  return Promise.all(listed.map((v) => arm<GalleryVersion>(s, `${v.id}?$expand=ReplicationStatus`)));
}

async function definitionBlock(s: Session, d: GalleryDefinition): Promise<HTMLElement> {
  const versions = await versionsOf(s, d.id);
  const id = d.properties.identifier;
  return h(
    'section',
    { class: 'definition', 'aria-label': `Image definition ${d.name}` },
    h('h3', null, d.name),
    h(
      'p',
      { class: 'muted' },
      `${d.properties.osType} · ${d.properties.osState ?? ''} · ${id ? `${id.publisher}/${id.offer}/${id.sku}` : ''}`,
    ),
    table(
      `Versions of ${d.name}`,
      ['Version', 'State', 'Published', 'Replication', ''],
      versions.map((v) => [
        v.name,
        badge(v.properties.provisioningState),
        formatTime(v.properties.publishingProfile?.publishedDate),
        replicationList(v),
        h(
          'a',
          {
            href: `#/pools/new?image=${encodeURIComponent(v.id)}`,
            'aria-label': `New pool from ${d.name} ${v.name}`,
          },
          'New pool',
        ),
      ]),
      'no versions.',
    ),
  );
}

async function galleryBlock(s: Session, g: ArmResource<unknown>): Promise<HTMLElement> {
  const definitions = await armList<GalleryDefinition>(s, `${g.id}/images`);
  const blocks = await Promise.all(definitions.map((d) => definitionBlock(s, d)));
  return h(
    'section',
    { class: 'card', 'aria-label': `Gallery ${g.name}` },
    h('h2', null, `Gallery ${g.name}`, h('span', { class: 'muted' }, ` · ${g.location}`)),
    blocks.length === 0 ? h('p', { class: 'empty' }, 'No image definitions.') : blocks,
  );
}

export function galleriesPage(ctx: PageContext): void {
  const box = h('div', { id: 'galleries' }, h('p', null, 'Loading…'));
  swap(ctx.main, heading('Galleries'), box);
  ctx.every(2000, async () => {
    const galleries = await armList<ArmResource<unknown>>(ctx.session, galleriesPath(ctx.session));
    const blocks = await Promise.all(galleries.map((g) => galleryBlock(ctx.session, g)));
    if (ctx.signal.aborted) return;
    swap(
      box,
      blocks.length === 0
        ? h('p', { class: 'empty' }, `No galleries in ${ctx.session.resourceGroup}.`)
        : blocks,
    );
  });
}
