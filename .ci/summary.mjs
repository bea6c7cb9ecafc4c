// Sums every workspace's vitest JSON reports (test-results/*vitest.json) into the one plain line CI reads.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const group of ['packages', 'apps']) {
  if (!existsSync(group)) continue;
  for (const name of readdirSync(group)) {
    const dir = join(group, name);
    if (!existsSync(join(dir, 'package.json'))) continue;
    const resultsDir = join(dir, 'test-results');
    const reports = existsSync(resultsDir)
      ? readdirSync(resultsDir).filter((file) => file.endsWith('vitest.json'))
      : [];
    if (reports.length === 0) {
      missing.push(dir);
      continue;
    }
    for (const file of reports) {
      const r = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
      passed += r.numPassedTests ?? 0;
      failed += r.numFailedTests ?? 0;
      skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
      // A suite that failed to load has no tests to count; count it as one failure so it cannot hide.
      for (const suite of r.testResults ?? []) {
        if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) failed += 1;
      }
    }
  }
}
for (const dir of missing) console.log(`no test report from ${dir}`);
console.log(`${passed} passed, ${failed + missing.length} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed + missing.length > 0 ? 1 : 0;
