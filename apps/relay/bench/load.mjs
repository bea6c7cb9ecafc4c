// Load generator, run as its own process so it never shares an event loop with the server under
// test. Loopback only, bounded in time. Input: one JSON argument; output: one JSON line.
import { Pool } from 'undici';

const o = JSON.parse(process.argv[2]);
const target = new URL(o.url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) throw new Error('loopback targets only');
const pool = new Pool(target.origin, { connections: o.connections, pipelining: 1 });
const latencies = [];
let errors = 0;
let statusErrors = 0;

const pending = new Map();
let unanswered = 0;

async function one() {
  const start = performance.now();
  const token = {};
  pending.set(token, start);
  try {
    const res = await pool.request({
      path: target.pathname + target.search,
      method: 'GET',
      headers: o.headers,
    });
    await res.body.dump();
    if (res.statusCode !== 200) statusErrors++;
    latencies.push(performance.now() - start);
  } catch {
    errors++;
  } finally {
    pending.delete(token);
  }
}

/** Waits for requests still out, at most `ms`; those still unanswered count with the time they waited. */
async function settle(all, ms) {
  let timer;
  await Promise.race([all, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
  const now = performance.now();
  for (const start of pending.values()) {
    latencies.push(now - start);
    unanswered++;
  }
}

const started = performance.now();
// `untilStdinEnd`: run until the parent closes our stdin (at most durationMs), to cover work of unknown length.
let stopped = false;
if (o.untilStdinEnd) {
  process.stdin.on('end', () => {
    stopped = true;
  });
  process.stdin.resume();
}
const running = () => !stopped && performance.now() - started < o.durationMs;
if (o.mode === 'rate') {
  // Open loop: requests are sent on schedule whether or not earlier ones have finished.
  let sent = 0;
  const inflight = new Set();
  while (running()) {
    const due = Math.floor(((performance.now() - started) * o.rate) / 1000);
    while (sent < due) {
      const p = one().finally(() => inflight.delete(p));
      inflight.add(p);
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  // Stopped by the parent: a relay frozen by a probe may hold requests for minutes; they count as waited so far.
  if (o.untilStdinEnd) await settle(Promise.all(inflight), 2_000);
  else await Promise.all(inflight);
} else {
  await Promise.all(
    Array.from({ length: o.connections }, async () => {
      while (running()) await one();
    }),
  );
}
const elapsedMs = performance.now() - started;
if (unanswered > 0) await pool.destroy();
else await pool.close();
latencies.sort((a, b) => a - b);
const pct = (p) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    errors,
    statusErrors,
    rps: latencies.length / (elapsedMs / 1000),
    p50: pct(50),
    p99: pct(99),
    max: latencies.at(-1) ?? Number.NaN,
    unanswered,
  })}\n`,
);
