/** A custom image and every disk of it: a gallery version's storage profile, or the managed image behind it. */
import { arm } from '../api.ts';
import { facts, h, table, type Child } from '../dom.ts';
import type { Session } from '../session.ts';
import {
  idParts,
  type GalleryVersion,
  type ImageReference,
  type ManagedDisk,
  type ManagedImage,
} from '../wire.ts';
import { replicationList } from './replication.ts';

interface DiskRow {
  role: string;
  osType?: string | undefined;
  osState?: string | undefined;
  sizeGB?: number | undefined;
  caching?: string | undefined;
  source: string;
}

const short = (id: string | undefined) => (id === undefined ? '—' : (id.split('/').at(-1) ?? id));

async function diskSize(s: Session, d: ManagedDisk): Promise<number | undefined> {
  if (d.diskSizeGB !== undefined || d.managedDisk?.id === undefined) return d.diskSizeGB;
  try {
    return (await arm<{ properties: { diskSizeGB?: number } }>(s, d.managedDisk.id)).properties.diskSizeGB;
  } catch {
    return undefined;
  }
}

async function managedImageDisks(s: Session, image: ManagedImage): Promise<DiskRow[]> {
  const profile = image.properties.storageProfile ?? {};
  const all = [...(profile.osDisk ? [profile.osDisk] : []), ...(profile.dataDisks ?? [])];
  const sizes = await Promise.all(all.map((d) => diskSize(s, d)));
  return all.map((d, i) => ({
    role: d === profile.osDisk ? 'OS disk' : `Data disk (LUN ${d.lun ?? '?'})`,
    osType: d.osType,
    osState: d.osState,
    sizeGB: sizes[i],
    caching: d.caching,
    source: short(d.managedDisk?.id ?? d.snapshot?.id ?? d.blobUri),
  }));
}

function versionDisks(version: GalleryVersion): DiskRow[] {
  const p = version.properties.storageProfile ?? {};
  const os = p.osDiskImage;
  return [
    ...(os
      ? [{ role: 'OS disk', sizeGB: os.sizeInGB, caching: os.hostCaching, source: short(os.source?.id) }]
      : []),
    ...(p.dataDiskImages ?? []).map((d) => ({
      role: `Data disk (LUN ${d.lun ?? '?'})`,
      sizeGB: d.sizeInGB,
      caching: d.hostCaching,
      source: short(d.source?.id),
    })),
  ];
}

function disksTable(rows: DiskRow[]): HTMLElement {
  return table(
    'Disks of the image',
    ['Disk', 'OS', 'Size', 'Caching', 'Source'],
    rows.map((r) => [
      r.role,
      [r.osType, r.osState].filter(Boolean).join(' ') || '—',
      r.sizeGB === undefined ? '—' : `${r.sizeGB} GiB`,
      r.caching ?? '—',
      r.source,
    ]),
  );
}

/** The full resource id on its own line (too long for a grid cell). */
function idLine(id: string): HTMLElement {
  return h('p', { class: 'id-line' }, h('span', { class: 'muted' }, 'Image id '), h('code', null, id));
}

/** The image section of a pool page (gallery version or managed image), with its disks. */
export async function imageSection(s: Session, ref: ImageReference): Promise<Child> {
  const id = ref.virtualMachineImageId;
  if (id === undefined)
    return facts([
      ['Marketplace image', [ref.publisher, ref.offer, ref.sku, ref.version ?? 'latest'].join(' ')],
    ]);
  const { names } = idParts(id);
  if (names.galleries === undefined) {
    const image = await arm<ManagedImage>(s, id);
    return [
      facts([['Managed image', image.name]]),
      idLine(id),
      disksTable(await managedImageDisks(s, image)),
    ];
  }
  const versionId = names.versions === undefined ? `${id}/versions/${ref.exactVersion ?? ''}` : id;
  const version = await arm<GalleryVersion>(s, `${versionId}?$expand=ReplicationStatus`);
  let rows = versionDisks(version);
  const source = version.properties.storageProfile?.source?.id;
  if (
    rows.length === 0 &&
    source !== undefined &&
    idParts(source).names.images !== undefined &&
    idParts(source).names.galleries === undefined
  ) {
    rows = await managedImageDisks(s, await arm<ManagedImage>(s, source));
  }
  return [
    facts([
      ['Gallery', names.galleries],
      ['Image definition', names.images ?? '—'],
      ['Version', version.name],
      ['Source', short(source)],
      ['Replication', replicationList(version)],
    ]),
    idLine(id),
    disksTable(rows),
  ];
}
