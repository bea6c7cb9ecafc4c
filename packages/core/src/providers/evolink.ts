import { z } from 'zod';
import type { RetalkError } from '../errors.js';
import { isRetryableTaskCode } from '../provider-errors.js';
import type { LipSyncRequest, Task, TaskStatus } from '../task.js';
import type { ProviderCapabilities } from './capabilities.js';

/** Default EvoLink API origin. */
export const EVOLINK_BASE_URL = 'https://api.evolink.ai';
/** Default EvoLink files-API origin. */
export const EVOLINK_FILES_BASE_URL = 'https://files-api.evolink.ai';
/** EvoLink result links stay valid this long after completion, in milliseconds (24 h). */
export const EVOLINK_RESULT_TTL_MS = 24 * 60 * 60 * 1000;
/** Files-API uploads live this long, in milliseconds (72 h). */
export const EVOLINK_UPLOAD_TTL_MS = 72 * 60 * 60 * 1000;

/**
 * Repeats of one EvoLink submit after a 429, a 5xx or a lost connection: one, always with the same
 * `Idempotency-Key`, as EvoLink's own client does (audit §4.5). No EvoLink doc says a 429 created
 * nothing, so without the key no submit would be repeated at all (audit row 2).
 */
export const EVOLINK_SUBMIT_RETRIES = 1;

/** A fresh idempotency key for one submit intent. */
export function newIdempotencyKey(): string {
  return `retalk-${globalThis.crypto.randomUUID()}`;
}

/** The headers of an EvoLink submit with idempotency key `key` (EvoLink's MCP sends both). */
export function evolinkIdempotencyHeaders(key: string): Record<string, string> {
  return { 'idempotency-key': key, 'x-evo-run-id': key };
}

/** Which failed EvoLink submits may be repeated with the same idempotency key. */
export function isEvolinkSubmitRetryable(error: RetalkError): boolean {
  return error.retryable && ['rate_limited', 'provider_unavailable', 'network'].includes(error.code);
}

/** The MIME types EvoLink's files API documents: images only (providers.md A.5, audit row 3). */
export const EVOLINK_FILES_IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;

/** What EvoLink can do (docs/providers.md A). */
export const EVOLINK_CAPABILITIES: ProviderCapabilities = {
  displayName: 'EvoLink',
  cancel: 'never',
  taskList: false,
  idempotentSubmit: true,
  callbacks: true,
  upload: { mimeTypes: EVOLINK_FILES_IMAGE_TYPES, ttlMs: EVOLINK_UPLOAD_TTL_MS, maxBytes: 100 * 1024 * 1024 },
  limits: { scope: 'unpublished', source: 'docs/providers.md A.6' },
  resultTtlMs: EVOLINK_RESULT_TTL_MS,
};

// EvoLink's docs and its own MCP client disagree on the type of `error.code` (string vs HTTP
// status number) — reference/providers.md A.2 — so both are accepted.
const ErrorCodeSchema = z.union([z.string(), z.number()]);

/** An EvoLink error answer `{error:{code,message,type,param?}}` (extra keys such as `fallback_suggestion` kept). */
export const EvolinkErrorBodySchema = z.looseObject({
  error: z.looseObject({
    code: ErrorCodeSchema.nullish(),
    message: z.string().nullish(),
    type: z.string().nullish(),
    param: z.string().nullish(),
  }),
});
/** See {@link EvolinkErrorBodySchema}. */
export type EvolinkErrorBody = z.infer<typeof EvolinkErrorBodySchema>;

/**
 * An EvoLink task as returned by create, `GET /v1/tasks/{id}` and callbacks. Lenient: unknown
 * keys are kept and any status string is accepted.
 */
export const EvolinkTaskSchema = z.looseObject({
  id: z.string(),
  object: z.string().nullish(),
  created: z.number().nullish(),
  model: z.string().nullish(),
  status: z.string(),
  progress: z.number().nullish(),
  type: z.string().nullish(),
  // Plain strings on EvoLink; `{url}` objects on EvoLink-shaped clones (providers.md C).
  results: z.array(z.union([z.string(), z.looseObject({ url: z.string() })])).nullish(),
  task_info: z
    .looseObject({
      can_cancel: z.boolean().nullish(),
      /** Seconds the whole task is expected to take. */
      estimated_time: z.number().nullish(),
      video_duration: z.number().nullish(),
    })
    .nullish(),
  usage: z
    .looseObject({
      billing_rule: z.string().nullish(),
      credits_reserved: z.number().nullish(),
      credits: z.number().nullish(),
      user_group: z.string().nullish(),
    })
    .nullish(),
  error: z
    .looseObject({
      code: ErrorCodeSchema.nullish(),
      message: z.string().nullish(),
      type: z.string().nullish(),
    })
    .nullish(),
});
/** See {@link EvolinkTaskSchema}. */
export type EvolinkTask = z.infer<typeof EvolinkTaskSchema>;

