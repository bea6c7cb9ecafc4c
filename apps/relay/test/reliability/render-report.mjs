// Prints the results table of docs/reliability.md from test-results/reliability.json:
//   node test/reliability/render-report.mjs > /tmp/table.md
import fs from 'node:fs';
import path from 'node:path';

const file = path.resolve(import.meta.dirname, '../../test-results/reliability.json');
const report = JSON.parse(fs.readFileSync(file, 'utf8'));
const cell = (v) => (v === undefined || v === null ? '–' : String(v));
const lines = [];
lines.push(
  `Run: ${report.generatedAt} · mode \`${report.mode}\` · Node ${report.node} · ${report.totals.passed}/${report.totals.scenarios} scenarios passed`,
  '',
  '| group | scenario | result | faults survived | inputs tried | requests served | jobs lost | duplicate submits | secrets leaked | peak RSS (MB) | time (s) |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
);
for (const s of report.scenarios) {
  lines.push(
    `| ${s.group} | ${s.title} (\`${s.id}\`) | ${s.state === 'pass' ? 'pass' : `**${s.state}**`} | ${cell(s.faultsSurvived)} | ${cell(s.inputsTried)} | ${cell(s.requestsServed)} | ${cell(s.jobsLost)} | ${cell(s.duplicateSubmits)} | ${cell(s.secretsLeaked)} | ${cell(s.peakRssMb)} | ${(s.durationMs / 1000).toFixed(1)} |`,
  );
}
const t = report.totals;
lines.push(
  `| **total** | | ${t.passed}/${t.scenarios} | ${t.faultsSurvived} | ${t.inputsTried} | ${t.requestsServed} | ${t.jobsLost} | ${t.duplicateSubmits} | ${t.secretsLeaked} | ${t.peakRssMb} | |`,
);
process.stdout.write(`${lines.join('\n')}\n`);
