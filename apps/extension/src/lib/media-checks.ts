import { checkMedia, type MediaMeta, type MediaProblem, type Provider } from '@retalk/core';
import { createExtensionError } from './errors.js';

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
    audio.onerror = () => finish(() => reject(new Error('The browser cannot read this audio.')));
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
      throw createExtensionError(
        'audio_unreadable',
        `“${file.name}” is not an audio file this browser can read. Use an MP3, WAV, M4A, AAC, Ogg, WebM or FLAC file.`,
        { field: 'audio', cause },
      );
    }
  }
}

/** Reads an audio URL's duration through the browser (format from the address when it shows one). */
export async function probeAudioUrl(url: string, signal?: AbortSignal): Promise<MediaMeta> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw createExtensionError(
      'audio_unreadable',
      'That is not a URL. Paste a full https:// address of an audio file.',
      {
        field: 'audioUrl',
        cause,
      },
    );
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw createExtensionError('audio_unreadable', 'The audio URL must start with https://.', {
      field: 'audioUrl',
    });
  }
  try {
    const durationSec = await durationFromElement(url, signal);
    const format = extensionOf(parsed.pathname);
    return { kind: 'audio', durationSec, ...(format !== undefined && { format }) };
  } catch (cause) {
    throw createExtensionError(
      'audio_unreadable',
      'The browser could not read audio at that URL. Check that it opens in a tab and is public, or download it and choose the file.',
      { field: 'audioUrl', cause },
    );
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
  return { meta, problems: checkMedia(meta, provider) };
}
