import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerMediabunnyServer } from '@mediabunny/server';
import {
  ALL_FORMATS,
  AudioSampleSink,
  BufferSource,
  Input,
  type InputVideoTrack,
  VideoSampleSink,
} from 'mediabunny';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import { cutPackets, documentedLength, pingPongOrder } from '../src/result-media.js';
import {
  dsBody,
  dsCreate,
  dsGet,
  evolinkBody,
  evolinkCreate,
  evolinkGet,
  fixtureBytes,
  type Json,
  VIDEO,
  waitFor,
} from './sim-requests.js';

// Decoding H.264/AAC in Node needs FFmpeg's codecs, as the simulator itself uses them.
registerMediabunnyServer({ hardwareContext: null });

/** A mono 16-bit PCM WAV of a sine tone. */
function sineWav(seconds: number, hz: number, rate = 16_000): Buffer {
  const frames = Math.round(seconds * rate);
  const wav = Buffer.alloc(44 + frames * 2);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(36 + frames * 2, 4);
  wav.write('WAVEfmt ', 8, 'latin1');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'latin1');
  wav.writeUInt32LE(frames * 2, 40);
  for (let i = 0; i < frames; i++) {
    wav.writeInt16LE(Math.round(12_000 * Math.sin((2 * Math.PI * hz * i) / rate)), 44 + i * 2);
  }
  return wav;
}

interface Probed {
  durationSec: number;
  video: { codec: string | null; width: number; height: number; durationSec: number; frames: number };
  audio: { codec: string | null; durationSec: number; decodedSec: number; toneHz: number };
  track: InputVideoTrack;
  input: Input;
}

/** Opens an MP4, decodes every video frame and all the audio (so "it plays"), and measures it. */
async function probe(bytes: Uint8Array): Promise<Probed> {
  const input = new Input({ formats: ALL_FORMATS, source: new BufferSource(bytes) });
  const track = await input.getPrimaryVideoTrack();
  const audioTrack = await input.getPrimaryAudioTrack();
  if (!track || !audioTrack) throw new Error('the result lacks a video or an audio track');
  let frames = 0;
  for await (const sample of new VideoSampleSink(track).samples()) {
    frames++;
    sample.close();
  }
  // The tone's pitch from zero crossings of the decoded first channel.
  let decodedSec = 0;
  let crossings = 0;
  let previous = 0;
  for await (const sample of new AudioSampleSink(audioTrack).samples()) {
    decodedSec += sample.duration;
    const plane = new Float32Array(sample.numberOfFrames);
    sample.copyTo(plane, { planeIndex: 0, format: 'f32-planar' });
    for (const v of plane) {
      if (v >= 0 !== previous >= 0) crossings++;
      previous = v;
    }
    sample.close();
  }
  return {
    durationSec: await input.computeDuration(),
    video: {
      codec: track.codec,
      width: await track.getDisplayWidth(),
      height: await track.getDisplayHeight(),
      durationSec: await track.computeDuration(),
      frames,
    },
    audio: {
      codec: audioTrack.codec,
      durationSec: await audioTrack.computeDuration(),
      decodedSec,
      toneHz: crossings / 2 / decodedSec,
    },
    track,
    input,
  };
}

/** Mean absolute difference of the luma planes of the frames shown at two times. */
async function lumaDistance(track: InputVideoTrack, a: number, b: number): Promise<number> {
  const sink = new VideoSampleSink(track);
  const luma = async (t: number) => {
    const sample = await sink.getSample(t);
    if (!sample) throw new Error(`no frame at ${t}`);
    const width = sample.codedWidth;
    const height = sample.codedHeight;
    const data = new Uint8Array(sample.allocationSize({ format: 'I420' }));
    await sample.copyTo(data, { format: 'I420' });
    sample.close();
    return data.subarray(0, width * height);
  };
  const [x, y] = [await luma(a), await luma(b)];
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs((x[i] ?? 0) - (y[i] ?? 0));
  return sum / x.length;
}

