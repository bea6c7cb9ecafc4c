// Gzip size of each page's JavaScript in the Chromium build: the page's entry script plus every
// chunk it preloads (what the browser actually loads when the page opens).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const OUT = new URL('../.output/chrome-mv3/', import.meta.url).pathname;
const POPUP_TARGET_BYTES = 40 * 1024;

if (!existsSync(join(OUT, 'manifest.json'))) {
  console.error(`No build at ${OUT}. Run \`pnpm build\` in apps/extension first.`);
  process.exit(1);
}

const gz = (file) => gzipSync(readFileSync(join(OUT, file)), { level: 9 }).length;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;

function pageScripts(html) {
  const text = readFileSync(join(OUT, html), 'utf8');
  const files = new Set();
  for (const match of text.matchAll(/<script[^>]+src="\/([^"]+\.js)"/g)) files.add(match[1]);
  for (const match of text.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="\/([^"]+\.js)"/g))
    files.add(match[1]);
  for (const match of text.matchAll(/<link[^>]+href="\/([^"]+\.js)"[^>]+rel="modulepreload"/g))
    files.add(match[1]);
  return [...files];
}

// Every chunk a file loads, statically or through import(), followed transitively.
function withLazyChunks(files) {
  const seen = new Set(files);
  const queue = [...files];
  while (queue.length > 0) {
    const file = queue.shift();
    const text = readFileSync(join(OUT, file), 'utf8');
    const dir = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
    for (const match of text.matchAll(/(?:from|import\(?)\s*[`"']\.\/([\w.-]+\.js)[`"']/g)) {
      const next = `${dir}${match[1]}`;
      if (!seen.has(next) && existsSync(join(OUT, next))) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return [...seen];
}

const rows = [];
const lazyRows = [];
for (const page of ['popup.html', 'picker.html', 'options.html']) {
  const files = pageScripts(page);
  rows.push({ name: page, files, bytes: files.reduce((sum, f) => sum + gz(f), 0) });
  const all = withLazyChunks(files);
  lazyRows.push({ name: page, files: all, bytes: all.reduce((sum, f) => sum + gz(f), 0) });
}
const manifest = JSON.parse(readFileSync(join(OUT, 'manifest.json'), 'utf8'));
rows.push({
  name: 'background (service worker)',
  files: [manifest.background.service_worker],
  bytes: gz(manifest.background.service_worker),
});
for (const script of manifest.content_scripts ?? []) {
  for (const file of script.js) rows.push({ name: `content script ${file}`, files: [file], bytes: gz(file) });
}

console.log('Gzip size of each page’s JavaScript (.output/chrome-mv3, level 9):');
for (const row of rows)
  console.log(
    `  ${row.name.padEnd(34)} ${kb(row.bytes).padStart(9)}  (${row.files.length} file${row.files.length === 1 ? '' : 's'})`,
  );
console.log(
  'Including chunks loaded later through import() (the popup’s relay client after first paint, mediabunny on demand):',
);
for (const row of lazyRows)
  console.log(`  ${row.name.padEnd(34)} ${kb(row.bytes).padStart(9)}  (${row.files.length} files)`);
const popup = rows[0];
const popupAll = lazyRows[0];
const ratio = popup.bytes / POPUP_TARGET_BYTES;
const ratioAll = popupAll.bytes / POPUP_TARGET_BYTES;
console.log(
  `popup first paint: ${kb(popup.bytes)} of the ${kb(POPUP_TARGET_BYTES)} target → ratio ${ratio.toFixed(2)}`,
);
console.log(
  `popup including its lazy relay client: ${kb(popupAll.bytes)} → ratio ${ratioAll.toFixed(2)} (${ratioAll <= 1 ? 'within target' : 'over target'})`,
);
