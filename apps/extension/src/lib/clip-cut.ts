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
