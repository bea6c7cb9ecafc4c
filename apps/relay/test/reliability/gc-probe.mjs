// Preloaded into the relay child (`node --expose-gc --import`) by the load test: on SIGUSR2 it runs a
// full garbage collection and appends the heap figures to RETALK_TEST_GC_PROBE_FILE, so memory is
// judged on live objects, not on how lazily V8 returns pages.
import fs from 'node:fs';

const out = process.env.RETALK_TEST_GC_PROBE_FILE;
if (out) {
  process.on('SIGUSR2', () => {
    globalThis.gc?.();
    const m = process.memoryUsage();
    fs.appendFileSync(
      out,
      `${JSON.stringify({ atMs: Date.now(), heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers })}\n`,
    );
  });
}
