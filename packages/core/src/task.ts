import { z } from 'zod';
import { InvalidRequestError } from './errors.js';
import { PROVIDERS, TASK_STATUSES } from './status.js';

export {
  isTerminalStatus,
  PROVIDERS,
  type Provider,
  TASK_STATUSES,
  type TaskStatus,
  TERMINAL_TASK_STATUSES,
} from './status.js';

/** Schema of a {@link TaskStatus}. */
export const TaskStatusSchema = z.enum(TASK_STATUSES);

/** Schema of a normalized {@link Task} (useful to validate tasks that crossed a process boundary). */
export const TaskSchema = z.object({
  id: z.string(),
  provider: z.enum(PROVIDERS),
  status: TaskStatusSchema,
  /** 0–100. Reported by EvoLink; estimated from status and elapsed time for DashScope. */
  progress: z.number().min(0).max(100),
  /** Estimated time left, in milliseconds. */
  etaMs: z.number().nonnegative().optional(),
  /** Signed link to the result MP4 (valid about 24 h). */
  resultUrl: z.string().optional(),
  /** When `resultUrl` stops working, ISO 8601. */
  resultExpiresAt: z.string().optional(),
  usage: z
    .object({
      /** Seconds of output video billed (DashScope `usage.video_duration`). */
      videoSeconds: z.number().optional(),
      /**
       * EvoLink credits charged: `usage.credits_used` (or `cost.credits`) once EvoLink reports it,
       * else the reservation while the task may still succeed; none for a refunded failure.
       */
      credits: z.number().optional(),
      /** EvoLink credits reserved at create (`usage.credits_reserved`), an upper estimate. */
      creditsReserved: z.number().optional(),
    })
    .optional(),
  error: z.object({ code: z.string(), message: z.string(), retryable: z.boolean() }).optional(),
  /** The provider's wire body this task was read from. */
  raw: z.unknown(),
});
/** A lip-sync task as Retalk sees it, whichever provider runs it. */
export type Task = z.infer<typeof TaskSchema>;

const INPUT_URL = /^(https?:\/\/|oss:\/\/)\S+$/i;
const inputUrl = (what: string) =>
  z
    .string({ error: `${what} must be a URL string` })
    .regex(INPUT_URL, { error: `${what} must be a public http(s) URL or an oss:// URL from uploadFile()` });

/** Allowed values per request field, in words (used in error messages and `InvalidRequestError.allowed`). */
export const LIP_SYNC_REQUEST_ALLOWED = {
  video: 'a public http(s) URL or an oss:// URL (mp4/avi/mov, 2–120 s)',
  audio: 'a public http(s) URL or an oss:// URL (wav/mp3/aac, 2–120 s)',
  refImage: 'a public http(s) URL or an oss:// URL of a single clear frontal face',
  videoExtension: 'true or false',
  faceThreshold: 'an integer from 120 to 200',
  callbackUrl: 'an https URL of at most 2048 characters',
} as const;

/**
 * Strict schema of what a user asks for. Unknown keys are refused so a typo (`face_threshold`)
 * is not silently ignored.
 */
export const LipSyncRequestSchema = z.strictObject({
  /** URL of the video whose speaker is re-lipped. */
  video: inputUrl('video'),
  /** URL of the new speech. */
  audio: inputUrl('audio'),
  /** URL of an image of the face to re-lip when the video shows several people. */
  refImage: inputUrl('refImage').optional(),
  /** `true`: output as long as the audio (video extended). Default `false`: min(video, audio). */
  videoExtension: z.boolean().optional(),
  /** Face match strictness with `refImage`, integer 120–200 (provider default 170). */
  faceThreshold: z
    .number({ error: 'faceThreshold must be a number' })
    .int({ error: 'faceThreshold must be an integer' })
    .min(120, { error: 'faceThreshold must be at least 120' })
    .max(200, { error: 'faceThreshold must be at most 200' })
    .optional(),
  /** EvoLink only: https URL that receives the final task body. */
  callbackUrl: z
    .string()
    .max(2048, { error: 'callbackUrl must be at most 2048 characters' })
    .regex(/^https:\/\/\S+$/i, { error: 'callbackUrl must be an https URL' })
    .optional(),
});
/** A provider-neutral lip-sync request. */
export type LipSyncRequest = z.infer<typeof LipSyncRequestSchema>;

/**
 * Validates a request and returns it typed, or throws an {@link InvalidRequestError} naming the
 * first bad field (`field`) and what it accepts (`allowed`).
 */
export function parseLipSyncRequest(input: unknown): LipSyncRequest {
  const result = LipSyncRequestSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  let field = issue?.path.map(String).join('.') || undefined;
  if (issue?.code === 'unrecognized_keys') field = issue.keys[0];
  const allowed =
    field && field in LIP_SYNC_REQUEST_ALLOWED
      ? LIP_SYNC_REQUEST_ALLOWED[field as keyof typeof LIP_SYNC_REQUEST_ALLOWED]
      : `only the fields ${Object.keys(LIP_SYNC_REQUEST_ALLOWED).join(', ')}`;
  const isObject = typeof input === 'object' && input !== null && !Array.isArray(input);
  const given = isObject && field ? (input as Record<string, unknown>)[field] : undefined;
  let what: string;
  if (!isObject) what = 'the request must be an object with video and audio URLs';
  else if (issue?.code === 'unrecognized_keys') what = `unknown field "${field}"`;
  else if (issue?.code === 'invalid_type' && given === undefined) what = `${field} is required`;
  else if (issue?.message.startsWith(field ?? '\0')) what = issue.message;
  else what = `${field}: ${issue?.message ?? 'invalid value'}`;
  return failInvalid(`Invalid lip-sync request: ${what}. Allowed: ${allowed}.`, field, allowed, result.error);
}

function failInvalid(message: string, field: string | undefined, allowed: string, cause: unknown): never {
  throw new InvalidRequestError(message, { field, allowed, cause });
}
