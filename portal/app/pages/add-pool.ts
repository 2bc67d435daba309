/** The Add pool form: image, node agent SKU, size, targets, resize timeout, start task; server errors by field. */
import { recommendedReplicas, recommendedResizeTimeoutMs, NODES_PER_REPLICA } from 'lazurite/sizing-guidance';
import { VM_SIZES } from 'lazurite/vm-sizes';
import { batch, batchList } from '../api.ts';
import { h } from '../dom.ts';
import { crumbs, heading, type PageContext } from '../page.ts';
import type { SupportedImage } from '../wire.ts';
import { clearErrors, field, input, showServerError } from './form-fields.ts';
import { imagePicker, type ImageChoice } from './image-pickers.ts';
import { imageFromVhd } from './vhd-picker.ts';
import { replicasIn } from './replication.ts';

/** Which form field a property the server names belongs to (by its last path segment, case-insensitive). */
const FIELD_OF_PROPERTY: Record<string, string> = {
  id: 'pool-id',
  vmsize: 'vm-size',
  nodeagentskuid: 'node-agent-sku',
  imagereference: 'image',
  virtualmachineimageid: 'image',
  publisher: 'image',
  offer: 'image',
  sku: 'image',
  virtualmachineconfiguration: 'image',
  targetdedicatednodes: 'dedicated',
  targetlowprioritynodes: 'low-priority',
  resizetimeout: 'resize-timeout',
  starttask: 'start-command',
  commandline: 'start-command',
};

function fieldForProperty(property: string | undefined): string | undefined {
  if (property === undefined) return undefined;
  const last = property.split(/[./]/).at(-1)?.toLowerCase() ?? '';
  return FIELD_OF_PROPERTY[last];
}

function skuOptions(
  el: HTMLSelectElement | null,
  supported: SupportedImage[],
  choice: ImageChoice | undefined,
): void {
  if (el === null) return;
  const os = choice?.osType;
  const skus = [
    ...new Set(supported.filter((i) => os === undefined || i.osType === os).map((i) => i.nodeAgentSKUId)),
  ];
  const keep = skus.includes(el.value) ? el.value : (choice?.defaultSku ?? '');
  el.replaceChildren(
    h(
      'option',
      { value: '' },
      os === undefined ? 'Choose an image first' : `Choose a node agent SKU (${os})`,
    ),
    ...skus.map((sku) => h('option', { value: sku }, sku)),
  );
  el.value = keep;
}

interface FormControls {
  form: HTMLFormElement;
  value(id: string): string;
  checked(id: string): boolean;
}

/** The request body from the form; empty fields are left out so the server names what is missing. */
function poolBody(c: FormControls, choice: ImageChoice | undefined): Record<string, unknown> {
  const num = (id: string) => (c.value(id) === '' ? undefined : Number(c.value(id)));
  const command = c.value('start-command');
  const timeout = num('resize-timeout');
  const body: Record<string, unknown> = {
    id: c.value('pool-id') || undefined,
    vmSize: c.value('vm-size') || undefined,
    virtualMachineConfiguration: {
      imageReference: choice?.imageReference ?? {},
      nodeAgentSKUId: c.value('node-agent-sku') || undefined,
    },
    targetDedicatedNodes: num('dedicated'),
    targetLowPriorityNodes: num('low-priority'),
    resizeTimeout: timeout === undefined ? undefined : `PT${timeout}M`,
  };
  if (command !== '') {
    body.startTask = {
      commandLine: command,
      waitForSuccess: c.checked('start-wait'),
      ...(c.checked('start-elevated')
        ? { userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'admin' } } }
        : {}),
    };
  }
  return body;
}

/** Resize timeout from the 15-minutes-per-1,000-nodes guidance, until the user types their own. */
function sizingGuidance(
  c: FormControls,
  choice: () => ImageChoice | undefined,
  location: string,
): () => void {
  const timeout = c.form.querySelector('#resize-timeout') as HTMLInputElement;
  const warning = c.form.querySelector('#replica-warning') as HTMLElement;
  const summary = c.form.querySelector('#sizing-guidance') as HTMLElement;
  let edited = false;
  timeout.addEventListener('input', () => (edited = true));
  return () => {
    const nodes = (Number(c.value('dedicated')) || 0) + (Number(c.value('low-priority')) || 0);
    if (!edited) timeout.value = String(Math.round(recommendedResizeTimeoutMs(nodes) / 60_000));
    const version = choice()?.version;
    const replicas = version === undefined ? undefined : replicasIn(version, location);
    const needed = recommendedReplicas(nodes);
    const minutes = Math.round(recommendedResizeTimeoutMs(nodes) / 60_000);
    summary.textContent = `Guidance for ${nodes} node(s): at least ${needed} image replica(s) in the account's region and a ${minutes}-minute resize timeout.`;
    warning.hidden = replicas === undefined || replicas >= needed;
    warning.textContent =
      replicas === undefined
        ? ''
        : `This version has ${replicas} replica(s) in ${location}; ${nodes} nodes need at least ${needed} (one per ${NODES_PER_REPLICA} nodes). Nodes will start slowly; add replicas to the version first.`;
  };
}

