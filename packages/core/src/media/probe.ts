import {
  AdtsInputFormat,
  ALL_FORMATS,
  FlacInputFormat,
  Input,
  type InputFormat,
  MatroskaInputFormat,
  Mp3InputFormat,
  Mp4InputFormat,
  MpegTsInputFormat,
  OggInputFormat,
  QuickTimeInputFormat,
  WaveInputFormat,
  WebMInputFormat,
} from 'mediabunny';
import type { MediaKind, ProbedMedia, Rotation } from '../conform/probed-media.js';
import { AbortError, ConformError, isRetalkError } from '../errors.js';
import { type MediaInput, toByteSource } from './byte-source.js';
import { IMAGE_HEADER_BYTES, readImageHeader } from './image-header.js';
import { guardSamples, type SampleGuardOptions } from './sample-guard.js';

/** Options of {@link probeMedia}. */
export interface ProbeOptions extends SampleGuardOptions {
  /** Stops the probe; it then throws an `AbortError`. */
  signal?: AbortSignal | undefined;
}

/** Packets read to measure a frame rate (about 10 s at 25 fps). */
const FPS_SAMPLE_PACKETS = 240;

function containerOf(format: InputFormat, hasVideo: boolean): string {
  // WebM extends Matroska and MOV shares ISOBMFF with MP4, so the order matters.
  if (format instanceof WebMInputFormat) return 'webm';
  if (format instanceof MatroskaInputFormat) return 'mkv';
  if (format instanceof QuickTimeInputFormat) return 'mov';
  if (format instanceof Mp4InputFormat) return hasVideo ? 'mp4' : 'm4a';
  if (format instanceof WaveInputFormat) return 'wav';
  if (format instanceof Mp3InputFormat) return 'mp3';
  if (format instanceof AdtsInputFormat) return 'aac';
  if (format instanceof OggInputFormat) return 'ogg';
  if (format instanceof FlacInputFormat) return 'flac';
  if (format instanceof MpegTsInputFormat) return 'ts';
  return format.name.toLowerCase();
}

/** mediabunny's codec names in Retalk's words (`avc` → `h264`, `pcm-s16` → `pcm_s16`). */
function codecOf(codec: string | null): string {
  if (codec === null) return 'unknown';
  if (codec === 'avc') return 'h264';
  return codec.replace(/-/g, '_');
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('The probe was stopped.', { cause: signal.reason });
}

const unreadable = (kind: MediaKind, cause?: unknown) =>
  new ConformError(
    'undecodable',
    `This file cannot be read as ${kind === 'image' ? 'an image' : kind}: it is not a media file, or it is damaged. Choose another file or export it again${kind === 'image' ? ' as PNG or JPEG' : ' as MP4 or WebM'}.`,
    { field: kind, cause },
  );

/** Reads the container, length and tracks through mediabunny (after the sample guard). */
async function probeTracks(
  input: Input,
  kind: 'video' | 'audio',
  sizeBytes: number,
  signal: AbortSignal | undefined,
): Promise<ProbedMedia> {
  const format = await input.getFormat();
  checkAborted(signal);
  const videoTrack = await input.getPrimaryVideoTrack();
  const audioTrack = await input.getPrimaryAudioTrack();
  const durationSec = await input.computeDuration();
  checkAborted(signal);
  const media: ProbedMedia = {
    kind,
    sizeBytes,
    container: containerOf(format, videoTrack !== null),
    durationSec,
  };
  if (videoTrack) {
    const stats = await videoTrack.computePacketStats(FPS_SAMPLE_PACKETS);
    media.video = {
      codec: codecOf(videoTrack.codec),
      width: await videoTrack.getCodedWidth(),
      height: await videoTrack.getCodedHeight(),
      rotation: (await videoTrack.getRotation()) as Rotation,
      fps: Math.round(stats.averagePacketRate * 1000) / 1000,
    };
  }
  if (audioTrack) {
    media.audio = {
      codec: codecOf(audioTrack.codec),
      sampleRate: audioTrack.sampleRate,
      channels: audioTrack.numberOfChannels,
    };
  }
  return media;
}

function missingTrack(kind: 'video' | 'audio'): ConformError {
  return kind === 'video'
    ? new ConformError(
        'no_video_track',
        'This file has no picture (no video track); choose a video of the person speaking.',
        { field: 'video' },
      )
    : new ConformError(
        'no_audio_track',
        'This file has no sound track; choose a recording of the new speech.',
        {
          field: 'audio',
        },
      );
}

/**
 * Probes one file for {@link planConform}: its container, length, and tracks (coded size,
 * rotation, frame rate, codecs). Refuses before any parsing a file whose tables claim more than
 * `maxSamples` samples or that is cut short (see `guardSamples`). Images are read from their
 * headers. Runs in Node (with `@retalk/core/media/node`) and in browsers.
 *
 * @throws {ConformError} `undecodable`, `too_many_samples`, `no_video_track`, `no_audio_track`,
 *   `unsupported_format`; {@link AbortError} when `signal` fires.
 * @example
 * const media = await probeMedia(file, 'video'); // a File from an <input type="file">
 * const result = planConform(media, { provider: 'dashscope', clip: { startSec: 12, endSec: 42 } });
 */
export async function probeMedia(
  input: MediaInput,
  kind: MediaKind,
  options: ProbeOptions = {},
): Promise<ProbedMedia> {
  const bytes = toByteSource(input);
  checkAborted(options.signal);
  if (bytes.size === 0) throw unreadable(kind);
  const head = await bytes.read(0, kind === 'image' ? IMAGE_HEADER_BYTES : 16);
  if (kind === 'image') {
    const found = readImageHeader(head);
    if (!found?.image || !(found.image.width > 0) || !(found.image.height > 0)) throw unreadable(kind);
    return { kind, sizeBytes: bytes.size, container: found.container, image: found.image };
  }
  if (String.fromCharCode(...head.subarray(8, 12)) === 'AVI ') {
    throw new ConformError(
      'unsupported_format',
      'AVI files cannot be read here; export the video as MP4 (or WebM) and try again.',
      { field: kind, allowed: 'MP4, MOV, WebM, MKV' },
    );
  }
  await guardSamples(bytes, options);
  checkAborted(options.signal);
  const parser = new Input({ source: bytes.toSource(), formats: ALL_FORMATS });
  let media: ProbedMedia;
  try {
    media = await probeTracks(parser, kind, bytes.size, options.signal);
  } catch (error) {
    if (isRetalkError(error)) throw error;
    throw unreadable(kind, error);
  } finally {
    parser.dispose();
  }
  if (kind === 'video' && !media.video) throw missingTrack('video');
  if (kind === 'audio' && !media.audio) throw missingTrack('audio');
  return media;
}
