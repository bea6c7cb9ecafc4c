import fs from 'node:fs';
import path from 'node:path';
import { createRelayClient, type RelayEvent, type UploadProgress } from '@retalk/core/relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, type Harness, startRelay } from './harness.js';

describe('createRelayClient against a real relay', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({ provider: 'evolink', jobMs: 400 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('uploads with progress, creates a job, follows it over SSE and downloads the result by signed link', async () => {
    const relay = createRelayClient({ baseUrl: h.url, token: h.token });
    const me = await relay.me();
    expect(me.member.name).toBe('alice');
    expect(me.provider).toBe('evolink');

    const progress: UploadProgress[] = [];
    const videoBytes = new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'talking-640x640-25fps-3s.mp4')));
    const video = await relay.upload(videoBytes, {
      kind: 'video',
      filename: 'talk.mp4',
      contentType: 'video/mp4',
      onProgress: (p) => progress.push(p),
    });
    expect(video.media).toMatchObject({ kind: 'video', width: 640, height: 640, fps: 25 });
    expect(progress.at(-1)).toEqual({
      loadedBytes: videoBytes.byteLength,
      totalBytes: videoBytes.byteLength,
    });
    expect(progress.length).toBeGreaterThan(1);
    const audio = await relay.upload(
      new Blob([fs.readFileSync(path.join(FIXTURES, 'speech-4s.wav'))], { type: 'audio/wav' }),
      {
        kind: 'audio',
        filename: 'speech.wav',
      },
    );

    const stop = new AbortController();
    const seen: RelayEvent[] = [];
    const following = (async () => {
      for await (const event of relay.events({ signal: stop.signal })) {
        seen.push(event);
        if (event.type === 'job' && event.job.status === 'succeeded') return event.job;
      }
      return undefined;
    })();
    // The stream is live once the relay holds its subscription (a fresh stream replays nothing).
    await expect.poll(() => h.relay.context.bus.connections(), { timeout: 30_000 }).toBe(1);
    const job = await relay.createJob(
      { video: { uploadId: video.id }, audio: { uploadId: audio.id } },
      { idempotencyKey: 'client-1' },
    );
    const finished = await following;
    stop.abort();
    expect(finished?.id).toBe(job.id);
    const statuses = seen.filter((e) => e.type === 'job').map((e) => (e.type === 'job' ? e.job.status : ''));
    expect(statuses[0]).toBe('received');
    expect(statuses).toContain('running');
    expect(seen[0]?.type).toBe('ready');

    // Resume: everything after the first job event is replayed from Last-Event-ID.
    const firstId =
      seen.find((e) => e.type === 'job')?.type === 'job'
        ? (seen.find((e) => e.type === 'job') as { id: string }).id
        : '';
    const resumeStop = new AbortController();
    const replayed: string[] = [];
    for await (const event of relay.events({ lastEventId: firstId, signal: resumeStop.signal })) {
      if (event.type === 'job') replayed.push(event.job.status);
      if (event.type === 'ready') break;
    }
    expect(replayed.at(-1)).toBe('succeeded');
    expect(replayed.length).toBe(statuses.length - 1);

    const link = await relay.resultUrl(job.id);
    const res = await fetch(link.url);
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(finished?.result?.sizeBytes);

    const list = await relay.listJobs({ status: ['succeeded'], limit: 5 });
    expect(list.jobs.map((j) => j.id)).toContain(job.id);
    expect((await relay.getJob(job.id)).status).toBe('succeeded');
  });

  it('throws RetalkError subclasses that carry the relay code and field', async () => {
    const bad = createRelayClient({ baseUrl: h.url, token: 'rtk_wrong' });
    await expect(bad.me()).rejects.toMatchObject({
      name: 'AuthError',
      code: 'auth',
      status: 401,
      providerCode: 'unauthorized',
    });

    const relay = createRelayClient({ baseUrl: h.url, token: h.token });
    await expect(
      relay.createJob({
        video: { url: 'https://example.com/v.mp4' },
        audio: { url: 'https://example.com/a.wav' },
        faceThreshold: 99,
      }),
    ).rejects.toMatchObject({ name: 'InvalidRequestError', code: 'invalid_request', field: 'faceThreshold' });
    await expect(relay.getJob('job_AAAAAAAAAAAAAAAA')).rejects.toMatchObject({
      name: 'NotFoundError',
      code: 'not_found',
    });

    h.sim.nextScenario('stuck');
    const video = await relay.upload(
      new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'talking-640x640-25fps-3s.mp4'))),
      { kind: 'video', filename: 'v.mp4' },
    );
    const audio = await relay.upload(new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'speech-4s.wav'))), {
      kind: 'audio',
      filename: 'a.wav',
    });
    const job = await relay.createJob({ video: { uploadId: video.id }, audio: { uploadId: audio.id } });
    await h.waitForJob(job.id, (j) => j.upstreamId !== undefined);
    await expect(relay.cancelJob(job.id)).rejects.toMatchObject({
      name: 'NotSupportedError',
      providerCode: 'not_cancelable',
    });

    const down = createRelayClient({ baseUrl: 'http://127.0.0.1:9', token: h.token });
    await expect(down.me()).rejects.toMatchObject({ code: 'network' });
  });
});
