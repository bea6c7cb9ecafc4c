import { t } from './i18n.js';
import { loadedPlaylists } from './page-hls.js';
import {
  classifySourceUrl,
  type SourceKind,
  type VideoProtection,
  type VideoTarget,
} from './video-source.js';

// Runs inside web pages (the injected content script): keep it free of heavy imports.

export type PagePoint = { x: number; y: number };

/** Every `<video>` of the document, also inside open shadow roots (web-component players). */
export function allVideos(root: Document | ShadowRoot): HTMLVideoElement[] {
  const found = [...root.querySelectorAll('video')];
  for (const element of root.querySelectorAll('*')) {
    if (element.shadowRoot) found.push(...allVideos(element.shadowRoot));
  }
  return found;
}

/** The elements under a point, descending into open shadow roots (the document gives only their hosts). */
function elementsAt(root: Document | ShadowRoot, point: PagePoint): Element[] {
  const out: Element[] = [];
  for (const element of root.elementsFromPoint(point.x, point.y)) {
    if (element.shadowRoot && element.shadowRoot !== root) out.push(...elementsAt(element.shadowRoot, point));
    out.push(element);
  }
  return out;
}

/** The `<video>` under a point, also when an overlay (custom player controls) covers it. */
export function findVideoAt(
  doc: Document,
  point: PagePoint | null,
  preferSrc?: string,
): HTMLVideoElement | null {
  const videos = allVideos(doc);
  if (preferSrc) {
    const exact = videos.find((video) => video.currentSrc === preferSrc || video.src === preferSrc);
    if (exact) return exact;
  }
  if (point) {
    const stacked = elementsAt(doc, point).find((el) => el instanceof HTMLVideoElement);
    if (stacked) return stacked as HTMLVideoElement;
    const boxed = videos.find((video) => {
      const r = video.getBoundingClientRect();
      return point.x >= r.left && point.x <= r.right && point.y >= r.top && point.y <= r.bottom;
    });
    if (boxed) return boxed;
  }
  // No right-click seen yet (the finder is injected by that very click, and Chrome tells no
  // position): prefer a video that is playing, then the largest one on screen.
  let best: HTMLVideoElement | null = null;
  let bestScore = 0;
  for (const video of videos) {
    const r = video.getBoundingClientRect();
    const area =
      Math.max(0, Math.min(r.right, innerWidth) - Math.max(r.left, 0)) *
      Math.max(0, Math.min(r.bottom, innerHeight) - Math.max(r.top, 0));
    const playing = !video.paused && !video.ended && video.readyState > 2;
    const score = area > 0 ? area + (playing ? 1e9 : 0) : 0;
    if (score > bestScore) {
      best = video;
      bestScore = score;
    }
  }
  return best;
}

/** The address the element plays: `currentSrc`, else `src`, else its first `<source>`. */
export function sourceOf(video: HTMLVideoElement): string {
  if (video.currentSrc) return video.currentSrc;
  if (video.src) return video.src;
  const source = video.querySelector('source[src]');
  return source ? (source as HTMLSourceElement).src : '';
}

/** A `blob:` URL of a whole file can be fetched; one made for a MediaSource cannot. */
async function probeBlob(src: string): Promise<SourceKind> {
  const controller = new AbortController();
  try {
    const response = await fetch(src, { signal: controller.signal });
    controller.abort();
    return response.ok ? 'page-file' : 'stream';
  } catch {
    return 'stream';
  }
}

/** Protected (EME keys set) or tainted (cross-origin picture the page may not read); else undefined. */
export function videoProtection(video: HTMLVideoElement): VideoProtection | undefined {
  if (video.mediaKeys) return 'encrypted';
  if (video.readyState < 2) return undefined;
  try {
    const canvas = document.createElement('canvas');
    canvas.width = 1;
    canvas.height = 1;
    const context = canvas.getContext('2d');
    context?.drawImage(video, 0, 0, 1, 1);
    context?.getImageData(0, 0, 1, 1);
    return undefined;
  } catch {
    return 'tainted';
  }
}

