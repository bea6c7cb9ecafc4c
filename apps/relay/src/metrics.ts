/** A small Prometheus text-format registry: counters and summaries keyed by label sets. */
export interface Metrics {
  inc(name: string, labels?: Record<string, string>, by?: number): void;
  observe(name: string, labels: Record<string, string>, seconds: number): void;
  /** Renders every metric plus the given gauges (computed at scrape time). */
  render(
    gauges: { name: string; help: string; values: { labels: Record<string, string>; value: number }[] }[],
  ): string;
}

const HELP: Record<string, string> = {
  retalk_http_requests_total: 'HTTP requests answered, by route and status',
  retalk_upstream_requests_total: 'Calls to the provider, by operation and outcome',
  retalk_upstream_request_seconds: 'Latency of calls to the provider',
  retalk_jobs_created_total: 'Jobs accepted',
  retalk_archive_total: 'Result archiving attempts, by outcome',
  retalk_upload_bytes_total: 'Bytes received in uploads',
};

const keyCache = new Map<string, string>();

function key(labels: Record<string, string>): string {
  // Hot path (one call per HTTP response): label sets repeat, so memoize their rendering.
  const raw = Object.values(labels).join('\u0000') + Object.keys(labels).join('\u0000');
  let rendered = keyCache.get(raw);
  if (rendered === undefined) {
    rendered = renderKey(labels);
    if (keyCache.size < 5_000) keyCache.set(raw, rendered);
  }
  return rendered;
}

const renderKey = (labels: Record<string, string>) =>
  Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');

export function createMetrics(): Metrics {
  const counters = new Map<string, Map<string, number>>();
  const summaries = new Map<string, Map<string, { sum: number; count: number }>>();
  return {
    inc(name, labels = {}, by = 1) {
      let series = counters.get(name);
      if (!series) {
        series = new Map();
        counters.set(name, series);
      }
      const k = key(labels);
      series.set(k, (series.get(k) ?? 0) + by);
    },
    observe(name, labels, seconds) {
      let series = summaries.get(name);
      if (!series) {
        series = new Map();
        summaries.set(name, series);
      }
      const k = key(labels);
      const s = series.get(k) ?? { sum: 0, count: 0 };
      s.sum += seconds;
      s.count++;
      series.set(k, s);
    },
    render(gauges) {
      const lines: string[] = [];
      for (const [name, series] of counters) {
        lines.push(`# HELP ${name} ${HELP[name] ?? name}`, `# TYPE ${name} counter`);
        for (const [k, v] of series) lines.push(`${name}${k ? `{${k}}` : ''} ${v}`);
      }
      for (const [name, series] of summaries) {
        lines.push(`# HELP ${name} ${HELP[name] ?? name}`, `# TYPE ${name} summary`);
        for (const [k, v] of series) {
          lines.push(
            `${name}_sum${k ? `{${k}}` : ''} ${v.sum}`,
            `${name}_count${k ? `{${k}}` : ''} ${v.count}`,
          );
        }
      }
      for (const g of gauges) {
        lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
        for (const v of g.values) {
          const k = key(v.labels);
          lines.push(`${g.name}${k ? `{${k}}` : ''} ${v.value}`);
        }
      }
      return `${lines.join('\n')}\n`;
    },
  };
}
