import type { MediaMeta } from './media-probe.js';

/** VideoRetalk's input limits (providers.md B.5). Every field can be overridden per simulator. */
export interface MediaLimits {
  videoFormats: string[];
  videoCodecs: string[];
  videoMaxBytes: number;
  videoMinSec: number;
  videoMaxSec: number;
  videoMinFps: number;
  videoMaxFps: number;
  videoMinSidePx: number;
  videoMaxSidePx: number;
  /**
   * Which side `videoMinSidePx` applies to. providers.md says "each side 640–2048 px" and the
   * provider's message "height or width of video must be 640 ~ 2048": `'each'` (default) is
   * that strict reading; `'longer'` only asks the longer side to reach the minimum (640×480 passes).
   */
  videoMinSideRule: 'longer' | 'each';
  audioFormats: string[];
  audioMaxBytes: number;
  audioMinSec: number;
  audioMaxSec: number;
  imageFormats: string[];
  imageMaxBytes: number;
  imageMaxSidePx: number;
  imageMaxAspectRatio: number;
}

const MB = 1024 * 1024;

export const DEFAULT_MEDIA_LIMITS: MediaLimits = {
  videoFormats: ['mp4', 'avi', 'mov'],
  videoCodecs: ['h264', 'h265'],
  videoMaxBytes: 300 * MB,
  videoMinSec: 2,
  videoMaxSec: 120,
  videoMinFps: 15,
  videoMaxFps: 60,
  videoMinSidePx: 640,
  videoMaxSidePx: 2048,
  videoMinSideRule: 'each',
  audioFormats: ['wav', 'mp3', 'aac'],
  audioMaxBytes: 30 * MB,
  audioMinSec: 2,
  audioMaxSec: 120,
  imageFormats: ['jpeg', 'png', 'bmp', 'webp'],
  imageMaxBytes: 10 * MB,
  imageMaxSidePx: 4096,
  imageMaxAspectRatio: 2,
};

/** A provider-side input failure: DashScope's InvalidFile.* / InvalidURL.* code and message. */
export interface InputFailure {
  code: string;
  message: string;
}

function normalizeCodec(codec: string): string {
  const c = codec.toLowerCase();
  if (c === 'avc' || c.startsWith('avc1') || c === 'h264' || c === 'h.264') return 'h264';
  if (c === 'hevc' || c.startsWith('hvc1') || c.startsWith('hev1') || c === 'h265' || c === 'h.265')
    return 'h265';
  return c;
}

const normalizeFormat = (format: string): string => (format === 'jpg' ? 'jpeg' : format);

// Messages follow the DashScope VideoRetalk error table where it gives one.
export function checkVideo(meta: MediaMeta, limits: MediaLimits): InputFailure | undefined {
  if (!meta.format || !limits.videoFormats.includes(normalizeFormat(meta.format))) {
    return {
      code: 'InvalidFile.Format',
      message: `The format of video must be ${limits.videoFormats.join(', ')}; got ${meta.format ?? 'an unreadable file'}.`,
    };
  }
  if (meta.codec && !limits.videoCodecs.includes(normalizeCodec(meta.codec))) {
    return {
      code: 'InvalidFile.Format',
      message: `The codec of video must be ${limits.videoCodecs.join(' or ')}; got ${meta.codec}.`,
    };
  }
  if (meta.sizeBytes !== undefined && meta.sizeBytes > limits.videoMaxBytes) {
    return {
      code: 'InvalidFile.Size',
      message: `The size of video must be less than ${Math.round(limits.videoMaxBytes / MB)}MB.`,
    };
  }
  const d = meta.durationSec;
  if (d !== undefined && (d < limits.videoMinSec || d > limits.videoMaxSec)) {
    return {
      code: 'InvalidFile.Duration',
      message: `The duration of video must be ${limits.videoMinSec}s ~ ${limits.videoMaxSec}s.`,
    };
  }
  const sides = [meta.width, meta.height].filter((n): n is number => n !== undefined);
  const tooSmall =
    limits.videoMinSideRule === 'each'
      ? sides.some((s) => s < limits.videoMinSidePx)
      : sides.length > 0 && Math.max(...sides) < limits.videoMinSidePx;
  if (tooSmall || sides.some((s) => s > limits.videoMaxSidePx)) {
    return {
      code: 'InvalidFile.Resolution',
      message: `The height or width of video must be ${limits.videoMinSidePx} ~ ${limits.videoMaxSidePx}.`,
    };
  }
  if (meta.fps !== undefined && (meta.fps < limits.videoMinFps || meta.fps > limits.videoMaxFps)) {
    return {
      code: 'InvalidFile.FPS',
      message: `The fps of video must be ${limits.videoMinFps} ~ ${limits.videoMaxFps}.`,
    };
  }
  return undefined;
}

export function checkAudio(meta: MediaMeta, limits: MediaLimits): InputFailure | undefined {
  if (!meta.format || !limits.audioFormats.includes(meta.format)) {
    return {
      code: 'InvalidFile.Format',
      message: `The format of audio must be ${limits.audioFormats.join(', ')}; got ${meta.format ?? 'an unreadable file'}.`,
    };
  }
  if (meta.sizeBytes !== undefined && meta.sizeBytes > limits.audioMaxBytes) {
    return {
      code: 'InvalidFile.Size',
      message: `The size of audio must be less than ${Math.round(limits.audioMaxBytes / MB)}MB.`,
    };
  }
  const d = meta.durationSec;
  if (d !== undefined && (d < limits.audioMinSec || d > limits.audioMaxSec)) {
    return {
      code: 'InvalidFile.Duration',
      message: `The duration of audio must be ${limits.audioMinSec}s ~ ${limits.audioMaxSec}s.`,
    };
  }
  return undefined;
}

export function checkImage(meta: MediaMeta, limits: MediaLimits): InputFailure | undefined {
  if (!meta.format || !limits.imageFormats.includes(normalizeFormat(meta.format))) {
    return {
      code: 'InvalidFile.Format',
      message: `The format of image must be jpeg, jpg, png, bmp or webp; got ${meta.format ?? 'an unreadable file'}.`,
    };
  }
  if (meta.sizeBytes !== undefined && meta.sizeBytes > limits.imageMaxBytes) {
    return {
      code: 'InvalidFile.Size',
      message: `The size of image must be less than ${Math.round(limits.imageMaxBytes / MB)}MB.`,
    };
  }
  const { width, height } = meta;
  if (width !== undefined && height !== undefined && width > 0 && height > 0) {
    const ratio = Math.max(width, height) / Math.min(width, height);
    if (Math.max(width, height) > limits.imageMaxSidePx || ratio > limits.imageMaxAspectRatio) {
      return {
        code: 'InvalidFile.ImageSize',
        message: `The image's longest side must be at most ${limits.imageMaxSidePx}px and its aspect ratio at most ${limits.imageMaxAspectRatio}.`,
      };
    }
  }
  if (meta.face === 'none' || meta.face === 'multi') {
    return {
      code: 'InvalidFile.Content',
      message: 'The input image has no human body or multi human bodies, please upload another image.',
    };
  }
  if (meta.face === 'nomatch') {
    return {
      code: 'InvalidFile.FaceNotMatch',
      message: 'There are no matched face in the video with the provided reference image.',
    };
  }
  return undefined;
}
