import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { checkMedia, type ProbedMedia } from '@retalk/core';
import { probeFile } from '@retalk/core/media/node';
import { createSimulator } from '@retalk/simulator';
import { loadCodecs, makeAudio, makeImage, makeVideo } from '@retalk/simulator/media';
import { canEncodeVideo } from 'mediabunny';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, type Harness, type JobBody, PROVIDER_KEY, type Simulator, startRelay } from './harness.js';

// Issue 8's media matrix through the relay's HTTP API: for each kind of original people bring,
// a job whose `job.conform` says what changed, and whose files, as the simulator received them
// (it fetches the relay's signed URLs like the real service), are inside every provider limit.
// Files are small and short (a loaded 2-core machine), made once, reused by every case.

type InputName = 'video' | 'audio' | 'refImage';
const KIND: Record<InputName, 'video' | 'audio' | 'image'> = {
  video: 'video',
  audio: 'audio',
  refImage: 'image',
};
const CONTENT_TYPE: Record<string, string> = {
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  mkv: 'video/x-matroska',
  avi: 'video/x-msvideo',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
  wav: 'audio/wav',
  png: 'image/png',
};

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The provider's complaints about a probed file (none when it is inside every limit). */
function problems(probed: ProbedMedia) {
  const v = probed.video;
  return checkMedia(
    {
      kind: probed.kind,
      format: probed.container,
      sizeBytes: probed.sizeBytes,
      durationSec: probed.durationSec,
      ...(v ? { codec: v.codec, width: v.width, height: v.height, fps: v.fps } : {}),
      ...(probed.image ? { width: probed.image.width, height: probed.image.height } : {}),
    },
    'evolink',
  );
}

/** A minimal AVI (RIFF `AVI ` with its header list), as a camera or an old editor writes them. */
function aviFile(): Buffer {
  const chunk = (id: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.write(id, 0, 'latin1');
    head.writeUInt32LE(body.length, 4);
    return Buffer.concat([head, body, Buffer.alloc(body.length % 2)]);
  };
  const list = (type: string, ...items: Buffer[]) =>
    chunk('LIST', Buffer.concat([Buffer.from(type, 'latin1'), ...items]));
  const avih = Buffer.alloc(56);
  avih.writeUInt32LE(40_000, 0); // µs per frame: 25 fps
  avih.writeUInt32LE(75, 16); // frames
  avih.writeUInt32LE(1, 24); // streams
  avih.writeUInt32LE(640, 32);
  avih.writeUInt32LE(640, 36);
  const strh = Buffer.alloc(56);
  strh.write('vidsH264', 0, 'latin1');
  strh.writeUInt32LE(1, 20);
  strh.writeUInt32LE(25, 24);
  strh.writeUInt32LE(75, 32);
  const body = Buffer.concat([
    Buffer.from('AVI ', 'latin1'),
    list('hdrl', chunk('avih', avih), list('strl', chunk('strh', strh))),
    list('movi', chunk('00dc', Buffer.alloc(64))),
  ]);
  return chunk('RIFF', body);
}

