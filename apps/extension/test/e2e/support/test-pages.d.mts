/** Test pages with `<video>`s on 127.0.0.1; `media` adds files made at test time under `/media/<name>`. */
export function startPageServer(options?: {
  media?: Record<string, Uint8Array>;
}): Promise<{ url: string; close(): Promise<void> }>;

/** The 3 s fixture as fragmented MP4 without sound (packets copied), for the Media Source page. */
export function makeFragmentedTalk(): Promise<Uint8Array>;

/** Fragmented MP4 cut into an HLS stream (init + `count` segments of the clip, end to end, and playlists). */
export function makeHlsStream(
  fragmented: Uint8Array,
  options: { name?: string; count: number; pieceSec?: number; width?: number; height?: number },
): Record<string, Uint8Array>;
