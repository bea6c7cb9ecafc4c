import { createExtensionError } from './errors.js';
import { t } from './i18n.js';

/**
 * How close to the clip's start a key frame must be for the clip to be copied exactly, with
 * nothing left for the relay to trim (less than a frame at 50 fps).
 */
const ON_KEY_FRAME_SEC = 0.02;

/** How much past the clip's end the key-frame cut keeps, so the relay's trim never reaches past the file. */
const END_MARGIN_SEC = 0.25;

/**
 * A video to upload and the part of it the relay should use (absent: all of it); `sourceOffsetSec`
 * is where the uploaded piece starts in the member's file, so the job names the trim in its times.
 */
export type ClipUpload = {
  blob: Blob;
  range?: { startSec: number; endSec: number; sourceOffsetSec?: number };
  /**
   * What the browser did, for the member: `exact` = the clip starts on a key frame and was copied
   * as it is; `from-key-frame` = copied from the key frame at `keyFrameSec` (in the original's
   * times), the relay trims the exact start; `whole` = the file could not be copied from and goes
   * whole with the range. Absent when the clip was the whole file.
   */
  cut?: { how: 'exact' } | { how: 'from-key-frame'; keyFrameSec: number } | { how: 'whole' };
};

/**
 * Prepares the chosen clip of a video file the browser holds for upload, moving as few bytes as a
 * copy allows: the packets from the key frame at or before the clip's start to just past its end
 * are copied as they are (no re-encode in the browser), and the relay is told where in that piece
 * the clip lies, so its conform cuts the exact frame (it re-encodes there anyway when the clip
 * needs scaling or another codec). Only the clip and at most one group of pictures before it are
 * uploaded. A clip that starts on a key frame (an HLS segment's start, say) is copied exactly and
 * leaves the relay nothing to trim. A clip that is the whole file goes as it is; a file the
 * browser cannot copy from goes whole with the range, and the relay cuts it.
 *
 * `originSec` is where `video` starts in the member's original (a stream's first fetched segment),
 * so the range's `sourceOffsetSec` and `keyFrameSec` speak in the original's times.
 */
export async function cutAtKeyFrame(
  video: Blob,
  clip: { startSec: number; endSec: number },
  signal?: AbortSignal,
  originSec = 0,
): Promise<ClipUpload> {
  const whole: ClipUpload = {
    blob: video,
    range: { ...clip, ...(originSec > 0 && { sourceOffsetSec: round3(originSec) }) },
    cut: { how: 'whole' },
  };
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
    const onKeyFrame = Math.abs(first + clip.startSec - key.timestamp) <= ON_KEY_FRAME_SEC;
    // From a key frame at the start the copy is the exact clip; else the relay needs a little past the end.
    const end = Math.min(first + duration, first + clip.endSec + (onKeyFrame ? 0 : END_MARGIN_SEC));
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
    const blob = new Blob([target.buffer!], { type: 'video/mp4' });
    if (onKeyFrame) return { blob, cut: { how: 'exact' } };
    const startSec = round3(first + clip.startSec - key.timestamp);
    const keyFrameSec = round3(originSec + key.timestamp - first);
    return {
      blob,
      range: {
        startSec,
        endSec: round3(startSec + clip.endSec - clip.startSec),
        sourceOffsetSec: keyFrameSec,
      },
      cut: { how: 'from-key-frame', keyFrameSec },
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
