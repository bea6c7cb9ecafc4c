import { type KindLimits, MEDIA_LIMITS, type ProviderMediaLimits } from '../limits.js';
import type { Provider } from '../task.js';
import {
  displaySize,
  type ImageOrientation,
  imageDisplaySize,
  type MediaKind,
  type ProbedMedia,
} from './probed-media.js';
import type { ConformRefusal } from './refusal.js';

/** The part of a file to use, in seconds from its start. Missing ends mean the file's own ends. */
export interface ClipRange {
  startSec?: number | undefined;
  endSec?: number | undefined;
  /**
   * Where the file starts in a longer original (a piece cut from it), in seconds: the sentences
   * name the trim in the original's times. Does not move the cut.
   */
  originSec?: number | undefined;
}

/** Options of {@link planConform}. */
export interface ConformOptions {
  /** Whose limits to meet. */
  provider: Provider;
  /** The part of the file to use; without it the whole file is used (and must fit 2–120 s). */
  clip?: ClipRange | undefined;
  /** Limits to meet instead of `MEDIA_LIMITS[provider]`. */
  limits?: ProviderMediaLimits | undefined;
}

/** A width and height in pixels. */
export interface PixelSize {
  width: number;
  height: number;
}

/**
 * One change the executor makes. Video steps apply in this order: trim, rotate, scale, fps,
 * encode (H.264), container; a video written anew leaves its own audio out.
 */
export type ConformStep =
  /** Keep only `startSec`–`endSec` of the source (seconds). Cut on exact frames, so the video is re-encoded. */
  | { type: 'trim'; startSec: number; endSec: number }
  /** Turn the frames upright by the rotation the file asked its player for (baked into the pixels). */
  | { type: 'rotate'; degrees: 90 | 180 | 270 }
  /**
   * Resize to `width`×`height`. The picture itself becomes `content` (aspect kept); when `pad` is
   * true it is centred on black bars to reach `width`×`height` (only when no plain scale fits).
   */
  | { type: 'scale'; from: PixelSize; width: number; height: number; content: PixelSize; pad: boolean }
  /** Set the frame rate (frames per second). */
  | { type: 'fps'; from: number; fps: number }
  /** Re-encode the video as H.264 at about `bitrate` bits per second. */
  | { type: 'encode_video'; from: string; codec: 'h264'; bitrate: number }
  /** Write into a new MP4 (copying the stream unless `encode_video` is also planned). */
  | { type: 'container'; from: string; container: 'mp4' }
  /**
   * Leave out the video's own sound track (the new audio replaces it). Planned only alongside a
   * step that writes a new file anyway: a video that otherwise fits keeps its sound and passes through.
   */
  | { type: 'drop_audio' }
  /** Re-encode the audio as 16-bit PCM WAV. */
  | {
      type: 'encode_audio';
      from: string;
      container: 'wav';
      codec: 'pcm_s16';
      sampleRate: number;
      channels: number;
    }
  /**
   * Turn or mirror a reference image as its EXIF orientation asks (before any `scale`): the
   * re-encoded JPEG carries no EXIF, so the pixels themselves must be upright.
   */
  | { type: 'orient_image'; orientation: ImageOrientation }
  /** Re-encode the image (after any `scale`) as JPEG. */
  | { type: 'encode_image'; from: string; format: 'jpeg'; quality: number };

/** What the conformed file will be. */
export interface ConformOutput {
  /** Seconds (video and audio). */
  durationSec?: number | undefined;
  width?: number | undefined;
  height?: number | undefined;
  fps?: number | undefined;
  /** `mp4`, `mov`, `avi`, `wav`, `mp3`, `aac`, `jpeg`, `png`, … */
  container: string;
  /** Normalized codec (`h264`, `hevc`, `pcm_s16`, `mp3`, …) when known. */
  codec?: string | undefined;
  sampleRate?: number | undefined;
  channels?: number | undefined;
}

/** What must change for a file to fit the provider's limits. */
export interface ConformPlan {
  kind: MediaKind;
  /** Nothing changes: the file is used byte for byte. */
  passthrough: boolean;
  /** The changes, in the order the executor applies them. */
  steps: ConformStep[];
  /** One plain sentence per change, for people ("scaled 640×360 → 1138×640"). Empty for a passthrough. */
  changes: string[];
  /** What the result will be. */
  output: ConformOutput;
}