function formFields(imageFieldset: HTMLElement): HTMLElement[] {
  const sizes = h(
    'select',
    { id: 'vm-size', name: 'vm-size' },
    h('option', { value: '' }, 'Choose a VM size'),
  );
  for (const s of VM_SIZES)
    sizes.appendChild(
      h(
        'option',
        { value: s.name },
        `${s.name} (${s.cores} ${s.cores === 1 ? 'core' : 'cores'}, ${s.memoryMB / 1024} GiB)`,
      ),
    );
  const sku = h('select', { id: 'node-agent-sku', name: 'node-agent-sku' });
  return [
    field('pool-id', 'Pool ID', input('pool-id', 'text', '', { autocomplete: 'off', spellcheck: 'false' })),
    imageFieldset,
    field('node-agent-sku', 'Node agent SKU', sku, 'Only SKUs for the image’s operating system are listed.'),
    field('vm-size', 'VM size', sizes),
    h(
      'div',
      { class: 'row' },
      field(
        'dedicated',
        'Dedicated nodes',
        input('dedicated', 'number', '0', { min: 0, inputmode: 'numeric' }),
      ),
      field(
        'low-priority',
        'Low-priority nodes',
        input('low-priority', 'number', '0', { min: 0, inputmode: 'numeric' }),
      ),
    ),
    field(
      'resize-timeout',
      'Resize timeout (minutes)',
      input('resize-timeout', 'number', '15', { min: 5 }),
      'Prefilled from the guidance: 15 minutes per 1,000 nodes.',
    ),
    h('p', { id: 'sizing-guidance', class: 'hint', 'aria-live': 'polite' }),
    h('p', { id: 'replica-warning', class: 'warning', role: 'status', hidden: true }),
    h(
      'fieldset',
      { class: 'start-task' },
      h('legend', null, 'Start task'),
      field(
        'start-command',
        'Command line',
        h('textarea', { id: 'start-command', name: 'start-command', rows: 2, spellcheck: 'false' }),
      ),
      h(
        'label',
        { class: 'check', for: 'start-elevated' },
        input('start-elevated', 'checkbox'),
        ' Run elevated (admin)',
      ),
      h(
        'label',
        { class: 'check', for: 'start-wait' },
        Object.assign(input('start-wait', 'checkbox'), { checked: true }),
        ' Wait for success before tasks run',
      ),
    ),
  ];
}

export async function addPoolPage(ctx: PageContext): Promise<void> {
  const s = ctx.session;
  const supported = await batchList<SupportedImage>(s, '/supportedimages');
  let choice: ImageChoice | undefined;
  const guidance: { update?: () => void } = {};
  const picker = imagePicker(s, supported, (c) => {
    choice = c;
    skuOptions(form.querySelector<HTMLSelectElement>('#node-agent-sku'), supported, c);
    guidance.update?.();
  });
  const banner = h('p', { id: 'form-error', class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit' }, 'Create pool');
  const form = h(
    'form',
    { class: 'card pool-form', novalidate: true },
    formFields(picker.element),
    banner,
    submit,
  );
  const controls: FormControls = {
    form,
    value: (id) => form.querySelector<HTMLInputElement>(`#${id}`)?.value.trim() ?? '',
    checked: (id) => form.querySelector<HTMLInputElement>(`#${id}`)?.checked ?? false,
  };
  skuOptions(form.querySelector<HTMLSelectElement>('#node-agent-sku'), supported, undefined);
  const update = sizingGuidance(controls, () => choice, s.location);
  guidance.update = update;
  form.addEventListener('input', (e) => {
    if ((e.target as HTMLElement).id === 'dedicated' || (e.target as HTMLElement).id === 'low-priority')
      update();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(form);
    banner.hidden = true;
    submit.disabled = true;
    const body = poolBody(controls, choice);
    const vhd = choice?.kind === 'vhd' ? choice.vhdUrl : undefined;
    const image =
      vhd === undefined || typeof body.id !== 'string'
        ? Promise.resolve()
        : imageFromVhd(s, `${body.id}-vhd`, vhd).then((id) => {
            body.virtualMachineConfiguration = {
              ...(body.virtualMachineConfiguration as Record<string, unknown>),
              imageReference: { virtualMachineImageId: id },
            };
          });
    image
      .then(() => batch(s, 'POST', '/pools', body))
      .then(
        () => (location.hash = `#/pools/${encodeURIComponent(String(body.id))}`),
        (err: unknown) => {
          submit.disabled = false;
          showServerError(form, banner, err, {
            fieldOf: fieldForProperty,
            failed: 'The pool was not created',
          });
        },
      );
  });
  ctx.main.replaceChildren(crumbs([['Pools', '#/pools']]), heading('Add pool'), form);
  update();
  const preselect = ctx.query.get('image');
  if (preselect !== null) void picker.choose(preselect);
}
