import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startRelay } from './harness.js';

const DAY_MS = 86_400_000;

describe('the archive', () => {
  let h: Harness;
  let offsetMs = 0;
  beforeAll(async () => {
    h = await startRelay({
      provider: 'dashscope',
      jobMs: 300,
      now: () => Date.now() + offsetMs,
      env: { RETALK_RETENTION_DAYS: '30' },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  let jobId: string;
  let sha: string | undefined;

  it('keeps serving a result after the provider link has expired', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded');
    jobId = done.id;
    sha = done.result?.sha256;
    const providerLink = (await h.relay.context.store.getJob(jobId))?.upstreamResultUrl as string;
    expect((await fetch(providerLink)).status).toBe(200);

    h.sim.advanceTime(25 * 3_600_000);
    const dead = await fetch(providerLink);
    expect(dead.status).toBeGreaterThanOrEqual(400);

    const res = await fetch(`${h.url}/v1/jobs/${jobId}/result`, {
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(res.status).toBe(200);
    const { createHash } = await import('node:crypto');
    expect(
      createHash('sha256')
        .update(new Uint8Array(await res.arrayBuffer()))
        .digest('hex'),
    ).toBe(sha);
  });

  it('deletes results after the retention period and says so', async () => {
    offsetMs = 31 * DAY_MS;
    const swept = await h.relay.context.archiver.sweep();
    expect(swept.results).toBe(1);
    const res = await h.api('GET', `/v1/jobs/${jobId}/result`);
    expect(res.status).toBe(404);
    expect(res.json.error.message).toMatch(/retention/);
    const job = await h.api('GET', `/v1/jobs/${jobId}`);
    expect(job.json.status).toBe('succeeded');
    expect(job.json.result).toBeUndefined();
  });
});