describe('result media (pure parts)', () => {
  it('takes the documented length: the shorter input, or the audio with video_extension', () => {
    expect(documentedLength(3, 4, false)).toBe(3);
    expect(documentedLength(5, 4, false)).toBe(4);
    expect(documentedLength(3, 4, true)).toBe(4);
    expect(documentedLength(5, 4, true)).toBe(4);
    expect(documentedLength(undefined, 4, false)).toBe(4);
  });

  it('cuts packets in decode order and ends the last one at the length', () => {
    // I0 P3 B1 B2 | P6 B4 B5 (frame units of 1 s): everything from P6 on starts at or after 5.
    const packets = [0, 3, 1, 2, 6, 4, 5].map((t) => ({ timestamp: t, duration: 1 }));
    const kept = cutPackets(packets, 5);
    expect(kept.map((p) => p.timestamp)).toEqual([0, 3, 1, 2]);
    expect(kept.at(-1)?.duration).toBe(1);
    // P3 starts after 2.5, so B1 and B2 (decoded after it) go too: a few frames short, never broken.
    expect(cutPackets(packets, 2.5).map((p) => [p.timestamp, p.duration])).toEqual([[0, 1]]);
    expect(cutPackets(packets, 0.5).map((p) => [p.timestamp, p.duration])).toEqual([[0, 0.5]]);
    // `hold` stretches the last frame to the length; audio (no hold) is never stretched.
    expect(cutPackets([{ timestamp: 0, duration: 1 }], 3, true)[0]?.duration).toBe(3);
    expect(cutPackets([{ timestamp: 0, duration: 1 }], 3)[0]?.duration).toBe(1);
    expect(packets[6]?.duration).toBe(1); // the input list is not touched
  });

  it('plays forward then back without repeating the turning frames', () => {
    expect(pingPongOrder(4)).toEqual([0, 1, 2, 3, 2, 1]);
    expect(pingPongOrder(2)).toEqual([0, 1]);
    expect(pingPongOrder(1)).toEqual([0]);
  });
});