/** Longest side of the frame grabbed for the face pick: enough for a face, small enough for messaging. */
const FRAME_MAX_SIDE = 1920;

/**
 * The frame the element shows now, at the video's own resolution (no player controls, no
 * letterbox bars, also when scrolled off-screen), as a JPEG data URL; undefined when the picture
 * cannot be read (protected, tainted, nothing loaded).
 */
export function grabFrame(video: HTMLVideoElement, maxSide = FRAME_MAX_SIDE): string | undefined {
  if (video.readyState < 2 || video.videoWidth === 0 || videoProtection(video)) return undefined;
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  const context = canvas.getContext('2d');
  if (!context) return undefined;
  try {
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL('image/jpeg', 0.92);
  } catch {
    return undefined;
  }
}

export async function describeVideo(video: HTMLVideoElement): Promise<VideoTarget> {
  const src = video.srcObject ? '' : sourceOf(video);
  const preliminary = video.srcObject ? 'stream' : classifySourceUrl(src);
  const kind = preliminary === 'probe-blob' ? await probeBlob(src) : preliminary;
  const r = video.getBoundingClientRect();
  const protection = videoProtection(video);
  const frame = grabFrame(video);
  // A stream a player script plays: the HLS playlists the page loaded tell where its segments are.
  const hlsManifests =
    kind === 'stream' ? loadedPlaylists(performance.getEntriesByType('resource'), src) : [];
  return {
    ...(hlsManifests.length > 0 && { hlsManifests }),
    ...(frame && { frame }),
    src,
    kind,
    ...(protection && { protection }),
    ...(kind === 'stream' && video.readyState < 2 && { notLoaded: true as const }),
    ...(Number.isFinite(video.currentTime) && { currentTimeSec: video.currentTime }),
    ...(Number.isFinite(video.duration) && video.duration > 0 && { durationSec: video.duration }),
    ...(video.videoWidth > 0 && { width: video.videoWidth, height: video.videoHeight }),
    rect: { x: r.left, y: r.top, width: r.width, height: r.height },
    devicePixelRatio: window.devicePixelRatio || 1,
    topFrame: window.top === window,
    pageUrl: location.href,
    pageTitle: document.title,
  };
}

/** Messages on the `retalk:fetch-video` port, page → picker. */
export type FetchVideoMessage =
  | {
      type: 'start';
      totalBytes: number;
      contentType: string;
      /** HLS: where on the stream's timeline the bytes begin, and how many seconds they hold. */
      startSec?: number;
      plannedSec?: number;
    }
  | { type: 'chunk'; base64: string; loadedBytes: number }
  | { type: 'done' }
  | { type: 'error'; message: string };

export const FETCH_VIDEO_PORT = 'retalk:fetch-video';
const CHUNK_BYTES = 512 * 1024;

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Reads the video as this page can (its cookies, its `blob:` URLs) and streams it out in
 * base64 chunks: Chrome passes extension messages as JSON, so bytes cannot travel raw.
 */
export async function streamVideoBytes(
  src: string,
  post: (message: FetchVideoMessage) => void,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(src, { credentials: 'include' });
  } catch {
    post({
      type: 'error',
      message: t('page.blocked'),
    });
    return;
  }
  if (!response.ok || !response.body) {
    post({
      type: 'error',
      message: t('page.httpError', { status: String(response.status) }),
    });
    return;
  }
  post({
    type: 'start',
    totalBytes: Number(response.headers.get('content-length') ?? 0),
    contentType: response.headers.get('content-type') ?? 'video/mp4',
  });
  const reader = response.body.getReader();
  let pending = new Uint8Array(0);
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (value) {
      loaded += value.length;
      const merged = new Uint8Array(pending.length + value.length);
      merged.set(pending);
      merged.set(value, pending.length);
      pending = merged;
    }
    while (pending.length >= CHUNK_BYTES || (done && pending.length > 0)) {
      const piece = pending.subarray(0, CHUNK_BYTES);
      post({ type: 'chunk', base64: toBase64(piece), loadedBytes: loaded - (pending.length - piece.length) });
      pending = pending.slice(piece.length);
    }
    if (done) break;
  }
  post({ type: 'done' });
}

