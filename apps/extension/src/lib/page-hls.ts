import { t } from './i18n.js';
import { type FetchVideoMessage, toBase64 } from './page-video.js';

// Runs inside web pages (the injected content script): keep it free of heavy imports.

/** The port the picker opens to the clicked frame to fetch a clip of the HLS stream it plays. */
export const FETCH_HLS_PORT = 'retalk:fetch-hls';

/** Picker → page on the HLS port: the playlists the page loaded (newest first) and the clip. */
export type FetchHlsRequest = {
  type: 'fetch-hls';
  manifests: string[];
  startSec: number;
  endSec: number;
  /** From the lightest variant, not the one as tall as the picture (a thumbnail needs few pixels). */
  smallest?: boolean;
};

export type HlsSegment = { uri: string; startSec: number; durationSec: number };
export type HlsVariant = { uri: string; bandwidth: number; height?: number };
export type HlsPlaylist =
  | { type: 'master'; variants: HlsVariant[] }
  | { type: 'media'; map?: string; segments: HlsSegment[]; encrypted: boolean };

function attribute(line: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|[:,])${name}=("[^"]*"|[^,]*)`).exec(line);
  return match?.[1]?.replace(/^"|"$/g, '');
}

/** Reads an HLS playlist (RFC 8216): the variants of a master playlist, or a media playlist's segments. */
export function parsePlaylist(text: string, baseUrl: string): HlsPlaylist {
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  if (lines[0] !== '#EXTM3U') throw new Error(t('page.notHls'));
  const resolve = (uri: string) => new URL(uri, baseUrl).href;
  const variants: HlsVariant[] = [];
  const segments: HlsSegment[] = [];
  let map: string | undefined;
  let encrypted = false;
  let pendingDuration: number | undefined;
  let pendingVariant: Omit<HlsVariant, 'uri'> | undefined;
  let at = 0;
  for (const line of lines.slice(1)) {
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      const resolution = attribute(line, 'RESOLUTION')?.split('x');
      pendingVariant = {
        bandwidth: Number(attribute(line, 'BANDWIDTH') ?? 0),
        ...(resolution?.[1] && { height: Number(resolution[1]) }),
      };
    } else if (line.startsWith('#EXTINF:')) {
      pendingDuration = Number.parseFloat(line.slice('#EXTINF:'.length));
    } else if (line.startsWith('#EXT-X-MAP:')) {
      const uri = attribute(line, 'URI');
      if (uri) map = resolve(uri);
    } else if (line.startsWith('#EXT-X-KEY:')) {
      encrypted ||= attribute(line, 'METHOD') !== 'NONE';
    } else if (line && !line.startsWith('#')) {
      if (pendingVariant) {
        variants.push({ uri: resolve(line), ...pendingVariant });
        pendingVariant = undefined;
      } else if (pendingDuration !== undefined) {
        segments.push({ uri: resolve(line), startSec: at, durationSec: pendingDuration });
        at += pendingDuration;
        pendingDuration = undefined;
      }
    }
  }
  if (variants.length > 0) return { type: 'master', variants };
  return { type: 'media', ...(map && { map }), segments, encrypted };
}

/** The segments that hold any part of `[startSec, endSec)`. */
export function segmentsForRange(
  segments: HlsSegment[],
  range: { startSec: number; endSec: number },
): HlsSegment[] {
  return segments.filter(
    (segment) => segment.startSec < range.endSec && segment.startSec + segment.durationSec > range.startSec,
  );
}

/** The variant the page most likely plays: the one as tall as its picture, else the best. */
export function chooseVariant(variants: HlsVariant[], pictureHeight?: number): HlsVariant | undefined {
  const sameHeight = variants.filter((v) => pictureHeight !== undefined && v.height === pictureHeight);
  const pool = sameHeight.length > 0 ? sameHeight : variants;
  return [...pool].sort((a, b) => b.bandwidth - a.bandwidth)[0];
}

