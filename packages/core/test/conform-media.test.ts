import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fixtureDir, makeAudio, makeImage, makeVideo } from '@retalk/simulator/media';
import { ALL_FORMATS, canEncodeVideo, EncodedPacketSink, FilePathSource, Input } from 'mediabunny';
import { afterAll, describe, expect, it } from 'vitest';
import { type ClipRange, checkMedia, type MediaKind, PROVIDERS, type ProbedMedia } from '../src/index.js';
import { conformFile, H264_ENCODER_OPTIONS, probeFile, useNodeCodecs } from '../src/media/node.js';
import { caught } from './support.js';

// Real files through the real executor (mediabunny + FFmpeg's libraries from npm). Encoding on a
// loaded 2-core machine takes seconds, not milliseconds: the timeouts are generous on purpose.
const SLOW = { timeout: 180_000 };

afterAll(() => rmSync(fixtureDir(), { recursive: true, force: true }));

let counter = 0;
const outPath = (ext: string) => join(fixtureDir(), `out-${++counter}.${ext}`);

/** Every provider's limits hold for a probed result. */
function problems(media: ProbedMedia) {
  const v = media.video;
  return PROVIDERS.flatMap((provider) =>
    checkMedia(
      {
        kind: media.kind,
        format: media.container,
        durationSec: media.durationSec,
        sizeBytes: media.sizeBytes,
        ...(v ? { codec: v.codec, width: v.width, height: v.height, fps: v.fps } : {}),
        ...(media.image ? { width: media.image.width, height: media.image.height } : {}),
      },
      provider,
    ),
  );
}

async function conform(path: string, kind: MediaKind, clip?: ClipRange) {
  const out = outPath(kind === 'video' ? 'mp4' : kind === 'image' ? 'jpg' : 'wav');
  const fractions: number[] = [];
  const result = await conformFile(path, out, kind, {
    provider: 'dashscope',
    clip,
    onProgress: (f) => fractions.push(f),
  });
  // The result on disk, probed afresh.
  const probed = await probeFile(out, kind);
  expect(problems(probed)).toEqual([]);
  expect(fractions.at(-1)).toBe(1);
  return { ...result, probed, out };
}

/** Presentation times of a file's video packets, in the order they are stored (decode order). */
async function packetTimesInDecodeOrder(path: string): Promise<number[]> {
  const input = new Input({ source: new FilePathSource(path), formats: ALL_FORMATS });
  try {
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Error(`${path} has no video track`);
    const times: number[] = [];
    for await (const packet of new EncodedPacketSink(track).packets()) times.push(packet.timestamp);
    return times;
  } finally {
    input.dispose();
  }
}