/** The body Retalk sends to `POST /v1/videos/generations` (flat, no `input`/`parameters`). */
export const EvolinkCreateBodySchema = z.object({
  model: z.literal('videoretalk'),
  video_url: z.string(),
  audio_url: z.string(),
  ref_image_url: z.string().optional(),
  video_extension: z.boolean().optional(),
  query_face_threshold: z.number().int().min(120).max(200).optional(),
  callback_url: z.string().optional(),
});
/** See {@link EvolinkCreateBodySchema}. */
export type EvolinkCreateBody = z.infer<typeof EvolinkCreateBodySchema>;

/** The files-API envelope `{success, code, msg, data}`. */
export const EvolinkFileUploadResponseSchema = z.looseObject({
  success: z.boolean(),
  code: ErrorCodeSchema.nullish(),
  msg: z.string().nullish(),
  data: z
    .looseObject({
      file_id: z.string().nullish(),
      file_url: z.string(),
      download_url: z.string().nullish(),
      expires_at: z.string().nullish(),
    })
    .nullish(),
});
/** See {@link EvolinkFileUploadResponseSchema}. */
export type EvolinkFileUploadResponse = z.infer<typeof EvolinkFileUploadResponseSchema>;

/** Builds the EvoLink create body from a validated request. */
export function toEvolinkCreateBody(req: LipSyncRequest): EvolinkCreateBody {
  const body: EvolinkCreateBody = { model: 'videoretalk', video_url: req.video, audio_url: req.audio };
  if (req.refImage !== undefined) body.ref_image_url = req.refImage;
  if (req.videoExtension !== undefined) body.video_extension = req.videoExtension;
  if (req.faceThreshold !== undefined) body.query_face_threshold = req.faceThreshold;
  if (req.callbackUrl !== undefined) body.callback_url = req.callbackUrl;
  return body;
}

/**
 * EvoLink status → Retalk status. A cancelled task shows as `failed` with `error.code:
 * "request_cancelled"` (the query docs' four statuses) or as `cancelled`, a status of its own in
 * EvoLink's MCP client (audit row 1); both end as `canceled`. Unknown statuses are treated as
 * still running so polling goes on.
 */
export function toEvolinkStatus(status: string, errorCode?: string | number | null): TaskStatus {
  switch (status) {
    case 'cancelled':
    case 'canceled':
      return 'canceled';
    case 'pending':
      return 'queued';
    case 'processing':
      return 'running';
    case 'completed':
      return 'succeeded';
    case 'failed':
      return errorCode === 'request_cancelled' ? 'canceled' : 'failed';
    default:
      return 'running';
  }
}

/** Context for {@link fromEvolinkTask}. */
export interface EvolinkTaskContext {
  /** Current time, in milliseconds since the epoch. */
  now: number;
  /** `estimated_time` remembered from the create answer, in seconds (queries usually drop it). */
  estimatedTimeSec?: number | undefined;
  /** When the client first saw the task completed, in ms since the epoch (result expiry basis). */
  completedAt?: number | undefined;
  /** Credits remembered from the create answer (queries carry no `usage`). */
  credits?: number | undefined;
}

/** Normalizes an EvoLink task body into a {@link Task}. */
export function fromEvolinkTask(body: EvolinkTask, ctx: EvolinkTaskContext): Task {
  const errorCode = body.error?.code ?? undefined;
  const status = toEvolinkStatus(body.status, errorCode);
  const rawProgress = typeof body.progress === 'number' ? body.progress : 0;
  const progress = status === 'succeeded' ? 100 : Math.max(0, Math.min(100, rawProgress));
  const task: Task = { id: body.id, provider: 'evolink', status, progress, raw: body };

  const estimatedSec = body.task_info?.estimated_time ?? ctx.estimatedTimeSec;
  if ((status === 'queued' || status === 'running') && typeof estimatedSec === 'number' && estimatedSec > 0) {
    task.etaMs = Math.round(estimatedSec * 1000 * (1 - progress / 100));
  }

  const first = body.results?.[0];
  if (status === 'succeeded' && first !== undefined) {
    task.resultUrl = typeof first === 'string' ? first : first.url;
    task.resultExpiresAt = new Date((ctx.completedAt ?? ctx.now) + EVOLINK_RESULT_TTL_MS).toISOString();
  }

  const credits = body.usage?.credits ?? body.usage?.credits_reserved ?? ctx.credits;
  const seconds = body.task_info?.video_duration;
  if (typeof credits === 'number' || (typeof seconds === 'number' && seconds > 0)) {
    task.usage = {};
    if (typeof credits === 'number') task.usage.credits = credits;
    if (typeof seconds === 'number' && seconds > 0) task.usage.videoSeconds = seconds;
  }

  if (status === 'failed' || status === 'canceled') {
    const code =
      errorCode !== undefined
        ? String(errorCode)
        : status === 'canceled'
          ? 'request_cancelled'
          : 'unknown_error';
    task.error = {
      code,
      message: body.error?.message ?? (status === 'canceled' ? 'The task was cancelled' : 'The task failed'),
      retryable: isRetryableTaskCode('evolink', code),
    };
  }
  return task;
}