describe('the media matrix through the relay (issue 8)', { timeout: 240_000 }, () => {
  let h: Harness;
  let sim: Simulator;
  let member: string;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    await loadCodecs();
    if (!(await canEncodeVideo('hevc'))) throw new Error('this FFmpeg build has no HEVC encoder');
    const made = await Promise.all([
      // A phone-style MP4 that fits as it is, with its own sound.
      makeVideo({
        container: 'mp4',
        codec: 'avc',
        width: 640,
        height: 640,
        fps: 25,
        durationSec: 3,
        audio: 'aac',
      }),
      makeVideo({ container: 'mp4', codec: 'hevc', width: 640, height: 360, fps: 25, durationSec: 3 }),
      // Coded 960×640, shown turned 90°: a portrait phone recording.
      makeVideo({
        container: 'mp4',
        codec: 'avc',
        width: 960,
        height: 640,
        fps: 30,
        durationSec: 3,
        rotation: 90,
      }),
      makeVideo({ container: 'mp4', codec: 'avc', width: 640, height: 640, fps: 10, durationSec: 3 }),
      makeVideo({ container: 'mp4', codec: 'avc', width: 2560, height: 1440, fps: 15, durationSec: 2.5 }),
      makeVideo({ container: 'mp4', codec: 'avc', width: 640, height: 640, fps: 15, durationSec: 180 }),
      makeVideo({
        container: 'mov',
        codec: 'avc',
        width: 640,
        height: 640,
        fps: 25,
        durationSec: 3,
        audio: 'aac',
      }),
      makeVideo({
        container: 'mkv',
        codec: 'avc',
        width: 640,
        height: 640,
        fps: 25,
        durationSec: 3,
        audio: 'opus',
      }),
      makeAudio({ container: 'ogg', codec: 'opus', durationSec: 4 }),
      makeAudio({ container: 'flac', codec: 'flac', durationSec: 4, sampleRate: 44_100, channels: 2 }),
      makeImage({ format: 'png', width: 5000, height: 2000 }),
    ]);
    const names = [
      'withSound',
      'hevc',
      'rotated',
      'screen',
      'huge',
      'long',
      'mov',
      'mkv',
      'ogg',
      'flac',
      'wide',
    ];
    names.forEach((name, i) => {
      files[name] = made[i] as string;
    });
    sim = await createSimulator({ jobMs: 200, apiKeys: [PROVIDER_KEY] });
    h = await startRelay({ provider: 'evolink', sim });
    member = await h.addMember('mia', { budgetSeconds: 3_600, maxConcurrentJobs: 20 });
  }, 600_000);
  afterAll(async () => {
    await h?.close();
    await sim?.close();
  });

  async function upload(kind: 'video' | 'audio' | 'image', file: string) {
    const ext = path.extname(file).slice(1);
    const res = await h.api('PUT', `/v1/uploads?kind=${kind}&filename=${path.basename(file)}`, {
      token: member,
      rawBody: fs.readFileSync(file),
      headers: { 'content-type': CONTENT_TYPE[ext] ?? 'application/octet-stream' },
    });
    return res;
  }

  async function uploadId(kind: 'video' | 'audio' | 'image', file: string): Promise<string> {
    const res = await upload(kind, file);
    expect(res.status, res.text).toBe(201);
    return res.json.id;
  }

  /** A 4 s WAV voice and a 640×640 MP4 that fit as they are, for the side a case does not vary. */
  const fittingVoice = () => uploadId('audio', path.join(FIXTURES, 'speech-4s.wav'));
  const fittingVideo = () => uploadId('video', path.join(FIXTURES, 'talking-640x640-25fps-3s.mp4'));

  /** Runs a job to success and returns it with the inputs as the simulator received them. */
  async function run(input: Record<string, unknown>) {
    const created = await h.api('POST', '/v1/jobs', { token: member, body: input });
    expect(created.status, created.text).toBe(201);
    const done = await h.waitForJob(
      created.json.id,
      (j) => j.status === 'succeeded' || j.status === 'failed',
      240_000,
      member,
    );
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    return { job: done, received: await receivedFiles(done) };
  }

  /**
   * The files the simulator fetched for a job, found in the relay's storage by their SHA-256 (the
   * simulator hashes what it downloads), each probed afresh and judged against the limits.
   */
  async function receivedFiles(job: JobBody) {
    const record = await h.relay.context.store.getJob(job.id);
    const taskInputs = sim.stats().inputs.filter((i) => i.taskId === record?.upstreamId);
    const out: Partial<Record<InputName, { sha256: string; probed: ProbedMedia; uploadId: string }>> = {};
    for (const name of ['video', 'audio', 'refImage'] as const) {
      if (!record?.input[name]) continue;
      const got = taskInputs.find((i) => i.kind === KIND[name]);
      expect(got?.sha256, `the simulator fetched the ${name}`).toMatch(/^[0-9a-f]{64}$/);
      const id = record.conform?.[name]?.uploadId ?? record.input[name]?.uploadId ?? '';
      const stored = await h.relay.context.store.getUpload(id);
      const file = h.relay.context.storage.pathOf(stored?.storageKey ?? '');
      expect(sha256(fs.readFileSync(file)), `the ${name} the simulator got is the relay's copy`).toBe(
        got?.sha256,
      );
      const probed = await probeFile(file, KIND[name]);
      expect(problems(probed), `the ${name} the simulator got fits`).toEqual([]);
      out[name] = { sha256: got?.sha256 ?? '', probed, uploadId: id };
    }
    return out;
  }

  it('sends an MP4 that fits, with its own sound, as it is (the same bytes, no preparing)', async () => {
    const sent = await upload('video', files.withSound as string);
    expect(sent.status).toBe(201);
    const { job, received } = await run({
      video: { uploadId: sent.json.id },
      audio: { uploadId: await fittingVoice() },
    });
    expect(job.conform).toBeUndefined();
    expect(received.video?.sha256).toBe(sent.json.sha256);
    expect(received.video?.probed.audio).toMatchObject({ codec: 'aac' });
  });

  it('sends a MOV that fits as it is too (MOV is a provider format)', async () => {
    const sent = await upload('video', files.mov as string);
    expect(sent.json.media).toMatchObject({ format: 'mov', codec: 'h264' });
    const { job, received } = await run({
      video: { uploadId: sent.json.id },
      audio: { uploadId: await fittingVoice() },
    });
    expect(job.conform).toBeUndefined();
    expect(received.video?.sha256).toBe(sent.json.sha256);
  });

  it('converts HEVC that needs scaling to H.264', async () => {
    const { job, received } = await run({
      video: { uploadId: await uploadId('video', files.hevc as string) },
      audio: { uploadId: await fittingVoice() },
    });
    expect(job.conform?.video?.changes).toEqual(['scaled 640×360 → 1138×640', 'converted HEVC → H.264']);
    expect(job.conform?.audio?.changes).toEqual([]);
    expect(received.video?.probed.video).toMatchObject({ codec: 'h264', width: 1138, height: 640 });
  });

  it('turns a rotated phone video upright', async () => {
    const { job, received } = await run({
      video: { uploadId: await uploadId('video', files.rotated as string) },
      audio: { uploadId: await fittingVoice() },
    });
    expect(job.conform?.video?.changes).toEqual([
      'turned upright (the file asked for a 90° rotation): 640×960',
      're-encoded as H.264',
    ]);
    expect(received.video?.probed.video).toMatchObject({ width: 640, height: 960, rotation: 0 });
  });

  it('re-times a 10 fps screen recording to 25 fps', async () => {
    const { job, received } = await run({
      video: { uploadId: await uploadId('video', files.screen as string) },
      audio: { uploadId: await fittingVoice() },
    });
    expect(job.conform?.video?.changes).toEqual(['frame rate 10 → 25 fps', 're-encoded as H.264']);
    expect(received.video?.probed.video?.fps).toBeCloseTo(25, 0);
  });

  it('downscales a video larger than 2048 px', async () => {
    const { job, received } = await run({
      video: { uploadId: await uploadId('video', files.huge as string) },
      audio: { uploadId: await fittingVoice() },
    });
    expect(job.conform?.video?.changes).toEqual(['scaled 2560×1440 → 2048×1152', 're-encoded as H.264']);
    expect(received.video?.probed.video).toMatchObject({ width: 2048, height: 1152 });
  });

  it('cuts a 30 s clip out of a 3-minute source, and refuses the whole of it', async () => {
    const id = await uploadId('video', files.long as string);
    const whole = await h.api('POST', '/v1/jobs', {
      token: member,
      body: { video: { uploadId: id }, audio: { uploadId: await fittingVoice() } },
    });
    expect(whole.status).toBe(422);
    expect(whole.json.error.message).toMatch(/3:00 long; choose a clip of at most 2 min/);
    const { job, received } = await run({
      video: { uploadId: id, startSec: 60, endSec: 90 },
      audio: { uploadId: await fittingVoice() },
    });
    expect(job.conform?.video?.changes).toEqual([
      'trimmed to 1:00–1:30 (30 s)',
      're-encoded as H.264 to cut on the exact frames',
    ]);
    expect(received.video?.probed.durationSec).toBeCloseTo(30, 0);
  });

  it('remuxes an MKV into MP4, leaving its own sound out', async () => {
    const { job, received } = await run({
      video: { uploadId: await uploadId('video', files.mkv as string) },
      audio: { uploadId: await fittingVoice() },
    });
    expect(job.conform?.video?.changes).toEqual([
      'repackaged MKV → MP4',
      "removed the video's own sound (the new audio replaces it)",
    ]);
    expect(received.video?.probed).toMatchObject({ container: 'mp4', video: { codec: 'h264' } });
    expect(received.video?.probed.audio).toBeUndefined();
  });

  it('refuses an AVI at upload with what to do (the executor cannot read AVI)', async () => {
    const avi = path.join(path.dirname(files.mov as string), 'camera.avi');
    fs.writeFileSync(avi, aviFile());
    const res = await upload('video', avi);
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'media_rejected', field: 'body' });
    expect(res.json.error.message).toBe(
      'AVI files cannot be read here; export the video as MP4 (or WebM) and try again.',
    );
  });

  it.each([
    ['ogg', 'converted Ogg (Opus) → WAV'],
    ['flac', 'converted FLAC → WAV'],
  ] as const)('converts %s audio to WAV', async (name, sentence) => {
    const { job, received } = await run({
      video: { uploadId: await fittingVideo() },
      audio: { uploadId: await uploadId('audio', files[name] as string) },
    });
    expect(job.conform?.audio?.changes).toEqual([sentence]);
    expect(job.conform?.video?.changes).toEqual([]);
    expect(received.audio?.probed).toMatchObject({ container: 'wav', audio: { codec: 'pcm_s16' } });
    expect(received.audio?.probed.durationSec).toBeCloseTo(4, 0);
  });

  it('brings a 5000×2000 reference image within 4096 px and 2:1 as a JPEG', async () => {
    const { job, received } = await run({
      video: { uploadId: await fittingVideo() },
      audio: { uploadId: await fittingVoice() },
      refImage: { uploadId: await uploadId('image', files.wide as string) },
    });
    expect(job.conform?.refImage?.changes).toEqual([
      'padded 5000×2000 with bars to an aspect ratio of 2:1 and scaled it to 4096×2048',
      'converted PNG → JPEG',
    ]);
    expect(received.refImage?.probed).toMatchObject({
      container: 'jpeg',
      image: { width: 4096, height: 2048 },
    });
  });
});
