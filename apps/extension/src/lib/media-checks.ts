import { checkMedia, MEDIA_LIMITS, type MediaMeta, type MediaProblem, type Provider } from '@retalk/core';
import { createExtensionError } from './errors.js';
import { t } from './i18n.js';
import { formatBytes, formatNumber } from './time-format.js';

/** An input with what is known about it and every limit it breaks. */
export type CheckedMedia = { meta: MediaMeta; problems: MediaProblem[] };

function extensionOf(name: string): string | undefined {
  const match = /\.([a-z0-9]{2,5})(?:$|[?#])/i.exec(name);
  return match?.[1]?.toLowerCase();
}

// mediabunny names containers ('WAVE', 'MP3', 'ADTS', 'MP4'…); core's checkMedia speaks file formats.
function formatFromContainer(name: string): string {
  const lower = name.toLowerCase();
  if (lower === 'wave') return 'wav';
  if (lower === 'adts') return 'aac';
  if (lower === 'quicktime') return 'mov';
  return lower;
}

/** Duration from the browser's own media element: works for anything it can play. */
function durationFromElement(src: string, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const audio = document.createElement('audio');
    audio.preload = 'metadata';
    const finish = (fn: () => void) => {
      audio.removeAttribute('src');
      audio.load();
      fn();
    };
    audio.onloadedmetadata = () => {
      // Read before the reset: emptying the element sets its duration back to NaN.
      const duration = audio.duration;
      finish(() => resolve(duration));
    };
    audio.onerror = () => finish(() => reject(new Error(t('media.audioUnreadable'))));
    signal?.addEventListener('abort', () => finish(() => reject(signal.reason)), { once: true });
    audio.src = src;
  });
}

/** Opens a file with mediabunny (loaded on demand, it is the picker's largest chunk) and disposes it after. */
async function withMediaInput<T>(
  file: File,
  read: (input: import('mediabunny').Input) => Promise<T>,
): Promise<T> {
  const { ALL_FORMATS, BlobSource, Input } = await import('mediabunny');
  const input = new Input({ source: new BlobSource(file), formats: ALL_FORMATS });
  try {
    return await read(input);
  } finally {
    input.dispose();
  }
}

/** Reads a local audio file's format and duration (mediabunny, else the browser's media element). */
export async function probeAudioFile(file: File): Promise<MediaMeta> {
  const base: MediaMeta = { kind: 'audio', sizeBytes: file.size };
  try {
    return await withMediaInput(file, async (input) => ({
      ...base,
      format: formatFromContainer((await input.getFormat()).name),
      durationSec: await input.computeDuration(),
    }));
  } catch {
    const url = URL.createObjectURL(file);
    try {
      const durationSec = await durationFromElement(url);
      const format = extensionOf(file.name);
      return { ...base, durationSec, ...(format !== undefined && { format }) };
    } catch (cause) {
      throw createExtensionError('audio_unreadable', t('media.notReadable', { name: file.name }), {
        field: 'audio',
        cause,
      });
    }
  }
}

/** Reads an audio URL's duration through the browser (format from the address when it shows one). */
export async function probeAudioUrl(url: string, signal?: AbortSignal): Promise<MediaMeta> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw createExtensionError('audio_unreadable', t('media.audioUrlInvalid'), {
      field: 'audioUrl',
      cause,
    });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw createExtensionError('audio_unreadable', t('media.audioUrlHttps'), {
      field: 'audioUrl',
    });
  }
  try {
    const durationSec = await durationFromElement(url, signal);
    const format = extensionOf(parsed.pathname);
    return { kind: 'audio', durationSec, ...(format !== undefined && { format }) };
  } catch (cause) {
    throw createExtensionError('audio_unreadable', t('media.audioUrlUnreadable'), {
      field: 'audioUrl',
      cause,
    });
  }
}

