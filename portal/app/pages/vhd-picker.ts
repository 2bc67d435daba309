/**
 * The Add pool form's "Custom image (VHD)" source, as the 2017 portal had it: pick a storage account of the
 * subscription, a container (`system`, where the save step writes VHDs) and a VHD in it. The browser lists the
 * container on the account's blob endpoint with the account's key (ARM `listKeys`, Shared Key signed here with
 * WebCrypto); the blob service must allow this origin (CORS). Creating the pool first makes a managed image from
 * the VHD's URL (Compute reads it with the account's key), then a pool from that image.
 */
import { arm, armList, armSend, groupPath } from '../api.ts';
import { h } from '../dom.ts';
import type { Session } from '../session.ts';

interface StorageAccount {
  id: string;
  name: string;
  properties: { primaryEndpoints?: { blob?: string } };
}
interface ManagedImageState {
  id: string;
  properties: { provisioningState?: string };
}

const STORAGE_VERSION = '2021-12-02';

function field(id: string, label: string, control: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

async function hmacBase64(keyBase64: string, text: string): Promise<string> {
  const raw = Uint8Array.from(atob(keyBase64), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...sig));
}

/** The names of the blobs in `container` whose names end in `.vhd` (List Blobs, Shared Key). */
async function listVhds(
  account: string,
  endpoint: string,
  key: string,
  container: string,
): Promise<string[]> {
  const url = new URL(`${endpoint.replace(/\/*$/, '/')}${encodeURIComponent(container)}`);
  url.search = 'restype=container&comp=list';
  const date = new Date().toUTCString();
  const resource = `/${account}${url.pathname}\ncomp:list\nrestype:container`;
  const toSign = `GET\n${'\n'.repeat(11)}x-ms-date:${date}\nx-ms-version:${STORAGE_VERSION}\n${resource}`;
  const res = await fetch(url, {
    headers: {
      'x-ms-date': date,
      'x-ms-version': STORAGE_VERSION,
      authorization: `SharedKey ${account}:${await hmacBase64(key, toSign)}`,
    },
  });
  if (!res.ok) throw new Error(`Listing container '${container}' answered ${String(res.status)}.`);
  const xml = new DOMParser().parseFromString(await res.text(), 'application/xml');
  return [...xml.querySelectorAll('Blobs > Blob > Name')]
    .map((n) => n.textContent)
    .filter((n) => n.toLowerCase().endsWith('.vhd'));
}

/** The fields of the VHD source and what they chose. */
export class VhdPicker {
  private readonly s: Session;
  private readonly onChange: () => void;
  private readonly showError: (err: unknown) => void;
  private readonly account = h(
    'select',
    { id: 'vhd-account' },
    h('option', { value: '' }, 'Choose a storage account'),
  );
  private readonly container = h('input', { id: 'vhd-container', type: 'text', value: 'system' });
  private readonly browse = h('button', { type: 'button', id: 'vhd-browse' }, 'Browse');
  private readonly vhd = h(
    'select',
    { id: 'vhd-blob' },
    h('option', { value: '' }, 'Browse a container first'),
  );
  private accounts: StorageAccount[] = [];
  readonly panel: HTMLElement;

  constructor(s: Session, onChange: () => void, showError: (err: unknown) => void) {
    this.s = s;
    this.onChange = onChange;
    this.showError = showError;
    this.panel = h('div', { class: 'picker', id: 'picker-vhd', hidden: true }, [
      field('vhd-account', 'Storage account', this.account),
      field('vhd-container', 'Container', this.container),
      this.browse,
      field('vhd-blob', 'VHD', this.vhd),
    ]);
    this.browse.addEventListener('click', () => void this.list().catch(this.showError));
    this.vhd.addEventListener('change', this.onChange);
  }

  /** Fills the storage account list (once). */
  async load(): Promise<void> {
    if (this.account.options.length > 1) return;
    this.accounts = await armList<StorageAccount>(
      this.s,
      `/subscriptions/${this.s.subscriptionId}/providers/Microsoft.Storage/storageAccounts`,
    );
    this.account.replaceChildren(
      h(
        'option',
        { value: '' },
        this.accounts.length === 0 ? 'No storage accounts' : 'Choose a storage account',
      ),
      ...this.accounts.map((a) => h('option', { value: a.id }, a.name)),
    );
  }

  private async list(): Promise<void> {
    const a = this.accounts.find((x) => x.id === this.account.value);
    const endpoint = a?.properties.primaryEndpoints?.blob;
    if (!a || endpoint === undefined) throw new Error('Choose a storage account first.');
    const keys = await armSend<{ keys: { value: string }[] }>(this.s, 'POST', `${a.id}/listKeys`);
    const key = keys?.keys[0]?.value ?? '';
    const container = this.container.value.trim();
    const names = await listVhds(a.name, endpoint, key, container);
    const base = `${endpoint.replace(/\/*$/, '/')}${encodeURIComponent(container)}/`;
    this.vhd.replaceChildren(
      h('option', { value: '' }, names.length === 0 ? 'No VHDs in this container' : 'Choose a VHD'),
      ...names.map((n) =>
        h('option', { value: `${base}${n.split('/').map(encodeURIComponent).join('/')}` }, n),
      ),
    );
    this.onChange();
  }

  /** The chosen VHD's URL, or undefined. */
  url(): string | undefined {
    return this.vhd.value === '' ? undefined : this.vhd.value;
  }
}

/**
 * A managed image of the resource group made from the VHD at `url` (Generalized Linux OS disk), once Compute has
 * read it: its id, for the pool's `virtualMachineImageId`.
 */
export async function imageFromVhd(s: Session, name: string, url: string): Promise<string> {
  const id = `${groupPath(s)}/providers/Microsoft.Compute/images/${encodeURIComponent(name)}`;
  await armSend(s, 'PUT', id, {
    location: s.location,
    properties: { storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized', blobUri: url } } },
  });
  for (;;) {
    const image = await arm<ManagedImageState>(s, id);
    const state = image.properties.provisioningState;
    if (state === 'Succeeded') return image.id;
    if (state === 'Failed') throw new Error(`The image from '${url}' could not be made.`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
