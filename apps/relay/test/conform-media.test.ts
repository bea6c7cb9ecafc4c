import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { checkMedia } from '@retalk/core';
import { probeFile } from '@retalk/core/media/node';
import { createSimulator } from '@retalk/simulator';
import { makeAudio, makeVideo } from '@retalk/simulator/media';
import { ALL_FORMATS, BufferSource, Input, VideoSampleSink } from 'mediabunny';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, PROVIDER_KEY, type Simulator, startRelay } from './harness.js';

// Issue 8, end to end through the relay with real media made at test time: originals the provider
// would refuse go in, the simulator (which fetches and probes its inputs like the real service)
// gets files inside every limit, and the member pays for what was measured.

/** The pool's children of this process (the relay runs in-process here): their pids. */
function poolChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('conform-worker'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// A cap, not a wait: a real transcode and the simulator's real mux share 2 cores with the rest of
// CI (the conform child runs at a lower priority than the test workers), so a job may take minutes.
describe('conform through the relay, with real media', { timeout: 240_000 }, () => {
  let h: Harness;
  let sim: Simulator;
  let webm: string;
  let m4a: string;

  beforeAll(async () => {
    // A 10 s 640×360 VP9 WebM with its own sound (too small, wrong codec and container for the
    // provider), and a 6 s AAC voice in M4A (a container the provider does not take).
    [webm, m4a] = await Promise.all([
      makeVideo({
        container: 'webm',
        codec: 'vp9',
        width: 640,
        height: 360,
        fps: 25,
        durationSec: 10,
        audio: 'opus',
      }),
      makeAudio({ container: 'm4a', codec: 'aac', durationSec: 6 }),
    ]);
    // The real result (the clip with the new voice), so the test can check that it plays.
    sim = await createSimulator({ jobMs: 300, apiKeys: [PROVIDER_KEY], resultMode: 'mux' });
    h = await startRelay({ provider: 'dashscope', sim });
  }, 180_000);
  afterAll(async () => {
    await h?.close();
    await sim?.close();
  });

  async function upload(kind: 'video' | 'audio', file: string, name: string, type: string) {
    return h.api('PUT', `/v1/uploads?kind=${kind}&filename=${name}`, {
      rawBody: fs.readFileSync(file),
      headers: { 'content-type': type },
    });
  }

  it('lip-syncs a clip of a 360p VP9 WebM with an M4A voice: the provider gets files inside every limit, the result plays, the budget matches', async () => {
    const member = await h.addMember('nora', { budgetSeconds: 30 });
    const asMember = { token: member };
    const video = await h.api('PUT', '/v1/uploads?kind=video&filename=talk-360p.webm', {
      ...asMember,
      rawBody: fs.readFileSync(webm),
      headers: { 'content-type': 'video/webm' },
    });
    expect(video.status).toBe(201);
    expect(video.json.media).toMatchObject({ format: 'webm', codec: 'vp9', width: 640, height: 360 });
    const audio = await h.api('PUT', '/v1/uploads?kind=audio&filename=voice.m4a', {
      ...asMember,
      rawBody: fs.readFileSync(m4a),
      headers: { 'content-type': 'audio/mp4' },
    });
    expect(audio.status).toBe(201);
    expect(audio.json.media).toMatchObject({ format: 'm4a', codec: 'aac' });

    const created = await h.api('POST', '/v1/jobs', {
      ...asMember,
      body: {
        video: { uploadId: video.json.id, startSec: 2, endSec: 7 },
        audio: { uploadId: audio.json.id },
      },
    });
    expect(created.status).toBe(201);
    // Both inputs were measured at upload: the reservation is the conformed length at once
    // (a 5 s clip and a 6 s voice make 5 s).
    expect(created.json.estimatedSeconds).toBe(5);
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded', 120_000, member);

    // What changed, in sentences, and the media the provider got.
    const { conform } = done;
    expect(conform?.mode).toBe('auto');
    expect(conform?.video?.changes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^trimmed to 0:02–0:07/),
        expect.stringMatching(/640×360 → 1138×640/),
        expect.stringMatching(/VP9 → H\.264/),
      ]),
    );
    expect(conform?.video?.media).toMatchObject({ format: 'mp4', codec: 'h264', width: 1138, height: 640 });
    expect(conform?.video?.media.durationSec).toBeCloseTo(5, 1);
    expect(conform?.audio?.changes.length).toBeGreaterThan(0);
    expect(conform?.audio?.media.format).toBe('wav');

    // The files the provider fetched are the relay's conformed copies, stored like uploads; probed
    // again here, they are inside every limit.
    const store = h.relay.context.store;
    const job = await store.getJob(done.id);
    for (const name of ['video', 'audio'] as const) {
      const prepared = job?.conform?.[name];
      const stored = await store.getUpload(prepared?.uploadId ?? '');
      expect(stored?.memberId).toBe(job?.memberId);
      const file = h.relay.context.storage.pathOf(stored?.storageKey ?? '');
      expect(sha256(fs.readFileSync(file))).toBe(stored?.sha256);
      const probed = await probeFile(file, name);
      const track = probed.video;
      const problems = checkMedia(
        {
          kind: name,
          format: probed.container,
          sizeBytes: probed.sizeBytes,
          durationSec: probed.durationSec,
          ...(track ? { codec: track.codec, width: track.width, height: track.height, fps: track.fps } : {}),
        },
        'dashscope',
      );
      expect(problems).toEqual([]);
    }

    // Billed what was measured: 5 s, used from the budget, nothing left reserved.
    expect(done.billedSeconds).toBeCloseTo(5, 1);
    const me = await h.api('GET', '/v1/me', asMember);
    expect(me.json.budget.usedSeconds).toBeCloseTo(5, 1);
    expect(me.json.budget.reservedSeconds).toBe(0);

    // The result plays: an H.264 picture whose frames decode, and the new voice, 5 s long.
    const result = await fetch(`${h.url}/v1/jobs/${done.id}/result`, {
      headers: { authorization: `Bearer ${member}` },
    });
    expect(result.status).toBe(200);
    const input = new Input({
      formats: ALL_FORMATS,
      source: new BufferSource(new Uint8Array(await result.arrayBuffer())),
    });
    try {
      expect(await input.computeDuration()).toBeCloseTo(5, 1);
      const picture = await input.getPrimaryVideoTrack();
      expect(picture?.codec).toBe('avc');
      expect((await input.getPrimaryAudioTrack())?.codec).toBe('aac');
      let frames = 0;
      for await (const frame of new VideoSampleSink(picture as NonNullable<typeof picture>).samples(0, 1)) {
        expect(frame.displayWidth).toBeGreaterThan(0);
        frame.close();
        frames++;
      }
      expect(frames).toBeGreaterThan(10);
    } finally {
      input.dispose();
    }
  });

  it('keeps answering status reads while a conform is under way in its child process', async () => {
    const video = await upload('video', webm, 'talk.webm', 'video/webm');
    const audio = await upload('audio', m4a, 'voice.m4a', 'audio/mp4');
    const created = await h.api('POST', '/v1/jobs', {
      body: {
        video: { uploadId: video.json.id, startSec: 1, endSec: 9 },
        audio: { uploadId: audio.json.id },
      },
    });
    expect(created.status).toBe(201);
    // The conform has begun (progress past the 10 % the stored input gives) in a child process.
    await h.waitForJob(created.json.id, (j) => j.status === 'preparing' && j.progress > 5, 120_000);
    expect(h.relay.context.pool.stats().running).toBe(1);
    const children = poolChildren();
    expect(children.length).toBeGreaterThan(0);
    // Frozen mid-conform: whatever the relay answers now, it answers while the conform is unfinished.
    for (const pid of children) process.kill(pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 10; i++) {
        const read = await h.api('GET', `/v1/jobs/${created.json.id}`);
        expect(read.status).toBe(200);
        expect(read.json.status).toBe('preparing');
        expect(read.json.progress).toBeLessThan(100);
        expect((await h.api('GET', '/healthz', { token: null })).status).toBe(200);
      }
      const list = await h.api('GET', '/v1/jobs?status=preparing');
      expect(list.json.jobs.map((j: { id: string }) => j.id)).toContain(created.json.id);
    } finally {
      for (const pid of children) process.kill(pid, 'SIGCONT');
    }
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded', 120_000);
    expect(done.conform?.video?.media.durationSec).toBeCloseTo(8, 1);
  });

  describe('refuses what cannot be used, naming the field and saying why', () => {
    /** Uploads the WebM and the M4A and asks for a job on `clip` of the video. */
    async function jobWithClip(clip: { startSec: number; endSec: number }) {
      const video = await upload('video', webm, 'talk.webm', 'video/webm');
      const audio = await upload('audio', m4a, 'voice.m4a', 'audio/mp4');
      return h.api('POST', '/v1/jobs', {
        body: { video: { uploadId: video.json.id, ...clip }, audio: { uploadId: audio.json.id } },
      });
    }

    it('a clip outside the source', async () => {
      const res = await jobWithClip({ startSec: 12, endSec: 20 });
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ code: 'media_rejected', field: 'video.startSec' });
      expect(res.json.error.message).toMatch(/0:10/);
    });

    it('a clip that starts where it ends', async () => {
      const res = await jobWithClip({ startSec: 4, endSec: 4 });
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'invalid_request', field: 'video.endSec' });
      expect(res.json.error.message).toMatch(/must be after startSec/);
    });

    it('a text file named .mp4', async () => {
      const text = new TextEncoder().encode('This is a shopping list, not a video.\n'.repeat(40));
      const res = await h.api('PUT', '/v1/uploads?kind=video&filename=list.mp4', {
        rawBody: text,
        headers: { 'content-type': 'video/mp4' },
      });
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ code: 'media_rejected', field: 'body' });
      expect(res.json.error.message).toMatch(/not a media file, or it is damaged/);
    });

    it('a file with no video track, as the video', async () => {
      const res = await upload('video', m4a, 'voice.m4a', 'video/mp4');
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ code: 'media_rejected', field: 'body' });
      expect(res.json.error.message).toMatch(/no video track/);
    });

    it('a truncated MP4: refused at upload as cut short', async () => {
      const mp4 = await makeVideo({
        container: 'mp4',
        codec: 'avc',
        width: 640,
        height: 360,
        fps: 25,
        durationSec: 10,
      });
      const whole = fs.readFileSync(mp4);
      const res = await h.api('PUT', '/v1/uploads?kind=video&filename=cut.mp4', {
        rawBody: whole.subarray(0, Math.floor(whole.length * 0.4)),
        headers: { 'content-type': 'video/mp4' },
      });
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ code: 'media_rejected', field: 'body' });
      expect(res.json.error.message).toMatch(/damaged \(it is cut short/);
    });

    it('a truncated WebM: measured by what it holds, so a clip past its real end is refused', async () => {
      const whole = fs.readFileSync(webm);
      // A WebM has no index to contradict: what is left of it is a shorter video.
      const cut = await h.api('PUT', '/v1/uploads?kind=video&filename=cut.webm', {
        rawBody: whole.subarray(0, Math.floor(whole.length * 0.4)),
        headers: { 'content-type': 'video/webm' },
      });
      expect(cut.status).toBe(201);
      expect(cut.json.media.durationSec).toBeLessThan(5);
      const audio = await upload('audio', m4a, 'voice.m4a', 'audio/mp4');
      const res = await h.api('POST', '/v1/jobs', {
        body: {
          video: { uploadId: cut.json.id, startSec: 1, endSec: 9 },
          audio: { uploadId: audio.json.id },
        },
      });
      expect(res.status).toBe(422);
      expect(res.json.error).toMatchObject({ code: 'media_rejected', field: 'video.endSec' });
      expect(res.json.error.message).toMatch(/choose a clip within 0:00–0:0\d/);
    });
  });
});