export async function probeVideoFile(file: File): Promise<MediaMeta> {
  const base: MediaMeta = { kind: 'video', sizeBytes: file.size };
  try {
    return await withMediaInput(file, async (input) => {
      const format = formatFromContainer((await input.getFormat()).name);
      const durationSec = await input.computeDuration();
      const track = await input.getPrimaryVideoTrack();
      if (!track) return { ...base, format, durationSec };
      const codec = (await track.getCodec()) ?? undefined;
      const stats = await track.computePacketStats(120);
      return {
        ...base,
        format,
        durationSec,
        width: track.displayWidth,
        height: track.displayHeight,
        fps: stats.averagePacketRate,
        ...(codec !== undefined && { codec }),
      };
    });
  } catch {
    const format = extensionOf(file.name);
    return { ...base, ...(format !== undefined && { format }) };
  }
}

export function check(meta: MediaMeta, provider: Provider): CheckedMedia {
  return {
    meta,
    problems: checkMedia(meta, provider).map((problem) => localProblem(problem, meta, provider)),
  };
}

const seconds = (value: number) => t('units.seconds', { n: formatNumber(value, 2) });

/**
 * Core's `checkMedia` finds what breaks a limit and says it in English; the member reads it in the
 * UI's language, rebuilt from the same limits and the same measured values.
 */
function localProblem(problem: MediaProblem, meta: MediaMeta, provider: Provider): MediaProblem {
  const limits = MEDIA_LIMITS[provider][meta.kind];
  const what = t(`media.${meta.kind}`);
  const say = (message: string, allowed: string): MediaProblem => ({
    field: problem.field,
    message,
    allowed,
  });
  const width = formatNumber(meta.width ?? 0);
  const height = formatNumber(meta.height ?? 0);
  switch (problem.field) {
    case 'format': {
      const formats = limits.formats.join(', ');
      return say(t('media.format', { what, format: meta.format ?? '', provider, formats }), formats);
    }
    case 'codec':
      return say(t('media.codec', { what, codec: meta.codec ?? '' }), t('media.codecAllowed'));
    case 'size': {
      const limit = formatBytes(limits.maxSizeBytes);
      return say(
        t('media.size', { what, size: formatBytes(meta.sizeBytes ?? 0), limit }),
        t('media.sizeAllowed', { limit }),
      );
    }
    case 'duration': {
      const min = limits.minDurationSec ?? 0;
      const max = limits.maxDurationSec ?? 0;
      const duration = seconds(meta.durationSec ?? 0);
      const allowed = t('media.durationAllowed', { min: formatNumber(min), max: seconds(max) });
      return (meta.durationSec ?? 0) < min
        ? say(t('media.tooShort', { what, duration, min: seconds(min) }), allowed)
        : say(t('media.tooLong', { what, duration, max: seconds(max) }), allowed);
    }
    case 'fps': {
      const min = formatNumber(limits.minFps ?? 0);
      const max = formatNumber(limits.maxFps ?? 0);
      return say(
        t('media.fps', { what, fps: formatNumber(meta.fps ?? 0, 2), min, max }),
        t('media.fpsAllowed', { min, max }),
      );
    }
    case 'resolution': {
      const short = Math.min(meta.width ?? 0, meta.height ?? 0);
      const long = Math.max(meta.width ?? 0, meta.height ?? 0);
      const rule = limits.minSideRule ?? 'each';
      const minSide = limits.minSidePx;
      const max = formatNumber(limits.maxSidePx ?? 0, 0);
      const allowed =
        minSide === undefined
          ? t('media.sidesMax', { max })
          : t(rule === 'each' ? 'media.sidesEach' : 'media.sidesLonger', { min: formatNumber(minSide), max });
      const tooSmall = minSide !== undefined && (rule === 'each' ? short : long) < minSide;
      return say(
        t(tooSmall ? 'media.resolutionSmall' : 'media.resolutionLarge', { what, width, height, allowed }),
        allowed,
      );
    }
    case 'aspectRatio': {
      const max = formatNumber(limits.maxAspectRatio ?? 0, 2);
      return say(t('media.aspect', { what, width, height, max }), t('media.aspectAllowed', { max }));
    }
  }
}
