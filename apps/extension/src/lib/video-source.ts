/** What the page told us about the video under the click. Plain data: it crosses a message boundary. */
export type VideoTarget = {
  /** `currentSrc` of the element, else its `src`, else the first `<source>`; may be empty or `blob:`. */
  src: string;
  /** How the source can reach the provider (see `classifySource`). */
  kind: SourceKind;
  durationSec?: number;
  width?: number;
  height?: number;
  /** Element box in CSS pixels, relative to its frame's viewport. */
  rect: { x: number; y: number; width: number; height: number };
  devicePixelRatio: number;
  /** True when the video is in the top frame, so the rect lines up with a tab capture. */
  topFrame: boolean;
  pageUrl: string;
  pageTitle: string;
  /** Where the page's playback stood at the right-click, in seconds (the clip's default start). */
  currentTimeSec?: number;
  /**
   * Why the page's own element cannot be recorded: `encrypted` = protected video (EME media keys
   * set); `tainted` = cross-origin media the page may not read. Absent when it can be.
   */
  protection?: VideoProtection;
  /** The frame the element showed at the right-click, at the video's resolution (JPEG data URL). */
  frame?: string;
  /** HLS playlists the page loaded for a stream, newest first: its clip can be fetched by segments. */
  hlsManifests?: string[];
  /** True when a stream has no picture loaded yet (nothing to record until it plays). */
  notLoaded?: true;
};

export type VideoProtection = 'encrypted' | 'tainted';

/**
 * - `url`: an http(s) address the provider may fetch itself;
 * - `page-file`: a whole file only this page can read (`blob:` object URL of a file);
 * - `stream`: Media Source Extensions / MediaStream playback — there is no file to send;
 * - `none`: no source at all.
 */
export type SourceKind = 'url' | 'page-file' | 'stream' | 'none';

/**
 * How the picker should send the video to the relay: by its address; read as a whole file by the
 * page and uploaded; an HLS stream's segments for the chosen clip, fetched by the page, cut in the
 * browser and uploaded (falling back to recording); recorded from the page's own element for the
 * chosen clip (other streams: MSE, DASH), then uploaded; or not at all.
 */
export type VideoIntake =
  | 'by-url'
  | 'upload-from-page'
  | 'hls-from-page'
  | 'record-from-page'
  | 'unavailable';

/** The intakes that take a clip of the video (the chosen range), not the whole of it. */
export function takesClip(intake: VideoIntake | 'file'): boolean {
  return intake === 'hls-from-page' || intake === 'record-from-page';
}

const PRIVATE_HOST = [
  /^localhost$/i,
  /\.localhost$/i,
  /\.local$/i,
  /\.internal$/i,
  /^127\./,
  /^10\./,
  /^192\.168\./,
  /^172\.(1[6-9]|2\d|3[01])\./,
  /^169\.254\./,
  /^0\./,
  /^\[?::1\]?$/,
  /^\[?f[cd][0-9a-f]{2}:/i,
  /^\[?fe80:/i,
];

/** True when a provider on the internet cannot fetch this host (loopback, private and link-local). */
export function isPrivateHost(hostname: string): boolean {
  return (
    PRIVATE_HOST.some((pattern) => pattern.test(hostname)) ||
    (!hostname.includes('.') && !hostname.includes(':'))
  );
}

/**
 * Public http(s) sources go by URL; page-only files and private addresses are uploaded; HLS streams
 * are fetched by their segments; other streams are recorded from the page's element; protected or
 * tainted ones not at all.
 */
export function chooseVideoIntake(
  target: Pick<VideoTarget, 'src' | 'kind' | 'protection' | 'notLoaded' | 'hlsManifests'>,
): VideoIntake {
  if (target.kind === 'none') return 'unavailable';
  if (target.kind === 'stream') {
    if (target.protection || target.notLoaded) return 'unavailable';
    return target.hlsManifests?.length ? 'hls-from-page' : 'record-from-page';
  }
  if (target.kind === 'page-file') return 'upload-from-page';
  try {
    const url = new URL(target.src);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'upload-from-page';
    return isPrivateHost(url.hostname) ? 'upload-from-page' : 'by-url';
  } catch {
    return 'unavailable';
  }
}

/** Kind of a source URL before probing: `blob:` needs a probe to tell a file from a stream. */
export function classifySourceUrl(src: string): SourceKind | 'probe-blob' {
  if (!src) return 'none';
  if (src.startsWith('blob:')) return 'probe-blob';
  // A playlist, not a file (Safari and recent Chromium play HLS natively).
  if (/^https?:[^?#]*\.m3u8(?:[?#]|$)/i.test(src)) return 'stream';
  if (src.startsWith('http:') || src.startsWith('https:') || src.startsWith('data:')) return 'url';
  if (src.startsWith('mediastream:')) return 'stream';
  return 'none';
}

/** A file name for an uploaded page video, from its URL path when it has one. */
export function videoFilename(src: string): string {
  try {
    const last = new URL(src).pathname.split('/').pop() ?? '';
    if (/\.(mp4|mov|webm|m4v|avi|mkv)$/i.test(last)) return decodeURIComponent(last);
  } catch {
    // not a URL with a path: fall through to the generic name
  }
  return 'page-video.mp4';
}
