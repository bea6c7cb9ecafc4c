import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startRelay } from './harness.js';

// The simulated job runs until the test moves the simulator's clock (after enough polls were
// seen), so how many polls happen does not depend on how busy the machine is.
const JOB_MS = 600_000;
const POLL_MS = 100;
const POLLS_BEFORE_END = 5;

describe('the tracker', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({
      provider: 'evolink',
      jobMs: JOB_MS,
      pollIntervalMs: POLL_MS,
      // 50 live streams of one member: above the default cap of 10 (findings L7).
      env: { RETALK_RATE_LIMIT_PER_MINUTE: '100000', RETALK_MAX_STREAMS_PER_MEMBER: '100' },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  async function runWatched(
    getWatchers: number,
    sseWatchers: number,
  ): Promise<{ queries: number; sseEvents: number; trackedMs: number }> {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const stop = new AbortController();
    let sseEvents = 0;
    // Every event stream is open (its response has started) before the job exists, so each one can
    // see all of the job's changes however slowly a loaded machine connects them.
    const streams = await Promise.all(
      Array.from({ length: sseWatchers }, () =>
        fetch(`${h.url}/v1/events`, {
          headers: { authorization: `Bearer ${h.token}` },
          signal: stop.signal,
        }),
      ),
    );
    const sse = streams.map(async (res) => {
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          sseEvents += (decoder.decode(value).match(/event: job/g) ?? []).length;
        }
      } catch {
        // aborted at the end of the test
      }
    });
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    const id = created.json.id as string;
    const readers = Array.from({ length: getWatchers }, async () => {
      while (!stop.signal.aborted) {
        const res = await fetch(`${h.url}/v1/jobs/${id}`, {
          headers: { authorization: `Bearer ${h.token}` },
        });
        const job = (await res.json()) as { status: string };
        if (job.status === 'succeeded') return;
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    const submitted = await h.waitForJob(id, (j) => j.upstreamId !== undefined, 45_000);
    const queriesOf = () => h.sim.stats().tasks[submitted.upstreamId as string]?.queries ?? 0;
    await expect.poll(queriesOf, { timeout: 60_000 }).toBeGreaterThanOrEqual(POLLS_BEFORE_END);
    h.sim.advanceTime(JOB_MS);
    const done = await h.waitForJob(id, (j) => j.status === 'succeeded', 45_000);
    await Promise.all(readers);
    stop.abort();
    await Promise.allSettled(sse);
    const queries = h.sim.stats().tasks[done.upstreamId as string]?.queries ?? -1;
    const record = await h.relay.context.store.getJob(id);
    const trackedMs = (record?.updatedAt ?? 0) - (record?.submittedAt ?? 0);
    return { queries, sseEvents, trackedMs };
  }

  it('makes one upstream poll per interval, with 1 watcher and with 100 watchers alike', {
    timeout: 120_000,
  }, async () => {
    const one = await runWatched(1, 0);
    const hundred = await runWatched(50, 50);
    expect(one.queries).toBeGreaterThan(POLLS_BEFORE_END);
    // Watchers never add upstream reads: with 1 watcher or 100, at most one poll per interval over
    // the time the job was tracked (±2 at the job's edges). Each run is judged against its own
    // tracked time: comparing the two runs' counts judged how busy the machine was during each.
    for (const run of [one, hundred]) {
      expect(run.queries).toBeLessThanOrEqual(Math.ceil(run.trackedMs / POLL_MS) + 2);
    }
    // And the 50 SSE watchers were really live: each saw the job's changes pushed.
    expect(hundred.sseEvents).toBeGreaterThanOrEqual(50 * 3);
  });
});
