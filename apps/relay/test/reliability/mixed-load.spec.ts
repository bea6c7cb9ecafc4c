import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildRelay, fixture, sleep, TERMINAL, tempDir } from './child-relay.js';
import { FULL, recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

const DURATION_MS = FULL ? Number(process.env.RETALK_SOAK_MS ?? 180_000) : 20_000;
const GC_PROBE = path.resolve(import.meta.dirname, 'gc-probe.mjs');
const gcFile = path.join(tempDir('retalk-rel-gc-'), 'heap.jsonl');

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

describe('the relay under sustained mixed load', () => {
  let stack: Stack;
  let relay: ChildRelay;
  const tokens: string[] = [];

  beforeAll(async () => {
    stack = await startStack('evolink', { jobMs: 300 });
    relay = await stack.relay({
      env: {
        RETALK_RATE_LIMIT_PER_MINUTE: '6000',
        RETALK_LOG_LEVEL: 'warn',
        RETALK_TEST_GC_PROBE_FILE: gcFile,
      },
      nodeArgs: ['--expose-gc', '--import', GC_PROBE],
    });
    for (let i = 0; i < 6; i++) tokens.push(await relay.addMember(`member${i}`, { maxConcurrentJobs: 3 }));
  });
  afterAll(async () => {
    await stack.close();
    fs.rmSync(path.dirname(gcFile), { recursive: true, force: true });
  });

  it(`serves status reads, SSE watchers, uploads and submits for ${Math.round(DURATION_MS / 1000)} s with no errors beyond designed 429s and no memory growth trend`, async () => {
    const rec = recordScenario(
      'load',
      'mixed-load',
      `${Math.round(DURATION_MS / 1000)} s of 8 status readers, 12 SSE watchers, 2 uploaders and 3 submitters over 6 members`,
    );
    const counts: Record<string, number> = {};
    const unexpected: string[] = [];
    const jobIds: { id: string; token: string; atMs: number }[] = [];
    let sseEvents = 0;
    let running = true;
    const tally = (kind: string, status: number, allowed: number[]) => {
      counts[`${kind} ${status}`] = (counts[`${kind} ${status}`] ?? 0) + 1;
      if (!allowed.includes(status) && unexpected.length < 50) unexpected.push(`${kind} ${status}`);
    };
    const guard = async (kind: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (error) {
        if (running && unexpected.length < 50) unexpected.push(`${kind} threw ${(error as Error).message}`);
      }
    };
    const tokenOf = (i: number) => tokens[i % tokens.length] as string;
    // A well-behaved client waits as long as a 429's Retry-After asks.
    const backOff = async (res: {
      status: number;
      headers: Record<string, string | string[] | undefined>;
    }) => {
      if (res.status === 429) await sleep(Math.min(10_000, Number(res.headers['retry-after'] ?? 1) * 1_000));
    };

    const readers = Array.from({ length: 8 }, (_, i) =>
      (async () => {
        while (running) {
          await guard('read', async () => {
            const mine = jobIds.filter((j) => j.token === tokenOf(i));
            const pick = mine[Math.floor(Math.random() * mine.length)];
            if (pick) {
              const res = await relay.api('GET', `/v1/jobs/${pick.id}`, { token: pick.token });
              tally('GET job', res.status, [200, 429]);
              await backOff(res);
            }
            const list = await relay.api('GET', '/v1/jobs?limit=20', { token: tokenOf(i) });
            tally('GET jobs', list.status, [200, 429]);
            await backOff(list);
          });
          await sleep(40);
        }
      })(),
    );
    // Watchers keep reading after the load ends, until every job's end has reached one of them
    // (events lost: 0), however few jobs a loaded machine got through.
    let watching = true;
    let resets = 0;
    const endsSeen = new Set<string>();
    const watchers = Array.from({ length: 12 }, (_, i) =>
      (async () => {
        // From the member's first event on: a watcher connecting late on a busy machine misses nothing.
        let lastId = '0';
        while (watching) {
          await guard('sse', async () => {
            const controller = new AbortController();
            const headers: Record<string, string> = { authorization: `Bearer ${tokenOf(i)}` };
            if (lastId) headers['last-event-id'] = lastId;
            const res = await fetch(`${relay.url}/v1/events`, { headers, signal: controller.signal });
            tally('SSE', res.status, [200, 429]);
            if (res.status !== 200) {
              await res.body?.cancel();
              await sleep(Number(res.headers.get('retry-after') ?? 1) * 1_000);
              return;
            }
            const reader = res.body?.getReader();
            // Reconnect every few seconds with Last-Event-ID, as a flaky network would.
            const until = Date.now() + 3_000 + Math.random() * 4_000;
            let buffer = '';
            // One read stays pending across the 500 ms checks: dropping it would drop its chunk.
            let pending = reader?.read();
            while (watching && Date.now() < until) {
              const chunk = await Promise.race([pending, sleep(500).then(() => undefined)]);
              if (!chunk) continue;
              if (chunk.done) break;
              pending = reader?.read();
              buffer += Buffer.from(chunk.value).toString('utf8');
              // Only whole events (ended by a blank line) count; the rest waits for the next chunk.
              const end = buffer.lastIndexOf('\n\n');
              if (end < 0) continue;
              for (const event of buffer.slice(0, end).split('\n\n')) {
                const id = /^id: (\d+)$/m.exec(event)?.[1];
                if (id) lastId = id;
                if (/^event: ready$/m.test(event)) {
                  const ready = JSON.parse(/^data: (.*)$/m.exec(event)?.[1] ?? '{}') as {
                    lastEventId?: string | null;
                  };
                  if (ready.lastEventId) lastId = ready.lastEventId;
                }
                if (/^event: reset$/m.test(event)) {
                  // What a client does on a reset: refetch the list (its ends count as seen).
                  resets++;
                  const list = await relay.api('GET', '/v1/jobs?limit=100', { token: tokenOf(i) });
                  for (const j of (list.json?.jobs ?? []) as { id: string; status: string }[])
                    if (TERMINAL.includes(j.status)) endsSeen.add(j.id);
                }
                if (!/^event: job$/m.test(event)) continue;
                sseEvents++;
                const data = /^data: (.*)$/m.exec(event)?.[1];
                const job = data
                  ? (JSON.parse(data) as { job?: { id: string; status: string } }).job
                  : undefined;
                if (job && TERMINAL.includes(job.status)) endsSeen.add(job.id);
              }
              buffer = buffer.slice(end + 2);
            }
            pending?.catch(() => undefined);
            controller.abort();
          });
        }
      })(),
    );
    const uploaders = Array.from({ length: 2 }, (_, i) =>
      (async () => {
        while (running) {
          await guard('upload', async () => {
            const [kind, name, type] =
              i === 0
                ? ['video', 'talking-640x640-25fps-3s.mp4', 'video/mp4']
                : ['audio', 'speech-4s.wav', 'audio/wav'];
            const res = await relay.api('PUT', `/v1/uploads?kind=${kind}&filename=${name}`, {
              token: tokenOf(i),
              rawBody: fixture(name),
              headers: { 'content-type': type },
            });
            tally('PUT upload', res.status, [201, 429]);
            await backOff(res);
          });
          await sleep(400);
        }
      })(),
    );
    const submitters = Array.from({ length: 3 }, (_, i) =>
      (async () => {
        while (running) {
          await guard('submit', async () => {
            const token = tokenOf(i);
            const res = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs() });
            tally('POST job', res.status, [201, 429]);
            if (res.status === 201) jobIds.push({ id: res.json.id, token, atMs: Date.now() });
            // too_many_jobs is the designed answer while 3 jobs run; only the rate limit asks to wait.
            if (res.json?.error?.code === 'rate_limited') await backOff(res);
          });
          await sleep(150);
        }
      })(),
    );

    const started = Date.now();
    let lastGcAt = 0;
    while (Date.now() - started < DURATION_MS) {
      await sleep(1_000);
      if (!relay.alive()) break;
      if (Date.now() - lastGcAt >= DURATION_MS / 20) {
        lastGcAt = Date.now();
        process.kill(relay.pid, 'SIGUSR2');
      }
    }
    running = false;
    await Promise.all([...readers, ...uploaders, ...submitters]);
    const jobs = await Promise.all(
      jobIds.map((j) => relay.waitForJob(j.id, j.token, (b) => TERMINAL.includes(b.status), 60_000)),
    );
    // A cap, not a wait: the watchers stop as soon as every end was seen.
    const endsBy = Date.now() + 60_000;
    while (jobIds.some((j) => !endsSeen.has(j.id)) && Date.now() < endsBy) await sleep(100);
    watching = false;
    await Promise.all(watchers);
    const endsMissed = jobIds.filter((j) => !endsSeen.has(j.id)).map((j) => j.id);

    // Memory: after a warm-up fifth, compare the first and last thirds and fit a line.
    const samples = relay.rssSamples.filter((s) => s.atMs > 3_000);
    const window = samples.slice(Math.floor(samples.length / 5));
    const third = Math.max(1, Math.floor(window.length / 3));
    const mean = (xs: { kb: number }[]) => xs.reduce((s, x) => s + x.kb, 0) / xs.length / 1024;
    const firstMb = mean(window.slice(0, third));
    const lastMb = mean(window.slice(-third));
    const mbPerMinute = slope(window.map((s) => ({ x: s.atMs / 60_000, y: s.kb / 1024 })));
    // Live heap after a full GC, sampled every twentieth of the run; the first quarter is warm-up.
    const heap = fs
      .readFileSync(gcFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { atMs: number; heapUsed: number });
    const heapWindow = heap.slice(Math.floor(heap.length / 4));
    const heapStartMb = (heapWindow[0]?.heapUsed ?? 0) / 1_048_576;
    const heapEndMb = (heapWindow.at(-1)?.heapUsed ?? 0) / 1_048_576;
    const heapMbPerMinute = slope(heapWindow.map((h) => ({ x: h.atMs / 60_000, y: h.heapUsed / 1_048_576 })));
    // The only state meant to grow with jobs is the writer's job-JSON cache (bounded at 10 000
    // entries, ~3 KB each); live heap growing faster than that per job would be a leak.
    const windowStart = heapWindow[0]?.atMs ?? 0;
    const windowEnd = heapWindow.at(-1)?.atMs ?? 0;
    const jobsInWindow = jobIds.filter((j) => j.atMs >= windowStart && j.atMs <= windowEnd).length;
    const heapKbPerJob = ((heapEndMb - heapStartMb) * 1024) / Math.max(1, jobsInWindow);
    const requests = Object.values(counts).reduce((a, b) => a + b, 0);
    const submits = stack.sim.stats().submits;
    Object.assign(rec, {
      ...relayTotals([relay]),
      requestsServed: requests,
      jobsLost: jobs.filter((j) => !TERMINAL.includes(j.status)).length,
      duplicateSubmits: Math.max(0, submits - jobIds.length),
      details: {
        durationMs: DURATION_MS,
        counts,
        sseEvents,
        sseEndsMissed: endsMissed.length,
        sseResets: resets,
        jobs: jobIds.length,
        succeeded: jobs.filter((j) => j.status === 'succeeded').length,
        rssFirstThirdMb: Math.round(firstMb * 10) / 10,
        rssLastThirdMb: Math.round(lastMb * 10) / 10,
        rssSlopeMbPerMinute: Math.round(mbPerMinute * 100) / 100,
        heapAfterGcStartMb: Math.round(heapStartMb * 10) / 10,
        heapAfterGcEndMb: Math.round(heapEndMb * 10) / 10,
        heapAfterGcSlopeMbPerMinute: Math.round(heapMbPerMinute * 100) / 100,
        heapSamples: heap.length,
        jobsInHeapWindow: jobsInWindow,
        heapKbPerJob: Math.round(heapKbPerJob * 100) / 100,
        unexpected,
      },
    });
    expect(relay.alive()).toBe(true);
    expect(unexpected).toEqual([]);
    expect(jobs.every((j) => j.status === 'succeeded')).toBe(true);
    expect(submits).toBe(jobIds.length);
    // Every job's end reached its member's watchers, and they saw more than one event per job.
    expect(endsMissed).toEqual([]);
    expect(sseEvents).toBeGreaterThan(jobIds.length);
    expect(heap.length).toBeGreaterThanOrEqual(15);
    // 4 KB per job, with a 4 MB floor for GC noise in short runs (the 20 s CI run creates ~150 jobs;
    // under load 20 the heap after GC moved 2.37 MB with no trend). The full run's soak, with its
    // thousands of jobs, is where a per-job leak shows.
    expect(heapEndMb - heapStartMb).toBeLessThan(Math.max(4, (jobsInWindow * 4) / 1024));
    expect(heapEndMb).toBeLessThan(64);
    expect(lastMb - firstMb).toBeLessThan(FULL ? 25 : 40);
    expect(relay.peakRssMb()).toBeLessThan(400);
    expect(rec.secretsLeaked).toBe(0);
  });
});
