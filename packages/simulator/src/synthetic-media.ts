import { mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import {
  type AudioCodec,
  AudioSample,
  AudioSampleSource,
  FilePathTarget,
  FlacOutputFormat,
  MkvOutputFormat,
  MovOutputFormat,
  Mp3OutputFormat,
  Mp4OutputFormat,
  OggOutputFormat,
  Output,
  type OutputFormat,
  type Rotation,
  type VideoCodec,
  VideoSample,
  VideoSampleSource,
  WavOutputFormat,
  WebMOutputFormat,
} from 'mediabunny';
import { loadCodecs } from './codecs.js';

// `@retalk/simulator/media`: real media made at test or bench time with mediabunny and FFmpeg's
// encoders (through @mediabunny/server), so suites need no committed binaries beyond the small
// fixtures. Small sizes and short lengths keep a loaded 2-core machine quick. Each process gets
// its own temp dir; a file is made once per process and reused.

/** A synthetic video to make. */
export interface VideoSpec {
  container: 'mp4' | 'mov' | 'webm' | 'mkv';
  codec: VideoCodec;
  width: number;
  height: number;
  fps: number;
  durationSec: number;
  /** Rotation metadata (the frames stay as coded). */
  rotation?: Rotation;
  /** Add a sound track in this codec. */
  audio?: AudioCodec;
}

/** A synthetic recording to make. */
export interface AudioSpec {
  container: 'm4a' | 'ogg' | 'flac' | 'wav' | 'mp3' | 'webm';
  codec: AudioCodec;
  durationSec: number;
  sampleRate?: number;
  channels?: number;
}

const CONTAINERS: Record<VideoSpec['container'] | AudioSpec['container'], () => OutputFormat> = {
  mp4: () => new Mp4OutputFormat(),
  m4a: () => new Mp4OutputFormat(),
  mov: () => new MovOutputFormat(),
  webm: () => new WebMOutputFormat(),
  mkv: () => new MkvOutputFormat(),
  ogg: () => new OggOutputFormat(),
  flac: () => new FlacOutputFormat(),
  wav: () => new WavOutputFormat(),
  mp3: () => new Mp3OutputFormat(),
};

let dir: string | undefined;
const made = new Map<string, Promise<string>>();

/** This test file's fixture directory (made on first use). */
export function fixtureDir(): string {
  dir ??= mkdtempSync(join(tmpdir(), 'retalk-conform-'));
  return dir;
}

function once(key: string, make: (path: string) => Promise<void>): Promise<string> {
  let file = made.get(key);
  if (!file) {
    const path = join(fixtureDir(), key);
    file = make(path).then(() => path);
    made.set(key, file);
  }
  return file;
}

async function addTone(source: AudioSampleSource, durationSec: number, sampleRate: number, channels: number) {
  // One second per sample: a 220 Hz tone, the same on every channel (planar).
  for (let t = 0; t < durationSec; t += 1) {
    const frames = Math.round(Math.min(1, durationSec - t) * sampleRate);
    const data = new Float32Array(frames * channels);
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < frames; i++)
        data[c * frames + i] = 0.3 * Math.sin((2 * Math.PI * 220 * (t * sampleRate + i)) / sampleRate);
    }
    const sample = new AudioSample({
      data,
      format: 'f32-planar',
      numberOfChannels: channels,
      sampleRate,
      timestamp: t,
    });
    await source.add(sample);
    sample.close();
  }
}

