/**
 * The Add pool form's image choice: Marketplace / Shared Image Gallery / Managed image / Custom image (a VHD in a
 * storage container), with cascading pickers.
 */
import { arm, armList, groupPath, messageOf } from '../api.ts';
import { h, swap } from '../dom.ts';
import type { Session } from '../session.ts';
import type {
  ArmResource,
  GalleryDefinition,
  GalleryVersion,
  ImageReference,
  ManagedImage,
  SupportedImage,
} from '../wire.ts';
import { idParts } from '../wire.ts';
import { replicationList } from './replication.ts';
import { VhdPicker } from './vhd-picker.ts';

export type ImageKind = 'marketplace' | 'gallery' | 'managed' | 'vhd';

export interface ImageChoice {
  kind: ImageKind;
  imageReference: ImageReference | undefined;
  /** `linux` or `windows`, when known: the node agent SKU list is filtered by it. */
  osType: string | undefined;
  /** The SKU the image itself names (marketplace images). */
  defaultSku: string | undefined;
  /** The chosen gallery version (read with its replication status), for the replica guidance. */
  version: GalleryVersion | undefined;
  /** A VHD's blob URL (kind `vhd`): the pool's managed image is made from it when the form is sent. */
  vhdUrl?: string;
}

const KINDS: [ImageKind, string][] = [
  ['marketplace', 'Marketplace'],
  ['gallery', 'Shared Image Gallery'],
  ['managed', 'Managed image'],
  ['vhd', 'Custom image (VHD)'],
];

function select(
  id: string,
  label: string,
  placeholder: string,
): { wrap: HTMLElement; el: HTMLSelectElement } {
  const el = h('select', { id, name: id }, h('option', { value: '' }, placeholder));
  return { wrap: h('div', { class: 'field' }, h('label', { for: id }, label), el), el };
}

/** Options `[value, text, os?]` after a placeholder; `data-os` carries a managed image's OS type. */
function fill(el: HTMLSelectElement, placeholder: string, options: [string, string, string?][]): void {
  el.replaceChildren(
    h('option', { value: '' }, placeholder),
    ...options.map(([value, text, os]) => h('option', { value, 'data-os': os }, text)),
  );
}

function referenceText(r: ImageReference): string {
  return `${r.publisher ?? ''} / ${r.offer ?? ''} / ${r.sku ?? ''}`;
}

/** "West Europe: Completed 100%, ..." for a version's option text. */
function replicationText(v: GalleryVersion): string {
  const regions = (v.properties.replicationStatus?.summary ?? []).map(
    (r) => `${r.region}: ${r.state} ${r.progress ?? 0}%`,
  );
  return regions.join(', ') || (v.properties.provisioningState ?? '');
}

/** State and event wiring of the image fieldset. */
class ImagePicker {
  private readonly s: Session;
  private readonly supported: SupportedImage[];
  private readonly onChange: (c: ImageChoice) => void;
  private readonly market = select('marketplace-image', 'Marketplace image', 'Choose an image');
  private readonly gallery = select('gallery', 'Gallery', 'Choose a gallery');
  private readonly definition = select('gallery-definition', 'Image definition', 'Choose a gallery first');
  private readonly version = select('gallery-version', 'Image version', 'Choose a definition first');
  private readonly managed = select('managed-image', 'Managed image', 'Choose a managed image');
  private readonly replication = h('div', { id: 'gallery-replication', 'aria-live': 'polite' });
  private readonly errorSlot = h('p', { id: 'image-error', class: 'field-error', hidden: true });
  private readonly vhd: VhdPicker;
  private readonly panels: Record<ImageKind, HTMLElement>;
  private kind: ImageKind = 'marketplace';
  private definitions: GalleryDefinition[] = [];
  private chosenVersion: GalleryVersion | undefined;

  constructor(s: Session, supported: SupportedImage[], onChange: (c: ImageChoice) => void) {
    this.s = s;
    this.supported = supported;
    this.onChange = onChange;
    fill(
      this.market.el,
      'Choose an image',
      supported.map((img, i) => [String(i), `${referenceText(img.imageReference)} (${img.osType})`]),
    );
    this.vhd = new VhdPicker(s, this.emit, this.showError);
    this.panels = {
      marketplace: h('div', { class: 'picker', id: 'picker-marketplace' }, this.market.wrap),
      gallery: h('div', { class: 'picker', id: 'picker-gallery', hidden: true }, [
        this.gallery.wrap,
        this.definition.wrap,
        this.version.wrap,
        this.replication,
      ]),
      managed: h('div', { class: 'picker', id: 'picker-managed', hidden: true }, this.managed.wrap),
      vhd: this.vhd.panel,
    };
    this.gallery.el.addEventListener('change', () => void this.galleryChosen().catch(this.showError));
    this.definition.el.addEventListener('change', () => void this.definitionChosen().catch(this.showError));
    this.version.el.addEventListener('change', () => void this.versionChosen().catch(this.showError));
    this.market.el.addEventListener('change', this.emit);
    this.managed.el.addEventListener('change', this.emit);
  }

  element(): HTMLElement {
    const radios = KINDS.map(([value, text]) => {
      const input = h('input', { type: 'radio', name: 'image-type', id: `image-type-${value}`, value });
      input.checked = value === this.kind;
      input.addEventListener('change', () => void this.kindChosen(value).catch(this.showError));
      return h('label', { class: 'radio', for: `image-type-${value}` }, input, ` ${text}`);
    });
    return h(
      'fieldset',
      { id: 'image', class: 'image-fieldset', 'aria-describedby': 'image-error' },
      h('legend', null, 'Image'),
      h('div', { class: 'radios', role: 'radiogroup', 'aria-label': 'Image type' }, radios),
      Object.values(this.panels),
      this.errorSlot,
    );
  }

