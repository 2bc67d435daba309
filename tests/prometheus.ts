import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';

/**
 * Reading a Prometheus text exposition in tests with `parse-prometheus-text-format`, which rejects malformed
 * lines (so a scrape that parses is well-formed). Its histogram output merges every label set into one sample,
 * so `histogramBuckets` parses just the lines of one series.
 */
export interface Scrape {
  families: PrometheusFamily[];
  text: string;
}

export function parseScrape(text: string): Scrape {
  return { families: parsePrometheusTextFormat(text), text };
}

export function family(scrape: Scrape, name: string): PrometheusFamily | undefined {
  return scrape.families.find((f) => f.name === name);
}

const matches = (labels: Record<string, string> | undefined, want: Record<string, string>): boolean =>
  Object.entries(want).every(([k, v]) => labels?.[k] === v);

/** Sum of the samples of a counter or gauge whose labels include `want` (0 when there is none). */
export function sampleSum(scrape: Scrape, name: string, want: Record<string, string> = {}): number {
  return (family(scrape, name)?.metrics ?? [])
    .filter((m) => matches(m.labels, want))
    .reduce((sum, m) => sum + Number(m.value ?? 0), 0);
}

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Cumulative bucket counts (`le` → count) of the histogram series of `name` with exactly these `labels`. */
export function histogramBuckets(
  scrape: Scrape,
  name: string,
  labels: Record<string, string>,
): Record<string, number> {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`);
  const lines = scrape.text.split('\n');
  const series = lines.filter(
    (l) =>
      l.startsWith(`${name}_bucket{`) &&
      pairs.every((p) => l.includes(p)) &&
      (l.match(/="/g) ?? []).length === pairs.length + 1,
  );
  const header = lines.filter((l) => l === `# TYPE ${name} histogram`);
  const [parsed] = parsePrometheusTextFormat([...header, ...series, ''].join('\n'));
  const buckets = parsed?.metrics[0]?.buckets ?? {};
  return Object.fromEntries(Object.entries(buckets).map(([le, n]) => [le, Number(n)]));
}