/** Makes (once) a video of `spec`: a grey picture with a moving white bar, and an optional tone. */
export function makeVideo(spec: VideoSpec): Promise<string> {
  const key = `${spec.codec}-${spec.width}x${spec.height}-${spec.fps}fps-${spec.durationSec}s-r${spec.rotation ?? 0}-${spec.audio ?? 'mute'}.${spec.container}`;
  return once(key, async (path) => {
    await loadCodecs();
    const output = new Output({ format: CONTAINERS[spec.container](), target: new FilePathTarget(path) });
    const video = new VideoSampleSource({
      codec: spec.codec,
      bitrate: 300_000,
      keyFrameInterval: 2,
      // Fastest encoder settings: fixtures need to exist, not to look good.
      latencyMode: 'realtime',
    });
    output.addVideoTrack(video, {
      frameRate: spec.fps,
      ...(spec.rotation ? { rotation: spec.rotation } : {}),
    });
    const audio = spec.audio ? new AudioSampleSource({ codec: spec.audio, bitrate: 64_000 }) : undefined;
    if (audio) output.addAudioTrack(audio);
    await output.start();
    const { width, height } = spec;
    const pixels = new Uint8Array(width * height * 4);
    const frames = Math.round(spec.durationSec * spec.fps);
    for (let i = 0; i < frames; i++) {
      pixels.fill(96);
      const bar = Math.floor((i / frames) * width);
      for (let y = 0; y < height; y++)
        pixels.fill(255, (y * width + bar) * 4, (y * width + Math.min(width, bar + 8)) * 4);
      const frame = new VideoSample(pixels, {
        format: 'RGBA',
        codedWidth: width,
        codedHeight: height,
        timestamp: i / spec.fps,
        duration: 1 / spec.fps,
      });
      await video.add(frame);
      frame.close();
    }
    if (audio) await addTone(audio, spec.durationSec, 48_000, 2);
    await output.finalize();
  });
}

/** Makes (once) a recording of `spec`: a 220 Hz tone. */
export function makeAudio(spec: AudioSpec): Promise<string> {
  const sampleRate = spec.sampleRate ?? 48_000;
  const channels = spec.channels ?? 1;
  const key = `${spec.codec}-${sampleRate}-${channels}ch-${spec.durationSec}s.${spec.container}`;
  return once(key, async (path) => {
    await loadCodecs();
    const output = new Output({ format: CONTAINERS[spec.container](), target: new FilePathTarget(path) });
    const audio = new AudioSampleSource({ codec: spec.codec, bitrate: 64_000 });
    output.addAudioTrack(audio);
    await output.start();
    await addTone(audio, spec.durationSec, sampleRate, channels);
    await output.finalize();
  });
}
/** A synthetic still image to make. */
export interface ImageSpec {
  format: 'png';
  width: number;
  height: number;
  /** A white square in the top-left corner, so a test can tell which way up the picture is. */
  marker?: boolean;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** Makes (once) an RGB PNG of `spec`: grey, with a lighter disc in the middle (a stand-in face). */
export function makeImage(spec: ImageSpec): Promise<string> {
  return once(
    `image-${spec.width}x${spec.height}${spec.marker ? '-marked' : ''}.${spec.format}`,
    async (path) => {
      const { width, height } = spec;
      const header = Buffer.alloc(13);
      header.writeUInt32BE(width, 0);
      header.writeUInt32BE(height, 4);
      header[8] = 8; // bits per channel
      header[9] = 2; // RGB
      const stride = 1 + width * 3;
      const raw = Buffer.alloc(stride * height, 96);
      const radius = Math.min(width, height) / 3;
      for (let y = 0; y < height; y++) {
        raw[y * stride] = 0; // filter: none
        const dy = y - height / 2;
        if (Math.abs(dy) >= radius) continue;
        const half = Math.sqrt(radius * radius - dy * dy);
        const from = Math.max(0, Math.floor(width / 2 - half));
        const to = Math.min(width, Math.ceil(width / 2 + half));
        raw.fill(220, y * stride + 1 + from * 3, y * stride + 1 + to * 3);
      }
      if (spec.marker) {
        const side = Math.max(1, Math.floor(Math.min(width, height) / 5));
        for (let y = 0; y < side; y++) raw.fill(255, y * stride + 1, y * stride + 1 + side * 3);
      }
      await writeFile(
        path,
        Buffer.concat([
          Buffer.from('89504e470d0a1a0a', 'hex'),
          pngChunk('IHDR', header),
          pngChunk('IDAT', deflateSync(raw)),
          pngChunk('IEND', Buffer.alloc(0)),
        ]),
      );
    },
  );
}

export { loadCodecs } from './codecs.js';
