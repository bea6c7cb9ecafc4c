// Runs inside web pages (the injected content script) and in the picker: keep it free of heavy imports.

/** How many frames the clip chooser's track shows. */
export const THUMBNAIL_COUNT = 8;
/** Height of one thumbnail, in pixels (its width follows the video's aspect). */
export const THUMBNAIL_HEIGHT = 54;
/** The longest one seek may take before the strip is given up (a stalled network, a broken file). */
const SEEK_LIMIT_MS = 10_000;

/** Resolves true on `type`, false on an error or after `SEEK_LIMIT_MS`. */
export function waitFor(video: HTMLMediaElement, type: string): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      video.removeEventListener(type, onEvent);
      video.removeEventListener('error', onError);
      resolve(ok);
    };
    const onEvent = () => done(true);
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), SEEK_LIMIT_MS);
    video.addEventListener(type, onEvent, { once: true });
    video.addEventListener('error', onError, { once: true });
  });
}

/**
 * A second, unattached, muted element loading `src`, so seeking it never moves the page's own
 * player; `crossOrigin` as the page's element has it, so a CORS video stays readable and one without
 * CORS is refused the same way. `loaded` resolves false when the file does not load.
 */
export function loadHiddenVideo(
  src: string,
  crossOrigin?: string | null,
): { video: HTMLVideoElement; loaded: Promise<boolean> } {
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  if (crossOrigin) video.crossOrigin = crossOrigin;
  const loaded = waitFor(video, 'loadeddata');
  video.src = src;
  return { video, loaded };
}

/** Stops a hidden element's download and frees its decoder. */
export function unloadVideo(video: HTMLVideoElement): void {
  video.removeAttribute('src');
  video.load();
}

/**
 * Frames spread evenly over a video file, as small JPEG data URLs, for the clip chooser's track.
 * A separate, unattached element loads the same address, so the page's own player never moves.
 * Empty when the picture cannot be read (another site's video without CORS taints the canvas, a
 * stream has no address to load, the file does not load): the track then has no pictures.
 */
export async function grabThumbnails(
  src: string,
  options: { count?: number; crossOrigin?: string | null } = {},
): Promise<string[]> {
  const count = options.count ?? THUMBNAIL_COUNT;
  const { video, loaded } = loadHiddenVideo(src, options.crossOrigin);
  try {
    if (!(await loaded) || !Number.isFinite(video.duration) || video.videoWidth === 0) return [];
    const canvas = document.createElement('canvas');
    canvas.height = THUMBNAIL_HEIGHT;
    canvas.width = Math.max(1, Math.round((video.videoWidth / video.videoHeight) * THUMBNAIL_HEIGHT));
    const context = canvas.getContext('2d');
    if (!context) return [];
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const seeked = waitFor(video, 'seeked');
      video.currentTime = ((i + 0.5) / count) * video.duration;
      if (!(await seeked)) return [];
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      out.push(canvas.toDataURL('image/jpeg', 0.7));
    }
    return out;
  } catch {
    // SecurityError: a tainted canvas (another site's picture).
    return [];
  } finally {
    unloadVideo(video);
  }
}

const previews = new WeakMap<HTMLMediaElement, () => void>();

/**
 * Plays `[startSec, endSec)` of a video (or audio) element and pauses at the end: the preview of a clip.
 * Resolves once playback has started; `onEnd` is called when it stops at the end.
 */
export async function playRange(
  video: HTMLMediaElement,
  range: { startSec: number; endSec: number },
  onEnd?: () => void,
): Promise<void> {
  // A new preview replaces the one before (its end check would pause this one).
  previews.get(video)?.();
  video.pause();
  const seeked = waitFor(video, 'seeked');
  video.currentTime = range.startSec;
  await seeked;
  const check = () => {
    if (video.currentTime >= range.endSec || video.ended) {
      video.pause();
      video.removeEventListener('timeupdate', check);
      onEnd?.();
      return true;
    }
    return false;
  };
  // Frame callbacks stop close to the exact frame; timeupdate catches throttled frames.
  const onFrame = () => {
    if (!video.paused && !check() && video instanceof HTMLVideoElement)
      video.requestVideoFrameCallback(onFrame);
  };
  video.addEventListener('timeupdate', check);
  previews.set(video, () => video.removeEventListener('timeupdate', check));
  await video.play();
  if (video instanceof HTMLVideoElement && 'requestVideoFrameCallback' in video)
    video.requestVideoFrameCallback(onFrame);
}

/** Picker → page: a thumbnail strip of the described video. The page answers `string[]`. */
export const THUMBNAILS_MESSAGE = 'retalk:thumbnails';
/** Picker → page: play the clip on the page's own player. The page answers `{ ok }` once it plays. */
export const PREVIEW_MESSAGE = 'retalk:preview';
