/**
 * Why a file cannot be conformed. Stable strings: branch on them, show the refusal's `message`.
 * - `clip_too_long` / `clip_too_short`: the chosen clip (or the whole file) is outside 2–120 s.
 * - `clip_out_of_range`: the clip starts or ends outside the file.
 * - `clip_invalid`: start/end are not numbers, negative, or start ≥ end.
 * - `no_video_track` / `no_audio_track`: the file has no track of the kind it is used for.
 * - `undecodable`: the file cannot be read (not media, damaged, truncated, unknown codec).
 * - `unsupported_format`: a readable file of a kind that cannot be used here.
 * - `too_many_samples`: the file's tables claim more frames or packets than a real input can have.
 * - `too_large`: the file is larger than the executor accepts.
 */
export const CONFORM_REFUSAL_CODES = [
  'clip_too_long',
  'clip_too_short',
  'clip_out_of_range',
  'clip_invalid',
  'no_video_track',
  'no_audio_track',
  'undecodable',
  'unsupported_format',
  'too_many_samples',
  'too_large',
] as const;

/** One of {@link CONFORM_REFUSAL_CODES}. */
export type ConformRefusalCode = (typeof CONFORM_REFUSAL_CODES)[number];

/** What cannot be fixed, and what the user can do about it. */
export interface ConformRefusal {
  code: ConformRefusalCode;
  /** The input or option to change: `clip`, `clip.startSec`, `clip.endSec`, `video`, `audio`, `image`. */
  field: string;
  /** A sentence for people: what is wrong and what to do ("choose a clip of at most 2 min"). */
  message: string;
  /** What is allowed, in words, when there is a range. */
  allowed?: string | undefined;
}
