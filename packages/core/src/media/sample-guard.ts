import { ConformError } from '../errors.js';
import type { ByteSource } from './byte-source.js';

/**
 * Default {@link SampleGuardOptions.maxSamples}: about 2 h of 60 fps video, or 1 h of video with
 * its sound. A usable input (≤ 120 s, ≤ 60 fps) has at most 7 200 video samples; a longer source
 * is fine when a clip is chosen from it, but not one whose tables claim millions.
 */
export const DEFAULT_MAX_SAMPLES = 500_000;

/** Largest MP4/MOV index (`moov` box) read, in bytes. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
/** Most top-level boxes walked (a fragmented MP4 has two per fragment). */
const MAX_TOP_LEVEL_BOXES = 200_000;

/** Options of {@link guardSamples}. */
export interface SampleGuardOptions {
  /** Most frames/packets a file may claim across its tracks. Default {@link DEFAULT_MAX_SAMPLES}. */
  maxSamples?: number | undefined;
}

const ISOBMFF_TOP = new Set([
  'ftyp',
  'moov',
  'mdat',
  'free',
  'skip',
  'wide',
  'pnot',
  'uuid',
  'moof',
  'mfra',
  'sidx',
  'styp',
  'meta',
  'pdin',
]);
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'mvex', 'moof', 'traf']);

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at] ?? 0, b[at + 1] ?? 0, b[at + 2] ?? 0, b[at + 3] ?? 0);
}

function u32(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}

function u64(b: Uint8Array, at: number): number {
  return u32(b, at) * 2 ** 32 + u32(b, at + 4);
}

const damaged = (what: string) =>
  new ConformError('undecodable', `The file is damaged (${what}); export it again or choose another file.`, {
    field: 'file',
  });

const tooMany = (claimed: number, max: number) =>
  new ConformError(
    'too_many_samples',
    `The file claims ${claimed.toLocaleString('en')} frames, more than the ${max.toLocaleString('en')} a usable input can have; export it again or choose another file.`,
    { field: 'file', allowed: `at most ${max.toLocaleString('en')} frames` },
  );

/** Sample counts of one MP4/MOV index, checked against the space its tables take. */
function countSamples(
  b: Uint8Array,
  start: number,
  end: number,
  state: { total: number; handler: string },
): void {
  let at = start;
  while (at + 8 <= end) {
    let size = u32(b, at);
    const type = fourcc(b, at + 4);
    let header = 8;
    if (size === 1) {
      size = u64(b, at + 8);
      header = 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < header || at + size > end) throw damaged(`the ${type} box runs past its parent`);
    const body = at + header;
    const bodyLength = size - header;
    if (CONTAINERS.has(type)) {
      if (type === 'trak') state.handler = '';
      countSamples(b, body, at + size, state);
    } else if (type === 'hdlr' && bodyLength >= 12) {
      state.handler = fourcc(b, body + 8);
    } else if (type === 'stsz' && bodyLength >= 12) {
      const sampleSize = u32(b, body + 4);
      const count = u32(b, body + 8);
      if (sampleSize === 0 && 12 + count * 4 > bodyLength) throw damaged('its sample table is cut short');
      // Constant-size PCM sound is stored per sample but read per chunk: only tables count there.
      if (sampleSize === 0 || state.handler !== 'soun') state.total += count;
    } else if ((type === 'stts' || type === 'ctts') && bodyLength >= 8) {
      if (8 + u32(b, body + 4) * 8 > bodyLength) throw damaged(`its ${type} table is cut short`);
    } else if ((type === 'stco' || type === 'stss') && bodyLength >= 8) {
      if (8 + u32(b, body + 4) * 4 > bodyLength) throw damaged(`its ${type} table is cut short`);
    } else if (type === 'co64' && bodyLength >= 8) {
      if (8 + u32(b, body + 4) * 8 > bodyLength) throw damaged('its chunk table is cut short');
    } else if (type === 'stsc' && bodyLength >= 8) {
      if (8 + u32(b, body + 4) * 12 > bodyLength) throw damaged('its chunk map is cut short');
    } else if (type === 'trun' && bodyLength >= 8) {
      state.total += u32(b, body + 4);
    }
    at += size;
  }
}

