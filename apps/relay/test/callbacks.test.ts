import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startRelay } from './harness.js';

describe('provider callbacks', () => {
  let h: Harness;
  beforeAll(async () => {
    // Polling is slow on purpose: only callbacks can make the tracker read the task early.
    h = await startRelay({ provider: 'evolink', jobMs: 1_200, pollIntervalMs: 60_000 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('wake the tracker, which re-reads the task instead of trusting the unsigned body', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    const submitted = await h.waitForJob(created.json.id, (j) => j.upstreamId !== undefined);
    const upstreamId = submitted.upstreamId as string;
    expect(h.sim.stats().tasks[upstreamId]?.queries ?? 0).toBe(0);
    const token = (await h.relay.context.store.getJob(created.json.id))?.callbackToken as string;

    // A forged "completed" body: the relay must not believe it.
    const forged = await h.api('POST', `/v1/callbacks/${token}`, {
      token: null,
      body: { id: upstreamId, status: 'completed', progress: 100, results: ['https://evil.example/x.mp4'] },
    });
    expect(forged.status).toBe(204);
    // The wake makes the tracker read the task once (polling alone would wait a minute).
    await expect.poll(() => h.sim.stats().tasks[upstreamId]?.queries ?? 0, { timeout: 10_000 }).toBe(1);
    const early = await h.api('GET', `/v1/jobs/${created.json.id}`);
    expect(early.json.status).not.toBe('succeeded');
    expect(early.json.result).toBeUndefined();

    // The simulated task takes 1.2 s of real time from its submit, which was before the wait above.
    await new Promise((r) => setTimeout(r, 1_300));
    const real = await h.api('POST', `/v1/callbacks/${token}`, {
      token: null,
      rawBody: 'not even json',
      headers: { 'content-type': 'text/plain' },
    });
    expect(real.status).toBe(204);
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded', 5_000);
    expect(done.result?.archived).toBe(true);
    expect(h.sim.stats().tasks[upstreamId]?.queries).toBe(2);
  });

  it('folds a flood of callbacks into at most one upstream read per second (findings L8)', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    const submitted = await h.waitForJob(created.json.id, (j) => j.upstreamId !== undefined);
    const upstreamId = submitted.upstreamId as string;
    const token = (await h.relay.context.store.getJob(created.json.id))?.callbackToken as string;
    const queries = () => h.sim.stats().tasks[upstreamId]?.queries ?? 0;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => h.api('POST', `/v1/callbacks/${token}`, { token: null, body: {} })),
    );
    expect(answers.every((a) => a.status === 204)).toBe(true);
    // One read at once, one more after the gap for everything that came meanwhile.
    while (queries() < 2) await new Promise((r) => setTimeout(r, 20));
    expect(queries()).toBe(2);
    await h.waitForJob(created.json.id, (j) => j.status === 'succeeded' || j.status === 'running', 5_000);
  });
});