describe('conformFile: video', () => {
  it('turns a 360p VP9 WebM with sound into a 1138×640 H.264 MP4 without sound', SLOW, async () => {
    const src = await makeVideo({
      container: 'webm',
      codec: 'vp9',
      width: 640,
      height: 360,
      fps: 30,
      durationSec: 2.4,
      audio: 'opus',
    });
    const { plan, probed, out } = await conform(src, 'video');
    expect(plan.changes).toEqual([
      'scaled 640×360 → 1138×640',
      'converted VP9 → H.264',
      'repackaged WebM → MP4',
      "removed the video's own sound (the new audio replaces it)",
    ]);
    expect(probed).toMatchObject({
      container: 'mp4',
      video: { codec: 'h264', width: 1138, height: 640, rotation: 0 },
    });
    expect(probed.audio).toBeUndefined();
    expect(probed.durationSec).toBeCloseTo(2.4, 1);
    // Encoded with x264's low-memory settings (zerolatency): no B-frames, so the frames are
    // stored in the order they are shown. x264's default (medium) reorders them.
    expect(H264_ENCODER_OPTIONS).toMatchObject({ tune: 'zerolatency' });
    const times = await packetTimesInDecodeOrder(out);
    expect(times.length).toBeGreaterThan(30);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('downscales a source larger than 2048 px', SLOW, async () => {
    const src = await makeVideo({
      container: 'mp4',
      codec: 'avc',
      width: 2112,
      height: 1188,
      fps: 15,
      durationSec: 2.2,
    });
    const { probed } = await conform(src, 'video');
    expect(probed.video).toMatchObject({ width: 2048, height: 1152 });
  });

  it('re-times a 10 fps recording to 25 fps', SLOW, async () => {
    const src = await makeVideo({
      container: 'mp4',
      codec: 'avc',
      width: 640,
      height: 640,
      fps: 10,
      durationSec: 2.4,
    });
    const { plan, probed } = await conform(src, 'video');
    expect(plan.changes).toContain('frame rate 10 → 25 fps');
    expect(probed.video?.fps).toBeCloseTo(25, 0);
  });

  it('keeps a portrait 9:16 video upright and scales its short side to 640', SLOW, async () => {
    const src = await makeVideo({
      container: 'mp4',
      codec: 'avc',
      width: 360,
      height: 640,
      fps: 25,
      durationSec: 2.2,
    });
    const { probed } = await conform(src, 'video');
    expect(probed.video).toMatchObject({ width: 640, height: 1138, rotation: 0 });
  });

  it('bakes the rotation of a phone clip into the pixels', SLOW, async () => {
    // Stored as 640×360 landscape frames with "rotate 90": people see 360×640.
    const src = await makeVideo({
      container: 'mp4',
      codec: 'avc',
      width: 640,
      height: 360,
      fps: 25,
      durationSec: 2.2,
      rotation: 90,
    });
    expect((await probeFile(src, 'video')).video).toMatchObject({ width: 640, height: 360, rotation: 90 });
    const { plan, probed } = await conform(src, 'video');
    expect(plan.changes[0]).toBe('turned upright (the file asked for a 90° rotation): 360×640');
    expect(probed.video).toMatchObject({ width: 640, height: 1138, rotation: 0 });
  });

  it('clips 30 s out of a 3-minute source', SLOW, async () => {
    const src = await makeVideo({
      container: 'mp4',
      codec: 'avc',
      width: 160,
      height: 90,
      fps: 15,
      durationSec: 180,
    });
    const refused = await caught(conformFile(src, outPath('mp4'), 'video', { provider: 'dashscope' }));
    expect(refused).toMatchObject({ code: 'conform', reason: 'clip_too_long', field: 'clip' });
    const { plan, probed } = await conform(src, 'video', { startSec: 100, endSec: 130 });
    expect(plan.changes[0]).toBe('trimmed to 1:40–2:10 (30 s)');
    expect(probed.durationSec).toBeGreaterThan(29.7);
    expect(probed.durationSec).toBeLessThan(30.3);
  });

  it('copies an HEVC MP4 that fits as it is, byte for byte', SLOW, async () => {
    await useNodeCodecs();
    if (!(await canEncodeVideo('hevc')))
      throw new Error('this FFmpeg build has no HEVC encoder to make the fixture');
    const src = await makeVideo({
      container: 'mp4',
      codec: 'hevc',
      width: 640,
      height: 640,
      fps: 25,
      durationSec: 2.2,
    });
    const { plan, out, passthrough } = await conform(src, 'video');
    expect(passthrough).toBe(true);
    expect(plan.changes).toEqual([]);
    expect(Buffer.compare(await readFile(out), await readFile(src))).toBe(0);
  });

  it(
    'copies an H.264 MP4 with its own sound byte for byte: the provider ignores that sound',
    SLOW,
    async () => {
      const src = await makeVideo({
        container: 'mp4',
        codec: 'avc',
        width: 640,
        height: 640,
        fps: 25,
        durationSec: 2.2,
        audio: 'aac',
      });
      const { plan, out, passthrough } = await conform(src, 'video');
      expect(passthrough).toBe(true);
      expect(plan.changes).toEqual([]);
      expect(Buffer.compare(await readFile(out), await readFile(src))).toBe(0);
    },
  );
});

describe('conformFile: audio', () => {
  it.each([
    ['m4a', 'aac', 'converted M4A (AAC) → WAV'],
    ['ogg', 'opus', 'converted Ogg (Opus) → WAV'],
    ['flac', 'flac', 'converted FLAC → WAV'],
  ] as const)('converts %s (%s) to WAV', SLOW, async (container, codec, sentence) => {
    const src = await makeAudio({ container, codec, durationSec: 3, sampleRate: 48_000 });
    const { plan, probed } = await conform(src, 'audio');
    expect(plan.changes).toEqual([sentence]);
    expect(probed).toMatchObject({
      container: 'wav',
      audio: { codec: 'pcm_s16', sampleRate: 48_000, channels: 1 },
    });
    // FLAC and AAC end on whole frames: a few dozen ms over.
    expect(Math.abs((probed.durationSec ?? 0) - 3)).toBeLessThan(0.1);
  });

  it('clips 30 s out of a 150 s recording', SLOW, async () => {
    const src = await makeAudio({ container: 'flac', codec: 'flac', durationSec: 150, sampleRate: 16_000 });
    const refused = await caught(conformFile(src, outPath('wav'), 'audio', { provider: 'evolink' }));
    expect(refused).toMatchObject({ reason: 'clip_too_long' });
    const { probed } = await conform(src, 'audio', { startSec: 10, endSec: 40 });
    expect(probed.durationSec).toBeCloseTo(30, 1);
  });

  it('passes a WAV through untouched', SLOW, async () => {
    const src = await makeAudio({ container: 'wav', codec: 'pcm-s16', durationSec: 2.5 });
    const { passthrough } = await conform(src, 'audio');
    expect(passthrough).toBe(true);
  });
});

describe('conformFile: reference image', () => {
  it(
    'brings a 5000×2000 PNG within 4096 px and 2:1 as a JPEG, padded rather than cropped',
    SLOW,
    async () => {
      const src = await makeImage({ format: 'png', width: 5000, height: 2000 });
      const { plan, probed, out, passthrough } = await conform(src, 'image');
      expect(passthrough).toBe(false);
      expect(plan.changes).toEqual([
        'padded 5000×2000 with bars to an aspect ratio of 2:1 and scaled it to 4096×2048',
        'converted PNG → JPEG',
      ]);
      expect(probed).toMatchObject({
        kind: 'image',
        container: 'jpeg',
        image: { width: 4096, height: 2048 },
      });
      const bytes = await readFile(out);
      expect([bytes[0], bytes[1], bytes.at(-2), bytes.at(-1)]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
    },
  );

  it('copies a PNG that fits as it is', SLOW, async () => {
    const src = await makeImage({ format: 'png', width: 800, height: 1000 });
    const { out, passthrough } = await conform(src, 'image');
    expect(passthrough).toBe(true);
    expect(Buffer.compare(await readFile(out), await readFile(src))).toBe(0);
  });
});

describe('conformFile: files it refuses, with what to do', () => {
  it('refuses a text file named .mp4 as undecodable', async () => {
    const path = join(fixtureDir(), 'notes.mp4');
    writeFileSync(path, 'these are my meeting notes, not a video\n'.repeat(20));
    const error = await caught(conformFile(path, outPath('mp4'), 'video', { provider: 'dashscope' }));
    expect(error).toMatchObject({ code: 'conform', reason: 'undecodable', field: 'video' });
    expect(error.message).toMatch(/not a media file, or it is damaged/);
  });

  it('refuses a truncated MP4 and leaves no output behind', SLOW, async () => {
    const src = await makeVideo({
      container: 'mp4',
      codec: 'avc',
      width: 320,
      height: 180,
      fps: 25,
      durationSec: 2.4,
    });
    const bytes = readFileSync(src);
    const path = join(fixtureDir(), 'truncated.mp4');
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.byteLength * 0.6)));
    const out = outPath('mp4');
    const error = await caught(conformFile(path, out, 'video', { provider: 'dashscope' }));
    expect(error).toMatchObject({ code: 'conform', reason: 'undecodable' });
    expect(error.message).toMatch(/cut short/);
    await expect(access(out)).rejects.toThrow();
  });

  it('refuses a video with no video track', SLOW, async () => {
    const src = await makeAudio({ container: 'm4a', codec: 'aac', durationSec: 3 });
    const error = await caught(conformFile(src, outPath('mp4'), 'video', { provider: 'dashscope' }));
    expect(error).toMatchObject({ code: 'conform', reason: 'no_video_track', field: 'video' });
  });

  it('refuses a clip outside the source and start ≥ end', SLOW, async () => {
    const src = await makeVideo({
      container: 'mp4',
      codec: 'avc',
      width: 640,
      height: 640,
      fps: 25,
      durationSec: 2.2,
    });
    expect(
      await caught(
        conformFile(src, outPath('mp4'), 'video', {
          provider: 'dashscope',
          clip: { startSec: 5, endSec: 9 },
        }),
      ),
    ).toMatchObject({ reason: 'clip_out_of_range', field: 'clip.startSec' });
    expect(
      await caught(
        conformFile(src, outPath('mp4'), 'video', {
          provider: 'dashscope',
          clip: { startSec: 2, endSec: 1 },
        }),
      ),
    ).toMatchObject({ reason: 'clip_invalid', field: 'clip.endSec' });
  });

  it('refuses a file whose tables claim more samples than allowed, before parsing', SLOW, async () => {
    const src = await makeVideo({
      container: 'mp4',
      codec: 'avc',
      width: 320,
      height: 180,
      fps: 25,
      durationSec: 2.4,
    });
    const error = await caught(probeFile(src, 'video', { maxSamples: 10 }));
    expect(error).toMatchObject({ code: 'conform', reason: 'too_many_samples' });
    expect(error.message).toMatch(/claims 60 frames, more than the 10/);
  });

  it('stops when aborted and leaves no output behind', SLOW, async () => {
    const src = await makeVideo({
      container: 'webm',
      codec: 'vp9',
      width: 640,
      height: 360,
      fps: 30,
      durationSec: 2.4,
      audio: 'opus',
    });
    const controller = new AbortController();
    const out = outPath('mp4');
    const error = await caught(
      conformFile(src, out, 'video', {
        provider: 'dashscope',
        signal: controller.signal,
        onProgress: (f) => {
          if (f > 0) controller.abort();
        },
      }),
    );
    expect(error.code).toBe('aborted');
    await expect(access(out)).rejects.toThrow();
  });
});