describe('result media through the simulator (resultMode: mux)', () => {
  let sim: Simulator;
  let host: { url(name: string): string; close(): Promise<void> };
  const logs: string[] = [];
  const files: Record<string, Buffer> = {
    // 2.5 s at 300 Hz: shorter than the 3 s video.
    'tone-2.5s.wav': sineWav(2.5, 300),
    'speech-4s.wav': fixtureBytes('speech-4s.wav'), // 300 Hz, 4 s
    'speech-5s.mp3': fixtureBytes('speech-5s.mp3'), // 500 Hz, 5 s
    [VIDEO]: fixtureBytes(VIDEO), // its own audio is a 440 Hz tone
    // An AVI header the simulator recognises but cannot decode.
    'clip.avi': Buffer.concat([Buffer.from('RIFF\0\0\0\0AVI LIST', 'latin1'), Buffer.alloc(64)]),
  };

  beforeAll(async () => {
    sim = await createSimulator({
      jobMs: 100,
      resultMode: 'mux',
      limits: { dashscopeSubmitsPerSecond: Infinity },
      logger: (line) => logs.push(line),
    });
    const server = createServer((req, res) => {
      const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
      const body = files[name];
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    host = {
      url: (name) => `${base}/${encodeURIComponent(name)}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  });
  afterAll(async () => {
    await sim.close();
    await host.close();
  });

  async function dashscopeResult(audio: string, extension: boolean) {
    const { body } = await dsCreate(
      sim,
      dsBody(sim, { video_url: host.url(VIDEO), audio_url: host.url(audio) }, { video_extension: extension }),
    );
    const done = await waitFor(
      () => dsGet(sim, body.output.task_id).then((r) => r.body),
      (b: Json) => ['SUCCEEDED', 'FAILED'].includes(b.output.task_status),
      { timeoutMs: 50_000, intervalMs: 100 },
    );
    expect(done.output.task_status).toBe('SUCCEEDED');
    const res = await fetch(done.output.video_url);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    return { usage: done.usage as Json, media: await probe(new Uint8Array(await res.arrayBuffer())) };
  }

  const FRAME = 1 / 25;

  /** The result and its AAC audio last `lengthSec`, and one hears the submitted `hz` tone. */
  function expectLengthAndTone(media: Probed, lengthSec: number, hz: number) {
    expect(media.durationSec).toBeCloseTo(lengthSec, 3);
    expect(media.audio.codec).toBe('aac');
    expect(media.audio.durationSec).toBeCloseTo(lengthSec, 3);
    expect(media.audio.decodedSec).toBeCloseTo(lengthSec, 1);
    expect(media.audio.toneHz).toBeGreaterThan(hz * 0.9);
    expect(media.audio.toneHz).toBeLessThan(hz * 1.1);
  }

  it('video longer than the audio: the result is the audio’s length, with the new audio', async () => {
    const { usage, media } = await dashscopeResult('tone-2.5s.wav', false);
    expect(usage.video_duration).toBe(2.5);
    expectLengthAndTone(media, 2.5, 300); // the submitted 300 Hz, not the video's own 440 Hz
    expect(media.video).toMatchObject({ codec: 'avc', width: 640, height: 640 });
    // Cut in decode order: the last B-frames may go, never more than a few frames.
    expect(media.video.durationSec).toBeGreaterThan(2.5 - 3 * FRAME);
    expect(media.video.durationSec).toBeLessThanOrEqual(2.5 + 1e-3);
    expect(media.video.frames).toBeGreaterThanOrEqual(Math.round(2.5 / FRAME) - 3);
  });

  it('audio longer without extension: the result is the video’s length, the audio cut to it', async () => {
    const { usage, media } = await dashscopeResult('speech-4s.wav', false);
    expect(usage.video_duration).toBeGreaterThanOrEqual(3);
    expect(usage.video_duration).toBeLessThan(3.1);
    expectLengthAndTone(media, usage.video_duration, 300);
    expect(media.video.durationSec).toBeCloseTo(usage.video_duration, 3);
    expect(media.video.frames).toBe(75); // every frame, copied
  });

  it('audio longer with video_extension: the video plays forward and back to the audio’s length', async () => {
    const { usage, media } = await dashscopeResult('speech-5s.mp3', true);
    // The MP3's own length, encoder padding included (about 5.07 s).
    expect(usage.video_duration).toBeGreaterThanOrEqual(5);
    expect(usage.video_duration).toBeLessThan(5.1);
    expectLengthAndTone(media, usage.video_duration, 500);
    expect(media.video.durationSec).toBeCloseTo(usage.video_duration, 3);
    expect(media.video.frames).toBeGreaterThanOrEqual(Math.floor(usage.video_duration / FRAME));
    // Backwards after the end: 3.52 s shows source frame 60 again (shown first at 2.40 s).
    const mirrored = await lumaDistance(media.track, 2.4 + FRAME / 2, 3.52 + FRAME / 2);
    const moved = await lumaDistance(media.track, 2.0 + FRAME / 2, 2.4 + FRAME / 2);
    expect(mirrored).toBeLessThan(moved / 3);
    media.input.dispose();
  });

  it('EvoLink serves the same kind of result at its CDN link', async () => {
    const { body } = await evolinkCreate(
      sim,
      evolinkBody(sim, { video_url: host.url(VIDEO), audio_url: host.url('tone-2.5s.wav') }),
    );
    const done = await waitFor(
      () => evolinkGet(sim, body.id).then((r) => r.body),
      (b: Json) => b.status === 'completed' || b.status === 'failed',
      { timeoutMs: 50_000, intervalMs: 100 },
    );
    expect(done.status).toBe('completed');
    const media = await probe(new Uint8Array(await (await fetch(done.results[0])).arrayBuffer()));
    expectLengthAndTone(media, 2.5, 300);
  });

  it('serves the input video and says why when the video cannot be decoded', async () => {
    const video = `${host.url('clip.avi')}?sim_duration=3&sim_fps=25&sim_width=640&sim_height=640&sim_codec=h264`;
    const { body } = await dsCreate(
      sim,
      dsBody(sim, { video_url: video, audio_url: host.url('speech-4s.wav') }),
    );
    const done = await waitFor(
      () => dsGet(sim, body.output.task_id).then((r) => r.body),
      (b: Json) => ['SUCCEEDED', 'FAILED'].includes(b.output.task_status),
      { timeoutMs: 50_000, intervalMs: 100 },
    );
    expect(done.output.task_status).toBe('SUCCEEDED');
    const bytes = Buffer.from(await (await fetch(done.output.video_url)).arrayBuffer());
    expect(bytes.equals(files['clip.avi'] as Buffer)).toBe(true);
    expect(logs.some((l) => l.startsWith('result: could not put the audio on the video'))).toBe(true);
  });
});

describe('closing while a result is being made', () => {
  it('stops the work in flight and resolves', async () => {
    const s = await createSimulator({ jobMs: 100, resultMode: 'mux' });
    const { body } = await dsCreate(
      s,
      dsBody(s, { audio_url: s.fixtureUrl('speech-5s.mp3') }, { video_extension: true }),
    );
    expect(body.output.task_status).toBe('PENDING');
    // Both inputs are in: the task is probing them or making its result.
    await waitFor(
      async () => s.stats().requests['fixture.download'] ?? 0,
      (n) => n >= 2,
    );
    await s.close();
    const after = await fetch(s.url).catch((error: unknown) => error);
    expect(after).toBeInstanceOf(Error);
  });
});

describe('result mode option', () => {
  it('refuses an unknown mode, naming the option and the allowed values', async () => {
    await expect(createSimulator({ resultMode: 'copy' as 'mux' })).rejects.toThrow(
      'resultMode must be one of mux, echo, got "copy"',
    );
  });
});
