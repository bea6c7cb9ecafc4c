import { createExtensionError } from './errors.js';
import { t } from './i18n.js';

/** How far a key frame may sit from the clip's start for the cut to copy the picture as it is. */
const KEYFRAME_TOLERANCE_SEC = 0.1;

/**
 * Cuts `[fromSec, fromSec + lengthSec)` (seconds from the start of the file's picture) out of a
 * video the browser holds, as MP4 without sound: the picture is copied as it is where a key frame
 * starts the clip, else re-encoded at its own size (WebCodecs), so the clip starts on the chosen
 * frame. mediabunny is loaded on demand.
 */
export async function cutClip(
  video: Blob,
  range: { fromSec: number; lengthSec: number },
  signal?: AbortSignal,
): Promise<Blob> {
  const { ALL_FORMATS, BlobSource, BufferTarget, Conversion, Input, Mp4OutputFormat, Output } = await import(
    'mediabunny'
  );
  const input = new Input({ source: new BlobSource(video), formats: ALL_FORMATS });
  try {
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw createExtensionError('video_fetch_failed', t('page.noPicture'));
    const first = await track.getFirstTimestamp();
    const target = new BufferTarget();
    const output = new Output({ format: new Mp4OutputFormat({ fastStart: 'in-memory' }), target });
    const conversion = await Conversion.init({
      input,
      output,
      audio: { discard: true },
      trim: { start: first + range.fromSec, end: first + range.fromSec + range.lengthSec },
      copy: { boundaryTolerance: KEYFRAME_TOLERANCE_SEC },
    });
    if (!conversion.isValid) {
      throw createExtensionError('video_fetch_failed', t('page.cannotCut'));
    }
    const stop = () => void conversion.cancel();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await conversion.execute();
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    return new Blob([target.buffer!], { type: 'video/mp4' });
  } finally {
    input.dispose();
  }
}

/** How much past the clip's end the key-frame cut keeps, so the relay's trim never reaches past the file. */
const END_MARGIN_SEC = 0.25;

/**
 * A video to upload and the part of it the relay should use (absent: all of it); `sourceOffsetSec`
 * is where the uploaded piece starts in the member's file, so the job names the trim in its times.
 */
export type ClipUpload = {
  blob: Blob;
  range?: { startSec: number; endSec: number; sourceOffsetSec?: number };
};

/**
 * Prepares the chosen clip of a video file the browser holds for upload, moving as few bytes as a
 * copy allows: the packets from the key frame at or before the clip's start to just past its end
 * are copied as they are (no re-encode in the browser), and the relay is told where in that piece
 * the clip lies, so its conform cuts the exact frame (it re-encodes there anyway when the clip
 * needs scaling or another codec). Only the clip and at most one group of pictures before it are
 * uploaded. A clip that is the whole file goes as it is; a file the browser cannot copy from goes
 * whole with the range, and the relay cuts it.
 */
export async function cutAtKeyFrame(
  video: Blob,
  clip: { startSec: number; endSec: number },
  signal?: AbortSignal,
): Promise<ClipUpload> {
  const whole: ClipUpload = { blob: video, range: clip };
  let mb: typeof import('mediabunny');
  try {
    mb = await import('mediabunny');
  } catch {
    return whole;
  }
  const input = new mb.Input({ source: new mb.BlobSource(video), formats: mb.ALL_FORMATS });
  try {
    const track = await input.getPrimaryVideoTrack();
    if (!track) return whole;
    const first = await track.getFirstTimestamp();
    const duration = (await input.computeDuration()) - first;
    if (clip.startSec <= 0.05 && clip.endSec >= duration - 0.05) return { blob: video };
    const key = await new mb.EncodedPacketSink(track).getKeyPacket(first + clip.startSec, {
      metadataOnly: true,
    });
    if (!key) return whole;
    const codec = await track.getCodec();
    const format = new mb.Mp4OutputFormat({ fastStart: 'in-memory' });
    if (!codec || !format.getSupportedVideoCodecs().includes(codec)) return whole;
    const target = new mb.BufferTarget();
    const end = Math.min(first + duration, first + clip.endSec + END_MARGIN_SEC);
    const conversion = await mb.Conversion.init({
      input,
      output: new mb.Output({ format, target }),
      audio: { discard: true },
      trim: { start: key.timestamp, end },
      copy: { mode: 'forced', boundaryTolerance: 0 },
      showWarnings: false,
    });
    if (!conversion.isValid) return whole;
    const stop = () => void conversion.cancel();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await conversion.execute();
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    if (signal?.aborted) throw createExtensionError('canceled', t('page.stoppedCut'));
    const startSec = round3(first + clip.startSec - key.timestamp);
    const lengthSec = clip.endSec - clip.startSec;
    return {
      blob: new Blob([target.buffer!], { type: 'video/mp4' }),
      ...(startSec > 0.001 || end - key.timestamp > lengthSec + END_MARGIN_SEC / 2
        ? {
            range: {
              startSec,
              endSec: round3(startSec + lengthSec),
              sourceOffsetSec: round3(key.timestamp - first),
            },
          }
        : {}),
    };
  } catch (error) {
    if (signal?.aborted) throw error;
    return whole;
  } finally {
    input.dispose();
  }
}

function round3(sec: number): number {
  return Math.round(sec * 1000) / 1000;
}