  private readonly emit = (): void => {
    this.onChange(this.current());
  };

  private readonly showError = (err: unknown): void => {
    this.errorSlot.textContent = messageOf(err);
    this.errorSlot.hidden = false;
  };

  private current(): ImageChoice {
    const none = { imageReference: undefined, osType: undefined, defaultSku: undefined, version: undefined };
    if (this.kind === 'marketplace') {
      const img = this.market.el.value === '' ? undefined : this.supported[Number(this.market.el.value)];
      if (!img) return { kind: this.kind, ...none };
      const imageReference = { ...img.imageReference, version: 'latest' };
      return { ...none, kind: this.kind, imageReference, osType: img.osType, defaultSku: img.nodeAgentSKUId };
    }
    if (this.kind === 'gallery') {
      const def = this.definitions.find((d) => d.id === this.definition.el.value);
      const id = this.version.el.value;
      return {
        ...none,
        kind: this.kind,
        imageReference: id === '' ? undefined : { virtualMachineImageId: id },
        osType: def?.properties.osType.toLowerCase(),
        version: this.chosenVersion,
      };
    }
    if (this.kind === 'vhd') {
      const url = this.vhd.url();
      return { ...none, kind: this.kind, osType: 'linux', ...(url === undefined ? {} : { vhdUrl: url }) };
    }
    const id = this.managed.el.value;
    return {
      ...none,
      kind: this.kind,
      imageReference: id === '' ? undefined : { virtualMachineImageId: id },
      osType: this.managed.el.selectedOptions[0]?.dataset.os,
    };
  }

  /** Selects a gallery version or managed image by id, filling each cascading picker on the way. */
  async choose(id: string): Promise<void> {
    const { names } = idParts(id);
    const kind: ImageKind = names.galleries === undefined ? 'managed' : 'gallery';
    const radio = this.panels[kind]
      .closest('fieldset')
      ?.querySelector<HTMLInputElement>(`#image-type-${kind}`);
    if (radio) radio.checked = true;
    try {
      await this.kindChosen(kind);
      if (kind === 'managed') {
        this.managed.el.value = id;
        this.emit();
        return;
      }
      const definition = id.replace(/\/versions\/[^/]+$/i, '');
      this.gallery.el.value = definition.replace(/\/images\/[^/]+$/i, '');
      await this.galleryChosen();
      this.definition.el.value = definition;
      await this.definitionChosen();
      this.version.el.value = id;
      await this.versionChosen();
    } catch (err) {
      this.showError(err);
    }
  }

  private async kindChosen(kind: ImageKind): Promise<void> {
    this.kind = kind;
    for (const [k, panel] of Object.entries(this.panels)) panel.hidden = k !== kind;
    this.emit();
    if (kind === 'vhd') await this.vhd.load();
    if (kind === 'gallery' && this.gallery.el.options.length <= 1) {
      const list = await armList<ArmResource<unknown>>(
        this.s,
        `${groupPath(this.s)}/providers/Microsoft.Compute/galleries`,
      );
      fill(
        this.gallery.el,
        list.length === 0 ? 'No galleries' : 'Choose a gallery',
        list.map((g) => [g.id, g.name]),
      );
    }
    if (kind === 'managed' && this.managed.el.options.length <= 1) {
      const list = await armList<ManagedImage>(
        this.s,
        `${groupPath(this.s)}/providers/Microsoft.Compute/images`,
      );
      fill(
        this.managed.el,
        list.length === 0 ? 'No managed images' : 'Choose a managed image',
        list.map((img) => [img.id, img.name, img.properties.storageProfile?.osDisk?.osType?.toLowerCase()]),
      );
    }
  }

  private async galleryChosen(): Promise<void> {
    this.chosenVersion = undefined;
    fill(this.version.el, 'Choose a definition first', []);
    swap(this.replication);
    const gallery = this.gallery.el.value;
    this.definitions = gallery === '' ? [] : await armList<GalleryDefinition>(this.s, `${gallery}/images`);
    fill(
      this.definition.el,
      'Choose an image definition',
      this.definitions.map((d) => [
        d.id,
        `${d.name} (${d.properties.osType}, ${d.properties.osState ?? ''})`,
      ]),
    );
    this.emit();
  }

  private async definitionChosen(): Promise<void> {
    this.chosenVersion = undefined;
    swap(this.replication);
    const definition = this.definition.el.value;
    const listed = definition === '' ? [] : await armList<GalleryVersion>(this.s, `${definition}/versions`);
    const versions = await Promise.all(
      listed.map((v) => arm<GalleryVersion>(this.s, `${v.id}?$expand=ReplicationStatus`)),
    );
    fill(
      this.version.el,
      'Choose a version',
      versions.map((v) => [v.id, `${v.name} — ${replicationText(v)}`]),
    );
    this.emit();
  }

  private async versionChosen(): Promise<void> {
    const id = this.version.el.value;
    this.chosenVersion =
      id === '' ? undefined : await arm<GalleryVersion>(this.s, `${id}?$expand=ReplicationStatus`);
    const v = this.chosenVersion;
    swap(this.replication, v ? [h('h3', null, 'Replication status'), replicationList(v)] : null);
    this.emit();
  }
}

/**
 * The image fieldset; `onChange` gets the current choice whenever any picker changes. `choose(id)` (a gallery
 * version or managed image id, e.g. from the gallery browser's "New pool" link) walks the pickers to it.
 */
export function imagePicker(
  s: Session,
  supported: SupportedImage[],
  onChange: (c: ImageChoice) => void,
): { element: HTMLElement; choose: (id: string) => Promise<void> } {
  const picker = new ImagePicker(s, supported, onChange);
  return { element: picker.element(), choose: (id) => picker.choose(id) };
}
