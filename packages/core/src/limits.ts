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

const smallest = (values: readonly (number | undefined)[]): number | undefined => {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
};
const largest = (values: readonly (number | undefined)[]): number | undefined => {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : Math.max(...known);
};

function strictestKind(all: readonly KindLimits[]): KindLimits {
  const [first, ...rest] = all as [KindLimits, ...KindLimits[]];
  const out: KindLimits = {
    formats: first.formats.filter((f) => rest.every((l) => l.formats.includes(f))),
    maxSizeBytes: Math.min(...all.map((l) => l.maxSizeBytes)),
  };
  const set = <K extends keyof KindLimits>(key: K, value: KindLimits[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set('minDurationSec', largest(all.map((l) => l.minDurationSec)));
  set('maxDurationSec', smallest(all.map((l) => l.maxDurationSec)));
  set('minFps', largest(all.map((l) => l.minFps)));
  set('maxFps', smallest(all.map((l) => l.maxFps)));
  const codecLists = all.flatMap((l) => (l.codecs ? [l.codecs] : []));
  const [firstCodecs, ...otherCodecs] = codecLists;
  if (firstCodecs)
    set(
      'codecs',
      firstCodecs.filter((c) => otherCodecs.every((l) => l.includes(c))),
    );
  set('minSidePx', largest(all.map((l) => l.minSidePx)));
  // 'each' (both sides must reach the minimum) is the stricter rule.
  if (all.some((l) => l.minSidePx !== undefined))
    set('minSideRule', all.some((l) => (l.minSideRule ?? 'each') === 'each') ? 'each' : 'longer');
  set('maxSidePx', smallest(all.map((l) => l.maxSidePx)));
  set('maxAspectRatio', smallest(all.map((l) => l.maxAspectRatio)));
  return out;
}

/**
 * The limits every one of `providers` accepts: per kind the strictest of each limit (the largest
 * minimum, the smallest maximum, the formats and codecs all of them take). A relay whose pool mixes
 * providers checks and conforms every job against these, so the job fits wherever it is placed and
 * can fail over from one provider to another without being conformed again.
 *
 * @example
 * strictestMediaLimits(['dashscope', 'evolink']).video.maxDurationSec // → 120
 */
export function strictestMediaLimits(
  providers: readonly Provider[],
  table: Readonly<Record<Provider, ProviderMediaLimits>> = MEDIA_LIMITS,
): ProviderMediaLimits {
  if (providers.length === 0) throw new RangeError('strictestMediaLimits: name at least one provider');
  const all = [...new Set(providers)].map((p) => table[p]);
  return {
    video: strictestKind(all.map((l) => l.video)),
    audio: strictestKind(all.map((l) => l.audio)),
    image: strictestKind(all.map((l) => l.image)),
  };
}

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
  /**
   * Limits to check against instead of `MEDIA_LIMITS[provider]` (e.g. {@link strictestMediaLimits}
   * of a relay's mixed pool); `provider` then only names them in messages.
   */
  limits?: ProviderMediaLimits | undefined;
  /** Who accepts the limits, in messages (default: the provider's name). */
  acceptedBy?: string | undefined;
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
  const kindLimits = (options.limits ?? MEDIA_LIMITS[provider])[meta.kind];
  const acceptedBy = options.acceptedBy ?? provider;
  const limits: KindLimits =
    options.minSideRule === undefined ? kindLimits : { ...kindLimits, minSideRule: options.minSideRule };
  const what = `The ${meta.kind === 'image' ? 'reference image' : meta.kind}`;
  const problems: MediaProblem[] = [];

  if (meta.format !== undefined) {
    const format = normalize(meta.format, FORMAT_ALIASES);
    if (!limits.formats.includes(format)) {
      problems.push({
        field: 'format',
        message: `${what} is ${format}; ${acceptedBy} accepts ${limits.formats.join(', ')}. Convert it (e.g. with ffmpeg) first.`,
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