/** Asks the finder for every video of its frame (finding 9: the picker's switcher). */
export const LIST_VIDEOS_MESSAGE = 'retalk:list-videos';
/** Asks the finder to take another video of its frame: `{ type, index }` → its `VideoTarget`. */
export const CHOOSE_VIDEO_MESSAGE = 'retalk:choose-video';

/** Asks the finder for its frame's videos and where the frame is (the popup's list of a page's videos). */
export const PAGE_VIDEOS_MESSAGE = 'retalk:page-videos';

/** One video of a frame as the picker's switcher and the popup's list show it. */
export type PageVideoEntry = {
  /** Its position among `allVideos(document)`, to choose it by. */
  index: number;
  /** The one the picker works with now. */
  current: boolean;
  playing: boolean;
  width?: number;
  height?: number;
  durationSec?: number;
  /** A small JPEG of its current frame, when the page may read the picture. */
  thumbnail?: string;
  /** Played as a stream (Media Source, HLS, a capture), not from a file: it is fetched by segments or recorded. */
  streamed?: true;
};

/** A frame's answer to `PAGE_VIDEOS_MESSAGE`. */
export type FrameVideos = { frameUrl: string; topFrame: boolean; videos: PageVideoEntry[] };

/** Side of the switcher's thumbnails: small enough to list a page full of videos in one message. */
const LIST_THUMBNAIL_SIDE = 160;

/** True when the element plays a stream rather than a file, as `describeVideo` tells them apart. */
async function isStreamed(video: HTMLVideoElement): Promise<boolean> {
  if (video.srcObject) return true;
  const src = sourceOf(video);
  const kind = classifySourceUrl(src);
  return kind === 'stream' || (kind === 'probe-blob' && (await probeBlob(src)) === 'stream');
}

/** The frame's videos that show or play something (an empty, zero-size element is nobody's choice). */
export async function listVideos(doc: Document, current: HTMLVideoElement | null): Promise<PageVideoEntry[]> {
  const listed = allVideos(doc).map(async (video, index): Promise<PageVideoEntry[]> => {
    const box = video.getBoundingClientRect();
    const hasSource = !!video.srcObject || sourceOf(video) !== '';
    if (!hasSource || (box.width === 0 && box.height === 0)) return [];
    const thumbnail = grabFrame(video, LIST_THUMBNAIL_SIDE);
    return [
      {
        index,
        current: video === current,
        playing: !video.paused && !video.ended,
        ...(video.videoWidth > 0 && { width: video.videoWidth, height: video.videoHeight }),
        ...(Number.isFinite(video.duration) && video.duration > 0 && { durationSec: video.duration }),
        ...(thumbnail && { thumbnail }),
        ...((await isStreamed(video)) && { streamed: true as const }),
      },
    ];
  });
  return (await Promise.all(listed)).flat();
}

/** Background → finder, as a menu opens (Firefox): is a video near the right-click? Answers a boolean. */
export const VIDEO_NEAR_MESSAGE = 'retalk:video-near';

/** How far outside a video's box a right-click still counts as on it (a player's frame, its bar). */
const NEAR_PX = 24;

/**
 * Whether the frame has a video near the right-click: one whose box, widened by a little, holds
 * the point; with no point seen, any video showing something.
 */
export function videoNear(doc: Document, point: PagePoint | null): boolean {
  return allVideos(doc).some((video) => {
    const box = video.getBoundingClientRect();
    if ((box.width === 0 && box.height === 0) || (!video.srcObject && sourceOf(video) === '')) return false;
    if (!point) return true;
    return (
      point.x >= box.left - NEAR_PX &&
      point.x <= box.right + NEAR_PX &&
      point.y >= box.top - NEAR_PX &&
      point.y <= box.bottom + NEAR_PX
    );
  });
}
