import { t } from './i18n.js';
import { toBase64, videoProtection } from './page-video.js';
import type { VideoProtection } from './video-source.js';

// Runs inside web pages (the injected content script): keep it free of heavy imports.

/** The port the picker opens to the clicked frame to record its video. */
export const RECORD_VIDEO_PORT = 'retalk:record-video';

/** Picker → page on the record port. Disconnecting the port cancels a recording. */
export type RecordVideoRequest = { type: 'record'; startSec: number; endSec: number };

/** Page → picker on the record port. */
export type RecordVideoMessage =
  | { type: 'start'; mimeType: string }
  | { type: 'progress'; recordedSec: number; totalSec: number }
  | { type: 'chunk'; base64: string }
  | { type: 'done'; recordedSec: number }
  | { type: 'error'; message: string };

/** Containers MediaRecorder may write, best first: MP4/H.264 is what the provider takes as is. */
const RECORDING_TYPES = ['video/mp4;codecs=avc1', 'video/mp4', 'video/webm;codecs=vp9', 'video/webm'];

export function recordingMimeType(isSupported: (type: string) => boolean): string | undefined {
  return RECORDING_TYPES.find((type) => isSupported(type));
}

/** Why this element cannot be recorded, in the member's words; undefined when it can. */
export function recordingRefusal(video: HTMLVideoElement): string | undefined {
  const protection = videoProtection(video);
  return protection ? protectionAdvice(protection) : undefined;
}

/** What the picker says about a video that cannot be recorded, before anything is spent. */
export function protectionAdvice(protection: VideoProtection): string {
  return protection === 'encrypted' ? t('page.drm') : t('page.tainted');
}

function once(target: EventTarget, type: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    target.addEventListener(
      type,
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      { once: true },
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function seekTo(video: HTMLVideoElement, sec: number, signal: AbortSignal): Promise<void> {
  if (Math.abs(video.currentTime - sec) < 0.01 && !video.seeking) return;
  const seeked = once(video, 'seeked', signal);
  video.currentTime = sec;
  await seeked;
}

/**
 * Records `[startSec, endSec)` of the page's own `<video>` in real time: pauses, seeks to the start,
 * plays while a MediaRecorder takes the element's picture (`captureStream()`), stops at the end and
 * pauses. Only the picture is kept; the member's audio replaces the sound. Progress follows the
 * video's own clock, so a stalled stream does not count as recorded time.
 */
export async function recordVideoRange(
  video: HTMLVideoElement,
  range: { startSec: number; endSec: number },
  post: (message: RecordVideoMessage) => void,
  signal: AbortSignal,
): Promise<void> {
  const refusal = recordingRefusal(video);
  if (refusal) {
    post({ type: 'error', message: refusal });
    return;
  }
  const mimeType = recordingMimeType((type) => MediaRecorder.isTypeSupported(type));
  const capture = (video as HTMLVideoElement & { captureStream?: () => MediaStream }).captureStream;
  if (!mimeType || !capture) {
    post({
      type: 'error',
      message: t('page.cannotRecord'),
    });
    return;
  }
  const totalSec = range.endSec - range.startSec;
  video.pause();
  await seekTo(video, range.startSec, signal);
  let stream: MediaStream;
  try {
    stream = capture.call(video);
  } catch {
    post({ type: 'error', message: recordingRefusal(video) ?? t('page.refusedRecord') });
    return;
  }
  if (stream.getVideoTracks().length === 0) await once(stream, 'addtrack', signal);
  const recorder = new MediaRecorder(new MediaStream(stream.getVideoTracks()), { mimeType });
  // Chunks are converted in order: each waits for the one before.
  let posted = Promise.resolve();
  recorder.ondataavailable = (event) => {
    if (event.data.size === 0) return;
    posted = posted.then(async () => {
      post({ type: 'chunk', base64: toBase64(new Uint8Array(await event.data.arrayBuffer())) });
    });
  };
  const stopped = new Promise<void>((resolve) =>
    recorder.addEventListener('stop', () => resolve(), { once: true }),
  );
  const stop = () => {
    if (recorder.state !== 'inactive') recorder.stop();
    video.pause();
  };
  signal.addEventListener('abort', stop, { once: true });
  try {
    post({ type: 'start', mimeType });
    const started = once(recorder, 'start', signal);
    recorder.start(1000);
    await started;
    await video.play();
    let lastWhole = -1;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (signal.aborted) {
          reject(signal.reason);
          return true;
        }
        const recorded = Math.min(totalSec, Math.max(0, video.currentTime - range.startSec));
        const whole = Math.floor(recorded * 4);
        if (whole !== lastWhole) {
          lastWhole = whole;
          post({ type: 'progress', recordedSec: recorded, totalSec });
        }
        if (video.currentTime >= range.endSec || video.ended) {
          resolve();
          return true;
        }
        return false;
      };
      // Frame callbacks stop at the exact frame; timeupdate keeps counting where frames are throttled.
      const onFrame = () => {
        if (!check()) video.requestVideoFrameCallback(onFrame);
      };
      if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(onFrame);
      const onTime = () => {
        if (check()) video.removeEventListener('timeupdate', onTime);
      };
      video.addEventListener('timeupdate', onTime);
      video.addEventListener('ended', onTime, { once: true });
    });
    stop();
    await stopped;
    await posted;
    post({ type: 'done', recordedSec: Math.min(totalSec, video.currentTime - range.startSec) });
  } catch (error) {
    stop();
    if (!signal.aborted) post({ type: 'error', message: t('page.recordFailed', { reason: String(error) }) });
  } finally {
    for (const track of stream.getTracks()) track.stop();
  }
}
