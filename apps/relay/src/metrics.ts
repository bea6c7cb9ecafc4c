import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The relay's Prometheus metrics, on `prom-client`: its own counters and latencies, gauges read at
 * scrape time, and the process metrics admins expect from a Node service (CPU, memory, event-loop
 * lag, GC, handles; `process_*` and `nodejs_*`).
 */
export interface Metrics {
  inc(name: CounterName, labels?: Record<string, string>, by?: number): void;
  observe(name: HistogramName, labels: Record<string, string>, seconds: number): void;
  /** Renders every metric plus the given gauges (computed at scrape time) in the text format. */
  render(gauges: GaugeValues[]): Promise<string>;
  /** The text format's content type (with its version). */
  readonly contentType: string;
}

export interface GaugeValues {
  name: string;
  help: string;
  values: { labels: Record<string, string>; value: number }[];
}

const COUNTERS = {
  retalk_http_requests_total: {
    help: 'HTTP requests answered, by route and status',
    labels: ['route', 'status'],
  },
  retalk_upstream_requests_total: {
    help: 'Calls to the provider, by operation and outcome',
    labels: ['op', 'outcome'],
  },
  retalk_upstream_submits_total: {
    help: 'Jobs sent to the provider, by pool upstream',
    labels: ['upstream'],
  },
  retalk_upstream_errors_total: {
    help: 'Failed calls to the provider, by pool upstream, operation and error code',
    labels: ['upstream', 'op', 'code'],
  },
  retalk_jobs_created_total: { help: 'Jobs accepted', labels: [] },
  retalk_archive_total: { help: 'Result archiving attempts, by outcome', labels: ['outcome'] },
  retalk_upload_bytes_total: { help: 'Bytes received in uploads', labels: [] },
  retalk_internal_errors_total: { help: 'Requests that ended in an unexpected error (a bug)', labels: [] },
} as const;

const HISTOGRAMS = {
  retalk_upstream_request_seconds: {
    help: 'Latency of calls to the provider, by operation',
    labels: ['op'],
    // Provider calls take tens of milliseconds to tens of seconds (uploads, slow answers).
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  },
} as const;

export type CounterName = keyof typeof COUNTERS;
export type HistogramName = keyof typeof HISTOGRAMS;

export function createMetrics(
  options: {
    processMetrics?: boolean;
    /**
     * Labels every series with `relay_instance` (several instances on one database), so one
     * dashboard tells them apart. Not `instance`: Prometheus sets that itself from the scrape target.
     */
    instance?: (() => string) | undefined;
  } = {},
): Metrics {
  const registry = new Registry();
  // Several relays in one test process each get their own registry; the process metrics are
  // per process, so only a relay that owns its process collects them.
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const counters = new Map<string, Counter<string>>();
  for (const [name, def] of Object.entries(COUNTERS)) {
    counters.set(
      name,
      new Counter({ name, help: def.help, labelNames: [...def.labels], registers: [registry] }),
    );
  }
  const histograms = new Map<string, Histogram<string>>();
  for (const [name, def] of Object.entries(HISTOGRAMS)) {
    histograms.set(
      name,
      new Histogram({
        name,
        help: def.help,
        labelNames: [...def.labels],
        buckets: [...def.buckets],
        registers: [registry],
      }),
    );
  }
  // Scrape-time gauges: registered on first render, their values replaced on every render.
  const gauges = new Map<string, Gauge<string>>();

  return {
    contentType: registry.contentType,
    inc(name, labels = {}, by = 1) {
      (counters.get(name) as Counter<string>).inc(labels, by);
    },
    observe(name, labels, seconds) {
      (histograms.get(name) as Histogram<string>).observe(labels, seconds);
    },
    async render(values) {
      // Named at render: an instance's name is known once it listens.
      if (options.instance) registry.setDefaultLabels({ relay_instance: options.instance() });
      for (const g of values) {
        let gauge = gauges.get(g.name);
        if (!gauge) {
          const labelNames = [...new Set(g.values.flatMap((v) => Object.keys(v.labels)))];
          gauge = new Gauge({ name: g.name, help: g.help, labelNames, registers: [registry] });
          gauges.set(g.name, gauge);
        }
        gauge.reset();
        for (const v of g.values) gauge.set(v.labels, v.value);
      }
      return registry.metrics();
    },
  };
}
