import { open } from 'node:fs/promises';
import {
  AdtsInputFormat,
  ALL_FORMATS,
  FilePathSource,
  FlacInputFormat,
  Input,
  type InputFormat,
  MatroskaInputFormat,
  Mp3InputFormat,
  Mp4InputFormat,
  OggInputFormat,
  QuickTimeInputFormat,
  WaveInputFormat,
  WebMInputFormat,
} from 'mediabunny';

export type MediaKind = 'video' | 'audio' | 'image';

/** What the simulator knows about one input file. Unknown fields stay undefined. */
export interface MediaMeta {
  kind: MediaKind;
  format?: string;
  codec?: string;
  durationSec?: number;
  width?: number;
  height?: number;
  fps?: number;
  sizeBytes?: number;
  /** `sim_face` marker: how the fake face detector sees the file. */
  face?: 'ok' | 'none' | 'multi' | 'nomatch';
}

function formatName(format: InputFormat): string {
  // WebM extends Matroska and QuickTime shares ISOBMFF with MP4, so the order matters.
  if (format instanceof WebMInputFormat) return 'webm';
  if (format instanceof MatroskaInputFormat) return 'mkv';
  if (format instanceof QuickTimeInputFormat) return 'mov';
  if (format instanceof Mp4InputFormat) return 'mp4';
  if (format instanceof WaveInputFormat) return 'wav';
  if (format instanceof Mp3InputFormat) return 'mp3';
  if (format instanceof AdtsInputFormat) return 'aac';
  if (format instanceof OggInputFormat) return 'ogg';
  if (format instanceof FlacInputFormat) return 'flac';
  return format.name.toLowerCase();
}

async function readHead(path: string, bytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Width/height and format of PNG, JPEG, GIF, BMP and WebP files, from their headers. */
export function sniffImage(head: Buffer): Pick<MediaMeta, 'format' | 'width' | 'height'> | undefined {
  if (head.length >= 24 && head.readUInt32BE(0) === 0x89504e47) {
    return { format: 'png', width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
  }
  if (head.length >= 10 && head.toString('latin1', 0, 3) === 'GIF') {
    return { format: 'gif', width: head.readUInt16LE(6), height: head.readUInt16LE(8) };
  }
  if (head.length >= 26 && head.toString('latin1', 0, 2) === 'BM') {
    return { format: 'bmp', width: head.readInt32LE(18), height: Math.abs(head.readInt32LE(22)) };
  }
  if (
    head.length >= 30 &&
    head.toString('latin1', 0, 4) === 'RIFF' &&
    head.toString('latin1', 8, 12) === 'WEBP'
  ) {
    const chunk = head.toString('latin1', 12, 16);
    if (chunk === 'VP8 ') {
      return {
        format: 'webp',
        width: head.readUInt16LE(26) & 0x3fff,
        height: head.readUInt16LE(28) & 0x3fff,
      };
    }
    if (chunk === 'VP8L') {
      const bits = head.readUInt32LE(21);
      return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
    }
    if (chunk === 'VP8X') {
      return { format: 'webp', width: head.readUIntLE(24, 3) + 1, height: head.readUIntLE(27, 3) + 1 };
    }
    return { format: 'webp' };
  }
  if (head.length >= 4 && head[0] === 0xff && head[1] === 0xd8) {
    let i = 2;
    while (i + 9 < head.length) {
      if (head[i] !== 0xff) return { format: 'jpeg' };
      const marker = head[i + 1] ?? 0;
      const length = head.readUInt16BE(i + 2);
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isSof) return { format: 'jpeg', height: head.readUInt16BE(i + 5), width: head.readUInt16BE(i + 7) };
      i += 2 + length;
    }
    return { format: 'jpeg' };
  }
  return undefined;
}

function sniffContainer(head: Buffer): string | undefined {
  if (
    head.length >= 12 &&
    head.toString('latin1', 0, 4) === 'RIFF' &&
    head.toString('latin1', 8, 12) === 'AVI '
  ) {
    return 'avi';
  }
  return undefined;
}

/**
 * Probes a downloaded file. Media files go through mediabunny; images are read from their
 * headers; anything unreadable returns only what the bytes reveal (possibly nothing).
 */
export async function probeFile(path: string, kind: MediaKind, sizeBytes: number): Promise<MediaMeta> {
  const meta: MediaMeta = { kind, sizeBytes };
  const head = await readHead(path, 64 * 1024);
  const image = sniffImage(head);
  if (image) return { ...meta, ...image };
  const container = sniffContainer(head);
  if (container) return { ...meta, format: container };

  const input = new Input({ formats: ALL_FORMATS, source: new FilePathSource(path) });
  try {
    meta.format = formatName(await input.getFormat());
    meta.durationSec = await input.computeDuration();
    const video = await input.getPrimaryVideoTrack();
    if (video) {
      meta.width = video.displayWidth;
      meta.height = video.displayHeight;
      if (video.codec) meta.codec = video.codec;
      const stats = await video.computePacketStats(240);
      if (stats.averagePacketRate > 0) meta.fps = stats.averagePacketRate;
    } else {
      const audio = await input.getPrimaryAudioTrack();
      if (audio?.codec) meta.codec = audio.codec;
    }
  } catch {
    // Unrecognised bytes: the caller decides (metadata params or InvalidFile.Format).
  } finally {
    input.dispose();
  }
  return meta;
}

/**
 * Metadata given on the input URL (`sim_duration`, `sim_fps`, `sim_width`, `sim_height`,
 * `sim_size`, `sim_format`, `sim_codec`, `sim_face`). It overrides what probing found, so a
 * test can take a real fixture and claim, say, a 200 s duration.
 */
export function metaFromUrl(url: string): Partial<MediaMeta> {
  let params: URLSearchParams;
  try {
    params = new URL(url).searchParams;
  } catch {
    return {};
  }
  const out: Partial<MediaMeta> = {};
  const num = (name: string): number | undefined => {
    const v = params.get(name);
    if (v === null || v.trim() === '') return undefined;
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  const duration = num('sim_duration');
  if (duration !== undefined) out.durationSec = duration;
  const fps = num('sim_fps');
  if (fps !== undefined) out.fps = fps;
  const width = num('sim_width');
  if (width !== undefined) out.width = width;
  const height = num('sim_height');
  if (height !== undefined) out.height = height;
  const size = num('sim_size');
  if (size !== undefined) out.sizeBytes = size;
  const format = params.get('sim_format');
  if (format) out.format = format.toLowerCase();
  const codec = params.get('sim_codec');
  if (codec) out.codec = codec.toLowerCase();
  const face = params.get('sim_face');
  if (face === 'ok' || face === 'none' || face === 'multi' || face === 'nomatch') out.face = face;
  return out;
}

/** True when the URL carries any `sim_*` metadata parameter. */
export function hasUrlMeta(url: string): boolean {
  return Object.keys(metaFromUrl(url)).length > 0;
}
