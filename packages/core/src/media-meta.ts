import { z } from 'zod';

// Its own module so that checkMedia and MEDIA_LIMITS (limits.ts) carry no zod: a page that checks
// media limits before talking to a relay does not bundle full zod for a schema it never runs.

/** Schema of {@link MediaMeta}. */
export const MediaMetaSchema = z.object({
  kind: z.enum(['video', 'audio', 'image']),
  /** Duration in seconds. */
  durationSec: z.number().nonnegative().optional(),
  /** File size in bytes. */
  sizeBytes: z.number().nonnegative().optional(),
  /** Width in pixels. */
  width: z.number().nonnegative().optional(),
  /** Height in pixels. */
  height: z.number().nonnegative().optional(),
  /** Frames per second. */
  fps: z.number().nonnegative().optional(),
  /** Container or file format: `mp4`, `mov`, `avi`, `wav`, `mp3`, `aac`, `png`, `jpeg`, … */
  format: z.string().optional(),
  /** Codec: `h264`/`avc1`, `hevc`/`h265`, … */
  codec: z.string().optional(),
});
/** What is known about one input file (from a probe). Every field but `kind` is optional. */
export type MediaMeta = z.infer<typeof MediaMetaSchema>;
