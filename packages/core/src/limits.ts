import type { MediaMeta } from './media-meta.js';
import type { Provider } from './task.js';

/** One broken limit: the field, a sentence that says what to do, and what is allowed. */
export interface MediaProblem {
  field: 'duration' | 'size' | 'fps' | 'resolution' | 'format' | 'codec' | 'aspectRatio';
  message: string;
  allowed: string;
}

/** Which side a minimum side length applies to: `'each'` (both sides) or `'longer'` (the longer one). */
export type MinSideRule = 'each' | 'longer';

/** Limits of one kind of input. Sizes in bytes, durations in seconds, sides in pixels. */
export interface KindLimits {
  /** Accepted formats, lower case (`mp4`, `wav`, `png`, …). */
  formats: readonly string[];
  /** Largest file, in bytes. */
  maxSizeBytes: number;
  /** Shortest duration, in seconds (inclusive). */
  minDurationSec?: number;
  /** Longest duration, in seconds (inclusive). */
  maxDurationSec?: number;
  /** Lowest frame rate, in frames per second. */
  minFps?: number;
  /** Highest frame rate, in frames per second. */
  maxFps?: number;
  /** Accepted codecs, normalized (`h264`, `hevc`). */
  codecs?: readonly string[];
  /** Smallest allowed side, in pixels; which side it applies to is `minSideRule`. */
  minSidePx?: number;
  /**
   * `'each'`: both sides must reach `minSidePx` — providers.md B.5 says "each side 640–2048 px",
   * the strict reading of the provider's "height or width of video must be 640 ~ 2048"; used by
   * MEDIA_LIMITS and the simulator. `'longer'`: only the longer side must (a 640×480 video passes);
   * pick it per call with `checkMedia(meta, provider, { minSideRule: 'longer' })`.
   */
  minSideRule?: MinSideRule;
  /** Largest allowed side (every side), in pixels. */
  maxSidePx?: number;
  /** Longest side / shortest side (a ratio, e.g. 2 = 2:1). */
  maxAspectRatio?: number;
}

/** Limits per kind of input for one provider. */
export interface ProviderMediaLimits {
  video: KindLimits;
  audio: KindLimits;
  image: KindLimits;
}

const MB = 1024 * 1024;

// DashScope's documented videoretalk limits (reference/providers.md B.5).
const UPSTREAM: ProviderMediaLimits = {
  video: {
    formats: ['mp4', 'avi', 'mov'],
    maxSizeBytes: 300 * MB,
    minDurationSec: 2,
    maxDurationSec: 120,
    minFps: 15,
    maxFps: 60,
    codecs: ['h264', 'hevc'],
    minSidePx: 640,
    minSideRule: 'each',
    maxSidePx: 2048,
  },
  audio: { formats: ['wav', 'mp3', 'aac'], maxSizeBytes: 30 * MB, minDurationSec: 2, maxDurationSec: 120 },
  image: {
    formats: ['jpeg', 'jpg', 'png', 'bmp', 'webp'],
    maxSizeBytes: 10 * MB,
    maxSidePx: 4096,
    maxAspectRatio: 2,
  },
};

/**
 * Media limits per provider, as data. EvoLink forwards to the same upstream model and its wider
 * claims (2–300 s, m4a) are unverified, so the upstream limits apply to both (providers.md A.1).
 */
export const MEDIA_LIMITS: Readonly<Record<Provider, ProviderMediaLimits>> = {
  dashscope: UPSTREAM,
  evolink: UPSTREAM,
};

const CODEC_ALIASES: Record<string, string> = {
  h264: 'h264',
  'h.264': 'h264',
  avc: 'h264',
  avc1: 'h264',
  avc3: 'h264',
  h265: 'hevc',
  'h.265': 'hevc',
  hevc: 'hevc',
  hvc1: 'hevc',
  hev1: 'hevc',
};

const FORMAT_ALIASES: Record<string, string> = {
  quicktime: 'mov',
  'video/quicktime': 'mov',
  'video/mp4': 'mp4',
  m4v: 'mp4',
  'video/x-msvideo': 'avi',
  wave: 'wav',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/mpeg': 'mp3',
  mpeg: 'mp3',
  'audio/aac': 'aac',
  adts: 'aac',
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
};

function normalize(value: string, aliases: Record<string, string>): string {
  const v = value.trim().toLowerCase().replace(/^\./, '');
  return aliases[v] ?? v;
}

const mb = (bytes: number) => `${Math.round((bytes / MB) * 10) / 10} MB`;

/** Options of {@link checkMedia}. */
export interface CheckMediaOptions {
  /**
   * Which video side the 640 px minimum applies to. Default `'each'` (the documented rule: a
   * 640×480 video is refused); `'longer'` accepts it when the longer side reaches 640 px.
   */
  minSideRule?: MinSideRule | undefined;
}

