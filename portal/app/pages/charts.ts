/** Pool size and running tasks over time, sampled by the page's polling and drawn as inline SVG. */
import { h, svg } from '../dom.ts';

export interface Sample {
  t: number;
  size: number;
  target: number;
  running: number;
}

const history = new Map<string, Sample[]>();
const KEEP = 360;

/** Adds a sample to a pool's history (kept per browser tab while the portal is open) and returns it. */
export function record(poolId: string, sample: Sample): Sample[] {
  const samples = history.get(poolId) ?? [];
  samples.push(sample);
  if (samples.length > KEEP) samples.splice(0, samples.length - KEEP);
  history.set(poolId, samples);
  return samples;
}

interface Series {
  label: string;
  values: number[];
  className: string;
}

const W = 600;
const H = 160;
const PAD = { left: 36, right: 8, top: 10, bottom: 22 };

function points(values: number[], max: number): string {
  const n = Math.max(values.length - 1, 1);
  const x = (i: number) => PAD.left + ((W - PAD.left - PAD.right) * i) / n;
  const y = (v: number) => H - PAD.bottom - ((H - PAD.top - PAD.bottom) * v) / max;
  return values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
}

function lineChart(title: string, samples: Sample[], series: Series[]): HTMLElement {
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const seconds =
    samples.length > 1 ? Math.round(((samples.at(-1)?.t ?? 0) - (samples[0]?.t ?? 0)) / 1000) : 0;
  const last = series.map((s) => `${s.label} ${s.values.at(-1) ?? 0}`).join(', ');
  const chart = svg(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-label': `${title}: now ${last}; last ${seconds} s`,
      class: 'chart',
    },
    svg('title', null, title),
    svg('line', { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom, class: 'axis' }),
    svg('line', { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom, class: 'axis' }),
    svg('text', { x: PAD.left - 6, y: PAD.top + 8, class: 'tick', 'text-anchor': 'end' }, String(max)),
    svg('text', { x: PAD.left - 6, y: H - PAD.bottom, class: 'tick', 'text-anchor': 'end' }, '0'),
    svg('text', { x: W - PAD.right, y: H - 4, class: 'tick', 'text-anchor': 'end' }, 'now'),
    svg('text', { x: PAD.left, y: H - 4, class: 'tick' }, `−${seconds} s`),
    series.map((s) => svg('polyline', { points: points(s.values, max), class: `series ${s.className}` })),
  );
  return h(
    'figure',
    { class: 'chart-figure' },
    chart,
    h(
      'figcaption',
      null,
      title,
      ': ',
      series.map((s) => h('span', { class: `key ${s.className}` }, `${s.label} ${s.values.at(-1) ?? 0} `)),
    ),
  );
}

/** The two charts of a pool page. */
export function poolCharts(samples: Sample[]): HTMLElement {
  return h(
    'div',
    { class: 'charts' },
    lineChart('Pool size', samples, [
      { label: 'nodes', values: samples.map((s) => s.size), className: 'size' },
      { label: 'target', values: samples.map((s) => s.target), className: 'target' },
    ]),
    lineChart('Running tasks', samples, [
      { label: 'running', values: samples.map((s) => s.running), className: 'running' },
    ]),
  );
}