/** The answer of {@link planConform}: a plan, or a refusal that says what to do. */
export type ConformResult = { ok: true; plan: ConformPlan } | { ok: false; refusal: ConformRefusal };

/** Frame rate used when the source's is below the provider's minimum or unknown. */
export const CONFORM_LOW_FPS_TARGET = 25;
/** Quality (0–1) of re-encoded JPEG reference images. */
export const CONFORM_JPEG_QUALITY = 0.9;
/** Highest audio sample rate written to WAV, in hertz (keeps 120 s of stereo under 30 MB). */
export const CONFORM_MAX_SAMPLE_RATE = 48_000;
/** Slack when a clip's end is compared with the file's length, in seconds (container rounding). */
const END_SLACK_SEC = 0.05;
/** Video bits per pixel per frame when re-encoding (plenty for H.264 at talking-head content). */
const BITS_PER_PIXEL = 0.12;

const CONTAINER_NAMES: Record<string, string> = {
  mp4: 'MP4',
  mov: 'MOV',
  webm: 'WebM',
  mkv: 'MKV',
  avi: 'AVI',
  wav: 'WAV',
  mp3: 'MP3',
  aac: 'AAC',
  m4a: 'M4A',
  ogg: 'Ogg',
  flac: 'FLAC',
  png: 'PNG',
  jpeg: 'JPEG',
  webp: 'WebP',
  bmp: 'BMP',
  gif: 'GIF',
};

const CODEC_NAMES: Record<string, string> = {
  h264: 'H.264',
  hevc: 'HEVC',
  vp8: 'VP8',
  vp9: 'VP9',
  av1: 'AV1',
  prores: 'ProRes',
  aac: 'AAC',
  mp3: 'MP3',
  opus: 'Opus',
  vorbis: 'Vorbis',
  flac: 'FLAC',
  pcm: 'PCM',
  pcm_s16: 'PCM',
};

const containerName = (c: string) => CONTAINER_NAMES[c] ?? c.toUpperCase();
const codecName = (c: string) => CODEC_NAMES[c] ?? c.toUpperCase();
const size = (s: PixelSize) => `${s.width}×${s.height}`;

/** `75.5` → `1:15.5`, `42` → `0:42`. */
/** "trimmed to 0:12–0:42 (30 s)", in the times of the original a piece was cut from when known. */
function trimSentence(range: { startSec: number; endSec: number }, originSec = 0): string {
  const length = round3(range.endSec - range.startSec);
  return `trimmed to ${formatClock(originSec + range.startSec)}–${formatClock(originSec + range.endSec)} (${formatLength(length)})`;
}