/**
 * Checks one input against a provider's limits before anything is spent. Returns every broken
 * limit (empty when fine); unknown fields of `meta` are not judged.
 *
 * @example
 * checkMedia({ kind: 'video', durationSec: 150, fps: 25 }, 'dashscope')
 * // → [{ field: 'duration', message: 'The video is 150 s long; … trim it to at most 120 s.', allowed: '2–120 s' }]
 * checkMedia({ kind: 'video', width: 640, height: 480 }, 'dashscope') // → [{ field: 'resolution', … }]
 * checkMedia({ kind: 'video', width: 640, height: 480 }, 'dashscope', { minSideRule: 'longer' }) // → []
 */
export function checkMedia(
  meta: MediaMeta,
  provider: Provider,
  options: CheckMediaOptions = {},
): MediaProblem[] {
  const kindLimits = MEDIA_LIMITS[provider][meta.kind];
  const limits: KindLimits =
    options.minSideRule === undefined ? kindLimits : { ...kindLimits, minSideRule: options.minSideRule };
  const what = `The ${meta.kind === 'image' ? 'reference image' : meta.kind}`;
  const problems: MediaProblem[] = [];

  if (meta.format !== undefined) {
    const format = normalize(meta.format, FORMAT_ALIASES);
    if (!limits.formats.includes(format)) {
      problems.push({
        field: 'format',
        message: `${what} is ${format}; ${provider} accepts ${limits.formats.join(', ')}. Convert it (e.g. with ffmpeg) first.`,
        allowed: limits.formats.join(', '),
      });
    }
  }
  if (meta.codec !== undefined && limits.codecs) {
    const codec = normalize(meta.codec, CODEC_ALIASES);
    if (!limits.codecs.includes(codec)) {
      problems.push({
        field: 'codec',
        message: `${what} is encoded as ${meta.codec}; re-encode it as H.264 or H.265.`,
        allowed: 'H.264 or H.265',
      });
    }
  }
  if (meta.sizeBytes !== undefined && meta.sizeBytes > limits.maxSizeBytes) {
    problems.push({
      field: 'size',
      message: `${what} is ${mb(meta.sizeBytes)}; the limit is ${mb(limits.maxSizeBytes)}. Compress or shorten it.`,
      allowed: `at most ${mb(limits.maxSizeBytes)}`,
    });
  }
  const { minDurationSec: min, maxDurationSec: max } = limits;
  if (meta.durationSec !== undefined && min !== undefined && max !== undefined) {
    const allowed = `${min}–${max} s`;
    if (meta.durationSec < min) {
      problems.push({
        field: 'duration',
        message: `${what} is ${round(meta.durationSec)} s long; it must be at least ${min} s. Use a longer clip.`,
        allowed,
      });
    } else if (meta.durationSec > max) {
      problems.push({
        field: 'duration',
        message: `${what} is ${round(meta.durationSec)} s long; trim it to at most ${max} s (or split the job).`,
        allowed,
      });
    }
  }
  if (meta.fps !== undefined && limits.minFps !== undefined && limits.maxFps !== undefined) {
    if (meta.fps < limits.minFps || meta.fps > limits.maxFps) {
      problems.push({
        field: 'fps',
        message: `${what} runs at ${round(meta.fps)} fps; convert it to between ${limits.minFps} and ${limits.maxFps} fps (25 or 30 is safe).`,
        allowed: `${limits.minFps}–${limits.maxFps} fps`,
      });
    }
  }
  if (meta.width !== undefined && meta.height !== undefined) {
    const shortSide = Math.min(meta.width, meta.height);
    const longSide = Math.max(meta.width, meta.height);
    const minSide = limits.minSidePx ?? 0;
    const maxSide = limits.maxSidePx ?? Number.POSITIVE_INFINITY;
    const rule: MinSideRule = limits.minSideRule ?? 'each';
    const measured = rule === 'each' ? shortSide : longSide;
    if (measured < minSide || longSide > maxSide) {
      const allowed =
        limits.minSidePx === undefined
          ? `longest side at most ${maxSide} px`
          : rule === 'each'
            ? `each side ${minSide}–${maxSide} px`
            : `longer side at least ${minSide} px, no side over ${maxSide} px`;
      problems.push({
        field: 'resolution',
        message: `${what} is ${meta.width}×${meta.height}; ${allowed} is required. ${
          measured < minSide ? 'Upscale it' : 'Downscale it'
        } first.`,
        allowed,
      });
    }
    if (
      limits.maxAspectRatio !== undefined &&
      shortSide > 0 &&
      longSide / shortSide > limits.maxAspectRatio
    ) {
      problems.push({
        field: 'aspectRatio',
        message: `${what} is ${meta.width}×${meta.height}, more than ${limits.maxAspectRatio}:1; crop it closer to the face.`,
        allowed: `aspect ratio at most ${limits.maxAspectRatio}:1`,
      });
    }
  }
  return problems;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Inputs of {@link estimateOutputSeconds}, in seconds. */
export interface OutputEstimateInput {
  videoSec: number;
  audioSec: number;
  /** `true`: output follows the audio length. */
  videoExtension?: boolean | undefined;
}

/**
 * Seconds of output video a job produces (what it is billed on): the audio length with
 * `videoExtension`, otherwise the shorter of video and audio (providers.md B.5).
 */
export function estimateOutputSeconds(input: OutputEstimateInput): number {
  return input.videoExtension ? input.audioSec : Math.min(input.videoSec, input.audioSec);
}
