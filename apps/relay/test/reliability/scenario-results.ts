import fs from 'node:fs';
import path from 'node:path';
import { onTestFinished } from 'vitest';

export const RESULTS_FILE = path.resolve(import.meta.dirname, '../../test-results/reliability.json');
export const RESULTS_DIR = path.resolve(import.meta.dirname, '../../test-results/.reliability-scenarios');

/** What one scenario measured; `docs/reliability.md` is written from these. */
export interface ScenarioResult {
  id: string;
  group: string;
  title: string;
  state: 'pass' | 'fail' | 'unknown';
  durationMs: number;
  faultsSurvived?: number;
  inputsTried?: number;
  requestsServed?: number;
  jobsLost?: number;
  duplicateSubmits?: number;
  secretsLeaked?: number;
  peakRssMb?: number;
  /** Free-form measurements (latencies, counts) worth reading next to the totals. */
  details?: Record<string, unknown>;
}

export type ScenarioMetrics = Omit<ScenarioResult, 'id' | 'group' | 'title' | 'state' | 'durationMs'>;

/**
 * Starts recording a scenario from inside a test; the result (with pass/fail) is written when the
 * test finishes, whatever its outcome, so a failing run still reports what it measured.
 */
export function recordScenario(group: string, id: string, title: string): ScenarioMetrics {
  const started = Date.now();
  const metrics: ScenarioMetrics = {};
  onTestFinished((ctx) => {
    const state = ctx.task.result?.state;
    const result: ScenarioResult = {
      id,
      group,
      title,
      state: state === 'pass' ? 'pass' : state === 'fail' ? 'fail' : 'unknown',
      durationMs: Date.now() - started,
      ...metrics,
    };
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    fs.writeFileSync(path.join(RESULTS_DIR, `${group}--${id}.json`), JSON.stringify(result, null, 2));
  });
  return metrics;
}

/** Whether the long variant runs (`pnpm test:reliability:full`). */
export const FULL = process.env.RETALK_RELIABILITY_FULL === '1';

/** Scales a count or duration: the fast value in CI, the full one in the full run. */
export function scaled<T>(fast: T, full: T): T {
  return FULL ? full : fast;
}
