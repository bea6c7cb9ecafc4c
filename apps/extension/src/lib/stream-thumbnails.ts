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
