import type { MediaKind, UploadMedia } from '@retalk/core/relay';
import { ALL_FORMATS, FilePathSource, Input, UrlSource } from 'mediabunny';
import { decodeImage, IMAGE_FORMATS } from './image-decode.js';
import { UrlRefusedError } from './url-guard.js';

/** Why a file was not accepted as the declared kind. */
export interface ProbeProblem {
  message: string;
  /** Set when the URL guard refused a hop of the probe (a redirect to a private address, too many redirects). */
  urlRefused?: true;
  /** What the relay accepts instead, when that is a short list (image formats). */
  allowed?: string[];
}

const FORMAT_NAMES: Record<string, string> = {
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/mpeg': 'mp3',
  'audio/aac': 'aac',
  'video/mp4': 'mp4',
  'audio/mp4': 'm4a',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'audio/webm': 'webm',
  'video/x-matroska': 'mkv',
  'audio/ogg': 'ogg',
  'audio/flac': 'flac',
};

/**
 * Sniffs and probes a stored file: the container and codecs decide what it is, not the name or the
 * declared content type. Returns metadata in core's MediaMeta shape, or a problem to report.
 */
export async function probeMedia(
  filePath: string,
  kind: MediaKind,
  sizeBytes: number,
): Promise<{ media: UploadMedia; contentType: string } | ProbeProblem> {
  if (kind === 'image') {
    const image = await decodeImage(filePath);
    if ('message' in image) return { message: image.message, allowed: [...IMAGE_FORMATS] };
    const { format, contentType, width, height } = image;
    return { media: { kind, sizeBytes, format, width, height }, contentType };
  }
  const input = new Input({ source: new FilePathSource(filePath), formats: ALL_FORMATS });
  try {
    return await probeInput(input, kind, sizeBytes);
  } finally {
    input.dispose();
  }
}

async function probeInput(
  input: Input,
  kind: 'video' | 'audio',
  sizeBytes: number | undefined,
): Promise<{ media: UploadMedia; contentType: string } | ProbeProblem> {
  try {
    let mime: string;
    try {
      mime = (await input.getFormat()).mimeType;
    } catch {
      return {
        message: `is not a ${kind} file the relay can read (expected ${kind === 'video' ? 'MP4, MOV or AVI' : 'WAV, MP3 or AAC'})`,
      };
    }
    const format = FORMAT_NAMES[mime] ?? mime.split('/')[1] ?? 'unknown';
    const durationSec = await input.computeDuration();
    if (kind === 'video') {
      const track = await input.getPrimaryVideoTrack();
      if (!track) return { message: 'has no video track' };
      const stats = await track.computePacketStats(200);
      const contentType = mime === 'audio/mp4' ? 'video/mp4' : mime;
      return {
        media: {
          kind,
          sizeBytes,
          durationSec,
          width: track.displayWidth,
          height: track.displayHeight,
          fps: Math.round(stats.averagePacketRate * 100) / 100,
          format: format === 'm4a' ? 'mp4' : format,
          codec: track.codec ?? 'unknown',
        },
        contentType,
      };
    }
    const track = await input.getPrimaryAudioTrack();
    if (!track) return { message: 'has no audio track' };
    return {
      media: { kind, sizeBytes, durationSec, format, codec: track.codec ?? 'unknown' },
      contentType: mime,
    };
  } catch {
    return { message: `could not be read as ${kind}; it may be damaged or in an unsupported format` };
  }
}

/**
 * Probes media behind a URL with ranged reads (no full download). Resolves `undefined` when the
 * URL cannot be read in time: the provider then judges it, and the estimate uses the maximum.
 * `fetchFn` is the relay's guarded fetch (createGuardedFetch): it checks every hop, redirects
 * included; a refused hop comes back as a problem with `urlRefused`.
 */
export async function probeUrl(
  url: string,
  kind: 'video' | 'audio',
  timeoutMs: number,
  fetchFn: typeof fetch,
): Promise<{ media: UploadMedia; contentType: string } | ProbeProblem | undefined> {
  let refused: UrlRefusedError | undefined;
  const watched = (async (input: string | URL | Request, init?: RequestInit) => {
    try {
      return await fetchFn(input, init);
    } catch (error) {
      if (error instanceof UrlRefusedError) refused ??= error;
      throw error;
    }
  }) as typeof fetch;
  const input = new Input({
    source: new UrlSource(url, {
      getRetryDelay: () => null,
      maxCacheSize: 8 * 1024 * 1024,
      fetchFn: watched,
    }),
    formats: ALL_FORMATS,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    const result = await Promise.race([probeInput(input, kind, undefined).catch(() => undefined), timeout]);
    if (refused) return { message: refused.message, urlRefused: true };
    // Only a readable container with a wrong track is a verdict; unreadable means "unknown".
    if (
      result &&
      'message' in result &&
      /not a .* file the relay can read|could not be read/.test(result.message)
    ) {
      return undefined;
    }
    return result;
  } finally {
    clearTimeout(timer);
    input.dispose();
  }
}