export function formatClock(sec: number): string {
  const whole = Math.floor(sec);
  const tenths = Math.round((sec - whole) * 10);
  const s = tenths === 10 ? whole + 1 : whole;
  const frac = tenths === 0 || tenths === 10 ? '' : `.${tenths}`;
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}${frac}`;
}

/** `120` → `2 min`, `90` → `1:30`, `30` → `30 s`. */
function formatLength(sec: number): string {
  if (sec >= 60 && sec % 60 === 0) return `${sec / 60} min`;
  return sec >= 60 ? formatClock(sec) : `${Math.round(sec * 10) / 10} s`;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;
const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);

function refuse(refusal: ConformRefusal): ConformResult {
  return { ok: false, refusal };
}

/**
 * Settles the part of the file to use and checks its length against `min`–`max` seconds. Returns
 * the range, whether it is a trim, or a refusal. Never shortens anything on its own.
 */
function resolveClip(
  what: string,
  durationSec: number | undefined,
  clip: ClipRange | undefined,
  limits: KindLimits,
): { startSec: number; endSec: number; trim: boolean } | ConformRefusal {
  const min = limits.minDurationSec ?? 0;
  const max = limits.maxDurationSec ?? Number.POSITIVE_INFINITY;
  const allowed = `${min}–${max} s (at most ${formatLength(max)})`;
  if (durationSec === undefined || !Number.isFinite(durationSec) || durationSec <= 0) {
    return {
      code: 'undecodable',
      field: what,
      message: `Could not tell how long the ${what} is; it may be damaged. Export it again or choose another file.`,
    };
  }
  const { startSec, endSec } = clip ?? {};
  for (const [name, value] of [
    ['startSec', startSec],
    ['endSec', endSec],
  ] as const) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
      return {
        code: 'clip_invalid',
        field: `clip.${name}`,
        message: `The clip ${name === 'startSec' ? 'start' : 'end'} must be a number of seconds, 0 or more.`,
        allowed: `0–${round3(durationSec)} s`,
      };
    }
  }
  const start = startSec ?? 0;
  const end = endSec ?? durationSec;
  const inside = `0:00–${formatClock(durationSec)}`;
  if (start >= end) {
    return {
      code: 'clip_invalid',
      field: 'clip.endSec',
      message: `The clip ends (${formatClock(end)}) before it starts (${formatClock(start)}); choose an end after the start.`,
      allowed: `after the start, within ${inside}`,
    };
  }
  if (start >= durationSec || end > durationSec + END_SLACK_SEC) {
    return {
      code: 'clip_out_of_range',
      field: start >= durationSec ? 'clip.startSec' : 'clip.endSec',
      message: `The ${what} is ${formatClock(durationSec)} long; choose a clip within ${inside}.`,
      allowed: inside,
    };
  }
  const clippedEnd = Math.min(end, durationSec);
  const length = clippedEnd - start;
  const whole = clip?.startSec === undefined && clip?.endSec === undefined;
  if (length > max) {
    return {
      code: 'clip_too_long',
      field: 'clip',
      message: whole
        ? `The ${what} is ${formatClock(durationSec)} long; choose a clip of at most ${formatLength(max)} (a start and an end).`
        : `The clip ${formatClock(start)}–${formatClock(clippedEnd)} is ${formatLength(round3(length))} long; choose at most ${formatLength(max)}.`,
      allowed,
    };
  }
  if (length < min) {
    return {
      code: 'clip_too_short',
      field: whole ? what : 'clip',
      message: whole
        ? `The ${what} is only ${formatLength(round3(length))} long; use one of at least ${min} s.`
        : `The clip is only ${formatLength(round3(length))} long; choose at least ${min} s.`,
      allowed,
    };
  }
  const trim = start > 0 || clippedEnd < durationSec - END_SLACK_SEC;
  return { startSec: start, endSec: trim ? clippedEnd : durationSec, trim };
}

function isRefusal(value: object): value is ConformRefusal {
  return 'code' in value && 'message' in value;
}

/**
 * The size a video (display size `from`) must become so each side is within `min`–`max` px
 * (`rule: 'each'`) or the longer side reaches `min` (`'longer'`), keeping the aspect. Padding is
 * used only when no scale satisfies both sides (e.g. 4000×500: a 8:1 strip).
 */
function fitVideo(
  from: PixelSize,
  min: number,
  max: number,
  rule: 'each' | 'longer',
  mustBeEven: boolean,
): { width: number; height: number; content: PixelSize; pad: boolean } | undefined {
  const long = Math.max(from.width, from.height);
  const short = Math.min(from.width, from.height);
  const measured = rule === 'each' ? short : long;
  let factor = 1;
  if (measured < min) factor = min / measured;
  else if (long > max) factor = max / long;
  const scaledLong = long * factor;
  const scaledShort = short * factor;
  const fits =
    scaledLong <= max + 0.5 && (rule === 'longer' ? scaledLong >= min - 0.5 : scaledShort >= min - 0.5);
  if (factor === 1 && (!mustBeEven || (from.width % 2 === 0 && from.height % 2 === 0))) return undefined;
  const landscape = from.width >= from.height;
  const clamp = (n: number) => Math.min(max, Math.max(rule === 'each' ? min : 2, n));
  if (fits) {
    const a = clamp(even(scaledLong));
    const b = clamp(even(scaledShort));
    const out = landscape ? { width: a, height: b } : { width: b, height: a };
    return { ...out, content: out, pad: false };
  }
  // No scale keeps both sides in range: the longer side goes to the maximum, the shorter side is
  // padded up to the minimum.
  const f = max / long;
  const contentLong = even(long * f);
  const contentShort = even(short * f);
  const content = landscape
    ? { width: contentLong, height: contentShort }
    : { width: contentShort, height: contentLong };
  const box = landscape ? { width: max, height: min } : { width: min, height: max };
  return { ...box, content, pad: true };
}

function planVideo(media: ProbedMedia, clip: ClipRange | undefined, limits: KindLimits): ConformResult {
  const video = media.video;
  if (!video) {
    return refuse({
      code: 'no_video_track',
      field: 'video',
      message: 'This file has no picture (no video track); choose a video of the person speaking.',
    });
  }
  if (!video.codec || video.codec === 'unknown' || !(video.width > 0) || !(video.height > 0)) {
    return refuse({
      code: 'undecodable',
      field: 'video',
      message: 'The video track cannot be read (unknown codec or size); export it again as MP4 or WebM.',
    });
  }
  const range = resolveClip('video', media.durationSec, clip, limits);
  if (isRefusal(range)) return refuse(range);

  const steps: ConformStep[] = [];
  const changes: string[] = [];
  const length = range.endSec - range.startSec;
  let encode = false;
  const encodeReasons: string[] = [];

  if (range.trim) {
    steps.push({ type: 'trim', startSec: range.startSec, endSec: range.endSec });
    changes.push(trimSentence(range, clip?.originSec));
    encode = true;
    encodeReasons.push('to cut on the exact frames');
  }

  const display = displaySize(video);
  if (video.rotation !== 0) {
    steps.push({ type: 'rotate', degrees: video.rotation });
    changes.push(`turned upright (the file asked for a ${video.rotation}° rotation): ${size(display)}`);
    encode = true;
  }

  const codecOk = (limits.codecs ?? []).includes(video.codec);
  const min = limits.minSidePx ?? 0;
  const max = limits.maxSidePx ?? Number.POSITIVE_INFINITY;
  const minFps = limits.minFps ?? 0;
  const maxFps = limits.maxFps ?? Number.POSITIVE_INFINITY;
  const fpsKnown = Number.isFinite(video.fps) && video.fps > 0;
  const fpsOk = fpsKnown && video.fps >= minFps - 0.01 && video.fps <= maxFps + 0.01;
  let fps = fpsKnown ? video.fps : CONFORM_LOW_FPS_TARGET;

  // Scaling needs a re-encode anyway; a re-encode to H.264 needs even sides.
  const needsScale = fitVideo(display, min, max, limits.minSideRule ?? 'each', false) !== undefined;
  if (needsScale || !codecOk || !fpsOk) encode = true;
  const scale = fitVideo(display, min, max, limits.minSideRule ?? 'each', encode);
  let outSize: PixelSize = display;
  if (scale) {
    steps.push({ type: 'scale', from: display, ...scale });
    changes.push(
      scale.pad
        ? `scaled ${size(display)} → ${size(scale.content)} and padded to ${size(scale)} with black bars (no size keeps both sides within ${min}–${max} px)`
        : `scaled ${size(display)} → ${size(scale)}`,
    );
    outSize = { width: scale.width, height: scale.height };
  }

  if (!fpsOk) {
    // Below the minimum (a 10 fps screen recording) the model gets smoother lips from 25 fps
    // than from the bare 15 fps minimum; the bill is per second, not per frame.
    fps = !fpsKnown || video.fps < minFps ? Math.max(minFps, CONFORM_LOW_FPS_TARGET) : maxFps;
    steps.push({ type: 'fps', from: fpsKnown ? video.fps : 0, fps });
    changes.push(
      fpsKnown
        ? `frame rate ${round3(video.fps)} → ${fps} fps`
        : `frame rate set to ${fps} fps (the file did not say)`,
    );
  }

  const tooBig = media.sizeBytes !== undefined && media.sizeBytes > limits.maxSizeBytes;
  if (tooBig && !encode) {
    encode = true;
    encodeReasons.push(`to fit under ${Math.round(limits.maxSizeBytes / 2 ** 20)} MB`);
  }
  if (encode) {
    // Enough bits for a sharp talking head, never more than fits the size limit (with 10% slack).
    const natural = outSize.width * outSize.height * fps * BITS_PER_PIXEL;
    const cap = ((limits.maxSizeBytes * 8) / Math.max(length, 1)) * 0.9;
    const bitrate = Math.round(Math.min(natural, cap));
    steps.push({ type: 'encode_video', from: video.codec, codec: 'h264', bitrate });
    changes.push(
      video.codec === 'h264'
        ? `re-encoded as H.264${encodeReasons.length > 0 ? ` ${encodeReasons.join(' and ')}` : ''}`
        : `converted ${codecName(video.codec)} → H.264`,
    );
  }

  const containerOk = limits.formats.includes(media.container);
  // The providers lip-sync to the job's audio and ignore the video's own sound, so a file that
  // otherwise fits is sent as it is, sound and all. Only a file written anew anyway (a re-encode
  // or a remux) leaves that sound out, which keeps it smaller.
  const passthrough = steps.length === 0 && containerOk;
  if (!passthrough && media.container !== 'mp4') {
    steps.push({ type: 'container', from: media.container, container: 'mp4' });
    changes.push(`repackaged ${containerName(media.container)} → MP4`);
  }
  if (!passthrough && media.audio !== undefined) {
    steps.push({ type: 'drop_audio' });
    changes.push("removed the video's own sound (the new audio replaces it)");
  }
  return {
    ok: true,
    plan: {
      kind: 'video',
      passthrough,
      steps,
      changes,
      output: {
        durationSec: round3(length),
        width: outSize.width,
        height: outSize.height,
        fps: round3(fps),
        container: passthrough ? media.container : 'mp4',
        codec: encode ? 'h264' : video.codec,
      },
    },
  };
}

/** Containers whose accepted audio codec is fixed (a `wav` holds PCM, an `mp3` holds MP3, `aac` is ADTS AAC). */
const AUDIO_CONTAINER_CODECS: Record<string, readonly string[]> = {
  wav: ['pcm', 'pcm_s16', 'pcm_s24', 'pcm_s32', 'pcm_f32', 'pcm_u8'],
  mp3: ['mp3'],
  aac: ['aac'],
};

function planAudio(media: ProbedMedia, clip: ClipRange | undefined, limits: KindLimits): ConformResult {
  const audio = media.audio;
  if (!audio) {
    return refuse({
      code: 'no_audio_track',
      field: 'audio',
      message: 'This file has no sound track; choose a recording of the new speech.',
    });
  }
  if (!audio.codec || audio.codec === 'unknown') {
    return refuse({
      code: 'undecodable',
      field: 'audio',
      message: 'The sound track cannot be read (unknown codec); export it again as WAV, MP3 or M4A.',
    });
  }
  const range = resolveClip('audio', media.durationSec, clip, limits);
  if (isRefusal(range)) return refuse(range);
  const length = range.endSec - range.startSec;
  const steps: ConformStep[] = [];
  const changes: string[] = [];
  if (range.trim) {
    steps.push({ type: 'trim', startSec: range.startSec, endSec: range.endSec });
    changes.push(trimSentence(range, clip?.originSec));
  }
  const formatOk =
    limits.formats.includes(media.container) &&
    (AUDIO_CONTAINER_CODECS[media.container]?.some((c) => audio.codec.startsWith(c)) ?? true);
  const tooBig = media.sizeBytes !== undefined && media.sizeBytes > limits.maxSizeBytes;
  const passthrough = steps.length === 0 && formatOk && !tooBig;
  if (!passthrough) {
    const sampleRate = Math.min(
      audio.sampleRate > 0 ? audio.sampleRate : CONFORM_MAX_SAMPLE_RATE,
      CONFORM_MAX_SAMPLE_RATE,
    );
    const channels = Math.min(Math.max(audio.channels, 1), 2);
    steps.push({
      type: 'encode_audio',
      from: audio.codec,
      container: 'wav',
      codec: 'pcm_s16',
      sampleRate,
      channels,
    });
    const from =
      containerName(media.container) === codecName(audio.codec)
        ? containerName(media.container)
        : `${containerName(media.container)} (${codecName(audio.codec)})`;
    if (!formatOk) changes.push(`converted ${from} → WAV`);
    else if (tooBig)
      changes.push(
        `converted ${from} → 16-bit WAV to fit under ${Math.round(limits.maxSizeBytes / 2 ** 20)} MB`,
      );
    else if (media.container !== 'wav') changes.push(`converted ${from} → WAV (to cut on the exact sample)`);
    return {
      ok: true,
      plan: {
        kind: 'audio',
        passthrough,
        steps,
        changes,
        output: { durationSec: round3(length), container: 'wav', codec: 'pcm_s16', sampleRate, channels },
      },
    };
  }
  return {
    ok: true,
    plan: {
      kind: 'audio',
      passthrough,
      steps,
      changes,
      output: {
        durationSec: round3(length),
        container: media.container,
        codec: audio.codec,
        sampleRate: audio.sampleRate,
        channels: audio.channels,
      },
    },
  };
}

/** What a viewer does to a picture of each EXIF orientation, for the change sentence. */
const ORIENTATION_WORDS: Record<ImageOrientation, string> = {
  2: 'mirror it',
  3: 'turn it 180°',
  4: 'flip it top to bottom',
  5: 'mirror it and turn it 90° counter-clockwise',
  6: 'turn it 90° clockwise',
  7: 'mirror it and turn it 90° clockwise',
  8: 'turn it 90° counter-clockwise',
};

function planImage(media: ProbedMedia, limits: KindLimits): ConformResult {
  const image = media.image;
  if (!image || !(image.width > 0) || !(image.height > 0)) {
    return refuse({
      code: 'undecodable',
      field: 'image',
      message: 'The reference image cannot be read; use a PNG or JPEG photo of the face.',
    });
  }
  const maxSide = limits.maxSidePx ?? Number.POSITIVE_INFINITY;
  const maxAspect = limits.maxAspectRatio ?? Number.POSITIVE_INFINITY;
  const from: PixelSize = imageDisplaySize(image);
  const steps: ConformStep[] = [];
  const changes: string[] = [];
  if (image.orientation) {
    steps.push({ type: 'orient_image', orientation: image.orientation });
    changes.push(
      `turned upright (the photo asked its viewer to ${ORIENTATION_WORDS[image.orientation]}): ${size(from)}`,
    );
  }
  // Aspect over the limit: pad the short side (cropping could cut the face off).
  const long = Math.max(from.width, from.height);
  const short = Math.min(from.width, from.height);
  const landscape = from.width >= from.height;
  const paddedShort = long / short > maxAspect ? Math.ceil(long / maxAspect) : short;
  const factor = long > maxSide ? maxSide / long : 1;
  if (paddedShort !== short || factor !== 1) {
    const boxLong = Math.round(long * factor);
    const boxShort = Math.round(paddedShort * factor);
    const contentShort = Math.round(short * factor);
    const box = landscape ? { width: boxLong, height: boxShort } : { width: boxShort, height: boxLong };
    const content = landscape
      ? { width: boxLong, height: contentShort }
      : { width: contentShort, height: boxLong };
    const pad = paddedShort !== short;
    steps.push({ type: 'scale', from, width: box.width, height: box.height, content, pad });
    if (pad) {
      changes.push(
        `padded ${size(from)} with bars to an aspect ratio of ${maxAspect}:1${factor !== 1 ? ` and scaled it to ${size(box)}` : ` (${size(box)})`}`,
      );
    } else {
      changes.push(`scaled ${size(from)} → ${size(box)}`);
    }
  }
  const formatOk = limits.formats.includes(media.container);
  const tooBig = media.sizeBytes !== undefined && media.sizeBytes > limits.maxSizeBytes;
  const passthrough = steps.length === 0 && formatOk && !tooBig;
  const scaled = steps.find((s) => s.type === 'scale');
  const out = scaled ? { width: scaled.width, height: scaled.height } : from;
  if (!passthrough) {
    steps.push({
      type: 'encode_image',
      from: media.container,
      format: 'jpeg',
      quality: CONFORM_JPEG_QUALITY,
    });
    if (media.container !== 'jpeg') changes.push(`converted ${containerName(media.container)} → JPEG`);
    else if (tooBig)
      changes.push(`recompressed to fit under ${Math.round(limits.maxSizeBytes / 2 ** 20)} MB`);
  }
  return {
    ok: true,
    plan: {
      kind: 'image',
      passthrough,
      steps,
      changes,
      output: { ...out, container: passthrough ? media.container : 'jpeg' },
    },
  };
}

/**
 * Decides what must change for a probed file to fit a provider's limits: trim to the chosen clip,
 * turn it upright, scale it (aspect kept; padding only when no scale fits both sides), set the
 * frame rate, re-encode to H.264 in MP4 (or keep the stream when nothing needs changing), leave a
 * rewritten video's own sound out (a video that otherwise fits passes through with it: the provider
 * ignores it), convert audio to WAV, and bring a reference image within 4096 px and 2:1.
 * Pure: no I/O. What cannot be fixed comes back as a refusal that says what to do; nothing is
 * ever cut without a clip the caller chose.
 *
 * @example
 * const result = planConform(probed, { provider: 'dashscope', clip: { startSec: 12, endSec: 42 } });
 * if (!result.ok) throw new Error(result.refusal.message); // "… choose at most 2 min."
 * result.plan.changes; // ["trimmed to 0:12–0:42 (30 s)", "scaled 640×360 → 1138×640", "converted VP9 → H.264", …]
 */
export function planConform(media: ProbedMedia, options: ConformOptions): ConformResult {
  const limits = (options.limits ?? MEDIA_LIMITS[options.provider])[media.kind];
  if (media.kind === 'video') return planVideo(media, options.clip, limits);
  if (media.kind === 'audio') return planAudio(media, options.clip, limits);
  return planImage(media, limits);
}
