import { fetchHlsClipFromPage, type PageTarget } from './page-video-reader.js';
import { THUMBNAIL_COUNT, THUMBNAIL_HEIGHT } from './thumbnails.js';

/**
 * Frames spread evenly over an HLS stream the page plays, as small JPEG data URLs, for the clip
 * chooser's track: the page fetches one segment of the lightest variant at each place (with its
 * own cookies, as for the clip) and the picker decodes its first frame (mediabunny, WebCodecs).
 * The page's player never moves. Each frame is the key frame a segment starts with, so it may sit
 * up to a segment's length before its place. Empty when any segment cannot be had or decoded.
 */
export async function hlsThumbnails(
  page: PageTarget,
  stream: { manifests: string[]; durationSec: number },
  options: { count?: number; signal?: AbortSignal } = {},
): Promise<string[]> {
  const count = options.count ?? THUMBNAIL_COUNT;
  const mb = await import('mediabunny');
  const out: string[] = [];
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d');
  if (!context) return [];
  try {
    for (let i = 0; i < count; i++) {
      const at = ((i + 0.5) / count) * stream.durationSec;
      const fetched = await fetchHlsClipFromPage(
        page,
        { manifests: stream.manifests, startSec: at, endSec: at + 0.01, smallest: true },
        options.signal ? { signal: options.signal } : {},
      );
      const input = new mb.Input({ source: new mb.BlobSource(fetched.blob), formats: mb.ALL_FORMATS });
      try {
        const track = await input.getPrimaryVideoTrack();
        if (!track) return [];
        const sink = new mb.CanvasSink(track, { height: THUMBNAIL_HEIGHT });
        const frame = await sink.getCanvas(await track.getFirstTimestamp());
        if (!frame) return [];
        canvas.width = frame.canvas.width;
        canvas.height = frame.canvas.height;
        context.drawImage(frame.canvas, 0, 0);
        out.push(canvas.toDataURL('image/jpeg', 0.7));
      } finally {
        input.dispose();
      }
    }
    return out;
  } catch {
    return [];
  }
}

/** Longest side of an HLS frame for the face pick, as for a file's (`grabFrame`). */
const FRAME_MAX_SIDE = 1920;

/**
 * The frame of an HLS stream at `timeSec` (on the stream's timeline), for the face pick: the page
 * fetches the segment that holds it from the variant as tall as the picture (as for the clip), and
 * the picker decodes the exact frame, at the variant's own resolution, as a JPEG data URL. The
 * page's player never moves. Undefined when the segment cannot be had or decoded.
 */
export async function hlsFrameAt(
  page: PageTarget,
  stream: { manifests: string[]; timeSec: number },
  options: { signal?: AbortSignal } = {},
): Promise<string | undefined> {
  const mb = await import('mediabunny');
  try {
    const fetched = await fetchHlsClipFromPage(
      page,
      { manifests: stream.manifests, startSec: stream.timeSec, endSec: stream.timeSec + 0.01 },
      options.signal ? { signal: options.signal } : {},
    );
    const input = new mb.Input({ source: new mb.BlobSource(fetched.blob), formats: mb.ALL_FORMATS });
    try {
      const track = await input.getPrimaryVideoTrack();
      if (!track) return undefined;
      const [width, height] = await Promise.all([track.getDisplayWidth(), track.getDisplayHeight()]);
      const scale = Math.min(1, FRAME_MAX_SIDE / Math.max(width, height));
      const sink = new mb.CanvasSink(track, {
        width: Math.round(width * scale),
        height: Math.round(height * scale),
        fit: 'fill',
      });
      // The segment's own timestamps may start anywhere: count from its first frame.
      const first = await track.getFirstTimestamp();
      const frame = await sink.getCanvas(first + Math.max(0, stream.timeSec - fetched.startSec));
      if (!frame) return undefined;
      const canvas = document.createElement('canvas');
      canvas.width = frame.canvas.width;
      canvas.height = frame.canvas.height;
      canvas.getContext('2d')?.drawImage(frame.canvas, 0, 0);
      return canvas.toDataURL('image/jpeg', 0.92);
    } finally {
      input.dispose();
    }
  } catch {
    return undefined;
  }
}