/** True when a URL's path names an HLS playlist. */
export function isHlsUrl(url: string): boolean {
  try {
    return /\.m3u8$/i.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

/**
 * The HLS playlists this document loaded, newest first (a player script fetches them, so the
 * page's resource timing lists them): where to find the stream a Media Source player plays.
 */
export function loadedPlaylists(entries: ReadonlyArray<{ name: string }>, elementSrc?: string): string[] {
  const found = entries.map((entry) => entry.name).filter(isHlsUrl);
  if (elementSrc && isHlsUrl(elementSrc)) found.push(elementSrc);
  return [...new Set(found.reverse())].slice(0, 8);
}

/** Why a stream cannot be fetched by its segments; the picker then records it from the page. */
class HlsUnsupported extends Error {}

async function fetchText(url: string, signal: AbortSignal): Promise<string> {
  const response = await fetch(url, { credentials: 'include', signal });
  if (!response.ok) throw new HlsUnsupported(`the site answered HTTP ${response.status} for ${url}`);
  return response.text();
}

async function fetchBytes(url: string, signal: AbortSignal): Promise<Uint8Array> {
  const response = await fetch(url, { credentials: 'include', signal });
  if (!response.ok) throw new HlsUnsupported(`the site answered HTTP ${response.status} for ${url}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The media playlist among the loaded ones (newest first), through a master playlist if need be. */
async function mediaPlaylist(
  manifests: string[],
  pictureHeight: number | undefined,
  signal: AbortSignal,
  smallest = false,
): Promise<Extract<HlsPlaylist, { type: 'media' }>> {
  for (const url of manifests) {
    const playlist = parsePlaylist(await fetchText(url, signal), url);
    if (playlist.type === 'media' && playlist.segments.length > 0) return playlist;
    if (playlist.type === 'master') {
      const variant = smallest
        ? [...playlist.variants].sort((a, b) => a.bandwidth - b.bandwidth)[0]
        : chooseVariant(playlist.variants, pictureHeight);
      if (!variant) continue;
      const media = parsePlaylist(await fetchText(variant.uri, signal), variant.uri);
      if (media.type === 'media' && media.segments.length > 0) return media;
    }
  }
  throw new HlsUnsupported('no media playlist with segments among the ones the page loaded');
}

/**
 * Fetches just the segments of the clip from the HLS stream the page plays (with the page's
 * cookies), and streams out the init segment and those segments, in base64 chunks. The `start`
 * message tells where on the stream's timeline the bytes begin, so the picker can cut the clip.
 * Only fragmented-MP4 streams without encryption are fetched; anything else is an `error` and the
 * picker records the clip from the page instead.
 */
export async function streamHlsRange(
  request: Omit<FetchHlsRequest, 'type'> & { pictureHeight?: number },
  post: (message: FetchVideoMessage) => void,
  signal: AbortSignal,
): Promise<void> {
  try {
    const playlist = await mediaPlaylist(
      request.manifests,
      request.pictureHeight,
      signal,
      request.smallest === true,
    );
    if (playlist.encrypted) throw new HlsUnsupported('the stream is encrypted');
    if (!playlist.map) throw new HlsUnsupported('the stream is MPEG-TS, not fragmented MP4');
    const wanted = segmentsForRange(playlist.segments, request);
    const first = wanted[0];
    if (!first) throw new HlsUnsupported('the clip is outside the stream');
    const planned = wanted.reduce((sum, segment) => sum + segment.durationSec, 0);
    post({
      type: 'start',
      totalBytes: 0,
      contentType: 'video/mp4',
      startSec: first.startSec,
      plannedSec: planned,
    });
    let loaded = 0;
    for (const uri of [playlist.map, ...wanted.map((segment) => segment.uri)]) {
      const bytes = await fetchBytes(uri, signal);
      loaded += bytes.length;
      post({ type: 'chunk', base64: toBase64(bytes), loadedBytes: loaded });
    }
    post({ type: 'done' });
  } catch (error) {
    if (signal.aborted) return;
    post({ type: 'error', message: t('page.hlsFailed', { reason: errorText(error) }) });
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
