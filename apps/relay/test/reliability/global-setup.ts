import fs from 'node:fs';
import path from 'node:path';
import { RESULTS_DIR, RESULTS_FILE, type ScenarioResult } from './scenario-results.js';

const MAIN = path.resolve(import.meta.dirname, '../../dist/main.js');

export function setup(): void {
  if (!fs.existsSync(MAIN)) {
    throw new Error(
      `The reliability suite runs the built relay (${MAIN}); build it first: npx tsc -p tsconfig.build.json`,
    );
  }
  fs.rmSync(RESULTS_DIR, { recursive: true, force: true });
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
}

/** Merges the per-scenario files the workers wrote into one report. */
export function teardown(): void {
  const scenarios: ScenarioResult[] = [];
  for (const name of fs.existsSync(RESULTS_DIR) ? fs.readdirSync(RESULTS_DIR).sort() : []) {
    scenarios.push(JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, name), 'utf8')) as ScenarioResult);
  }
  const sum = (key: keyof ScenarioResult) =>
    scenarios.reduce((n, s) => n + (typeof s[key] === 'number' ? (s[key] as number) : 0), 0);
  const report = {
    generatedAt: new Date().toISOString(),
    mode: process.env.RETALK_RELIABILITY_FULL === '1' ? 'full' : 'fast',
    node: process.version,
    totals: {
      scenarios: scenarios.length,
      passed: scenarios.filter((s) => s.state === 'pass').length,
      failed: scenarios.filter((s) => s.state !== 'pass').length,
      faultsSurvived: sum('faultsSurvived'),
      inputsTried: sum('inputsTried'),
      requestsServed: sum('requestsServed'),
      jobsLost: sum('jobsLost'),
      duplicateSubmits: sum('duplicateSubmits'),
      secretsLeaked: sum('secretsLeaked'),
      peakRssMb: Math.max(0, ...scenarios.map((s) => s.peakRssMb ?? 0)),
    },
    scenarios,
  };
  fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  fs.rmSync(RESULTS_DIR, { recursive: true, force: true });
}