/** Walks an MP4/MOV file's boxes: refuses one cut short, a damaged index, or absurd sample counts. */
async function guardIsobmff(source: ByteSource, maxSamples: number): Promise<void> {
  const state = { total: 0, handler: '' };
  let at = 0;
  for (let boxes = 0; at < source.size; boxes++) {
    if (boxes >= MAX_TOP_LEVEL_BOXES) throw tooMany(boxes, MAX_TOP_LEVEL_BOXES);
    const head = await source.read(at, 16);
    if (head.byteLength < 8) throw damaged('it ends inside a box header');
    let size = u32(head, 0);
    const type = fourcc(head, 4);
    if (size === 1) size = u64(head, 8);
    else if (size === 0) size = source.size - at;
    if (size < 8) throw damaged(`the ${type} box has an impossible size`);
    if (at + size > source.size)
      throw damaged(`it is cut short: the ${type} box needs ${at + size - source.size} more bytes`);
    if (type === 'moov' || type === 'moof') {
      if (size > MAX_INDEX_BYTES) throw tooMany(Math.floor(size / 4), maxSamples);
      const box = await source.read(at, size);
      countSamples(box, 0, box.byteLength, state);
      if (state.total > maxSamples) throw tooMany(state.total, maxSamples);
    }
    at += size;
  }
}

const MP3_BITRATES_V1_L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MP3_BITRATES_V2_L3 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const MP3_RATES: Record<number, number[]> = {
  3: [44_100, 48_000, 32_000],
  2: [22_050, 24_000, 16_000],
  0: [11_025, 12_000, 8_000],
};

/** Length in bytes of the MPEG audio layer III frame at `b[at]`, or 0 when there is none. */
function mp3FrameLength(b: Uint8Array, at: number): number {
  if (b[at] !== 0xff || ((b[at + 1] ?? 0) & 0xe0) !== 0xe0) return 0;
  const version = ((b[at + 1] ?? 0) >> 3) & 3;
  const layer = ((b[at + 1] ?? 0) >> 1) & 3;
  const bitrateIndex = ((b[at + 2] ?? 0) >> 4) & 15;
  const rateIndex = ((b[at + 2] ?? 0) >> 2) & 3;
  const padding = ((b[at + 2] ?? 0) >> 1) & 1;
  if (version === 1 || layer !== 1 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return 0;
  const kbps = (version === 3 ? MP3_BITRATES_V1_L3 : MP3_BITRATES_V2_L3)[bitrateIndex] ?? 0;
  const rate = MP3_RATES[version]?.[rateIndex] ?? 0;
  if (!kbps || !rate) return 0;
  return Math.floor(((version === 3 ? 144 : 72) * kbps * 1000) / rate) + padding;
}

/** An MP3's frame count, estimated from its first frame, refused when absurd (frame-by-frame parsing is slow). */
async function guardMp3(source: ByteSource, head: Uint8Array, maxSamples: number): Promise<void> {
  let at = 0;
  if (fourcc(head, 0).startsWith('ID3') && head.byteLength >= 10) {
    at = 10 + (((head[6] ?? 0) << 21) | ((head[7] ?? 0) << 14) | ((head[8] ?? 0) << 7) | (head[9] ?? 0));
  }
  const frame = await source.read(at, 4);
  const length = mp3FrameLength(frame, 0);
  if (length === 0) return;
  const estimate = Math.floor((source.size - at) / length);
  if (estimate > maxSamples) throw tooMany(estimate, maxSamples);
}

/**
 * Refuses a file before any parser reads it when its tables claim more samples than `maxSamples`
 * (an MP4 claiming 25 M samples froze a probe for 11 s and took 0.8 GB), when it is cut short, or
 * when its MP4 index contradicts itself. Reads only box headers and the index. Other containers
 * pass (their parsers read incrementally), except MP3, whose frame count is estimated.
 *
 * @throws {ConformError} `too_many_samples` or `undecodable`.
 */
export async function guardSamples(source: ByteSource, options: SampleGuardOptions = {}): Promise<void> {
  const maxSamples = options.maxSamples ?? DEFAULT_MAX_SAMPLES;
  const head = await source.read(0, 16);
  if (head.byteLength >= 8 && ISOBMFF_TOP.has(fourcc(head, 4))) return guardIsobmff(source, maxSamples);
  if (fourcc(head, 0).startsWith('ID3') || mp3FrameLength(head, 0) > 0)
    return guardMp3(source, head, maxSamples);
}
