/**
 * The large-pool planner (`lazurite plan` in the browser): the seeds' replica and resize-timeout guidance with
 * predictions from the simulated backend's allocation model (the server's own planner module, served as is).
 */
import { DEFAULT_PLAN_MODEL, PREDICTION_COLUMNS, planPool, planRows, type Plan } from 'lazurite/planner';
import { h, svg, swap, table } from '../dom.ts';
import { heading, section, type PageContext } from '../page.ts';
import { field, input } from './form-fields.ts';

const minutes = (ms: number): string => {
  const total = Math.round(ms / 1000);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m === 0 ? `${String(s)} s` : s === 0 ? `${String(m)} min` : `${String(m)} min ${String(s)} s`;
};

/** Time to steady by replica count: one bar per count, the recommended one marked. */
function curveChart(plan: Plan): HTMLElement {
  const width = 480;
  const height = 140;
  const max = Math.max(...plan.curve.map((c) => c.steadyMs), 1);
  const barWidth = width / plan.curve.length;
  const bars = plan.curve.map((c, i) => {
    const barHeight = Math.max(1, (c.steadyMs / max) * (height - 20));
    const cls =
      c.replicas === plan.recommendedReplicas ? 'bar recommended' : c.timedOut ? 'bar timed-out' : 'bar';
    return svg(
      'rect',
      { x: i * barWidth + 1, y: height - barHeight, width: barWidth - 2, height: barHeight, class: cls },
      svg(
        'title',
        null,
        `${String(c.replicas)} replicas: ${minutes(c.steadyMs)}${c.timedOut ? ' (timed out)' : ''}`,
      ),
    );
  });
  return h(
    'figure',
    { class: 'chart-figure' },
    svg(
      'svg',
      { viewBox: `0 0 ${String(width)} ${String(height)}`, role: 'img', class: 'chart plan-chart' },
      bars,
    ),
    h(
      'figcaption',
      null,
      `Time to steady for 1 … ${String(plan.curve.length)} replicas (${minutes(plan.curve[0]?.steadyMs ?? 0)} … ${minutes(plan.curve.at(-1)?.steadyMs ?? 0)}); the recommended count is highlighted.`,
    ),
  );
}

function render(plan: Plan): HTMLElement[] {
  return [
    h(
      'dl',
      { class: 'facts', id: 'plan-guidance' },
      h('dt', null, 'Minimum replicas'),
      h('dd', null, `${String(plan.minimumReplicas)} (one per 300 nodes)`),
      h('dt', null, 'Recommended replicas'),
      h('dd', null, `${String(plan.recommendedReplicas)} (more than the minimum, +20 %)`),
      h('dt', null, 'Minimum resize timeout'),
      h('dd', null, `${minutes(plan.minimumResizeTimeoutMs)} (15 minutes per 1,000 nodes)`),
      h('dt', null, 'Recommended resize timeout'),
      h('dd', null, `${minutes(plan.recommendedResizeTimeoutMs)} (covers the predicted allocation 1.5×)`),
    ),
    table(
      'Predictions',
      PREDICTION_COLUMNS.map((c) => c.charAt(0).toUpperCase() + c.slice(1)),
      planRows(plan, { duration: minutes, share: (a, n) => `${String(a)} / ${String(n)}` }),
    ),
    curveChart(plan),
  ];
}

const number = (form: HTMLFormElement, id: string): number | undefined => {
  const v = (form.elements.namedItem(id) as HTMLInputElement | null)?.value.trim() ?? '';
  return v === '' ? undefined : Number(v);
};

export function planPage(ctx: PageContext): void {
  const form = h(
    'form',
    { class: 'form', id: 'plan-form', novalidate: true },
    field('plan-nodes', 'Nodes', input('plan-nodes', 'number', ctx.query.get('nodes') ?? '3000', { min: 1 })),
    field('plan-replicas', 'Replicas you have (optional)', input('plan-replicas', 'number', '', { min: 1 })),
    field(
      'plan-timeout',
      'Resize timeout you have, minutes (optional)',
      input('plan-timeout', 'number', '', { min: 5 }),
    ),
    field(
      'plan-capacity',
      'Concurrent node copies per replica',
      input('plan-capacity', 'number', '25', { min: 1 }),
    ),
    field(
      'plan-copy',
      'Copy time per node, seconds',
      input('plan-copy', 'number', String(DEFAULT_PLAN_MODEL.copyMs / 1000), { min: 0 }),
    ),
    field(
      'plan-boot',
      'Boot time per node, seconds',
      input('plan-boot', 'number', String(DEFAULT_PLAN_MODEL.bootMs / 1000), { min: 0 }),
    ),
    field(
      'plan-start',
      'Start task per node, seconds',
      input('plan-start', 'number', String(DEFAULT_PLAN_MODEL.startTaskMs / 1000), { min: 0 }),
    ),
    h('p', { class: 'actions' }, h('button', { type: 'submit' }, 'Plan')),
  );
  const result = h('div', { id: 'plan-result', 'aria-live': 'polite' });
  const update = () => {
    const nodes = number(form, 'plan-nodes') ?? 0;
    if (!Number.isInteger(nodes) || nodes < 1) {
      swap(result, h('p', { class: 'error', role: 'alert' }, 'Nodes must be a whole number of at least 1.'));
      return;
    }
    const replicas = number(form, 'plan-replicas');
    const timeout = number(form, 'plan-timeout');
    const plan = planPool(
      nodes,
      {
        ...DEFAULT_PLAN_MODEL,
        capacityPerReplica: Math.max(1, number(form, 'plan-capacity') ?? 25),
        copyMs: (number(form, 'plan-copy') ?? 60) * 1000,
        bootMs: (number(form, 'plan-boot') ?? 60) * 1000,
        startTaskMs: (number(form, 'plan-start') ?? 30) * 1000,
      },
      {
        ...(replicas === undefined ? {} : { replicas }),
        ...(timeout === undefined ? {} : { resizeTimeoutMs: timeout * 60_000 }),
      },
    );
    swap(result, ...render(plan));
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    update();
  });
  swap(
    ctx.main,
    heading('Plan a large pool'),
    section('Settings', 'plan-settings', form),
    section('Plan', 'plan-output', result),
    h(
      'p',
      { class: 'hint' },
      'Predictions use the simulated backend’s allocation model: replicas × capacity nodes copy their disks at once, then boot and run the start task. The durations are assumptions; change them to match your image. Same as `lazurite plan` on the command line.',
    ),
  );
  update();
}
