import { z } from 'zod';
import {
  InvalidRequestError,
  NotSupportedError,
  QuotaError,
  ResponseValidationError,
  type RetalkError,
} from '../errors.js';
import { DEFAULT_POLL_SCHEDULE, type PollSchedule } from '../poll.js';
import { isRetryableTaskCode } from '../provider-errors.js';
import type { LipSyncRequest, Task, TaskStatus } from '../task.js';
import type { ErrorDetails } from '../transport.js';
import type { AdapterOptions, ProviderAdapter, TaskSummary, UploadedFile } from './adapter.js';
import { checkBaseUrl } from './base-url.js';
import { EVOLINK_CAPABILITIES, type ProviderCapabilities } from './capabilities.js';
import { safeFilename } from './file-name.js';

/** Default EvoLink API origin. */
export const EVOLINK_BASE_URL = 'https://api.evolink.ai';
/** Default EvoLink files-API origin. */
export const EVOLINK_FILES_BASE_URL = 'https://files-api.evolink.ai';
/** EvoLink result links stay valid this long after completion, in milliseconds (24 h). */
export const EVOLINK_RESULT_TTL_MS = EVOLINK_CAPABILITIES.resultTtlMs;

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
      /** What the task was charged once finished (EvoLink's MCP reads it first, audit row 9). */
      credits_used: z.number().nullish(),
      cost: z.looseObject({ credits: z.number().nullish() }).nullish(),
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

  // The charge once known (credits_used, or cost.credits); until then the reservation made at
  // create. A failed or canceled task is refunded, so without a charge it reports none (row 9).
  const charged = body.usage?.credits_used ?? body.usage?.cost?.credits ?? body.usage?.credits ?? undefined;
  const reserved = body.usage?.credits_reserved ?? ctx.credits;
  const refunded = status === 'failed' || status === 'canceled' || status === 'expired';
  const credits = charged ?? (refunded ? undefined : reserved);
  const seconds = body.task_info?.video_duration;
  if (
    typeof credits === 'number' ||
    typeof reserved === 'number' ||
    (typeof seconds === 'number' && seconds > 0)
  ) {
    task.usage = {};
    if (typeof credits === 'number') task.usage.credits = credits;
    if (typeof reserved === 'number') task.usage.creditsReserved = reserved;
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

/**
 * Reads an EvoLink callback body (the task-query body, POSTed to `callback_url`) into a task,
 * or throws `response_validation` naming the field.
 */
export function readEvolinkCallback(body: unknown, now: number): Task {
  const parsed = EvolinkTaskSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ResponseValidationError(
      `The EvoLink callback body is not a task (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'unreadable'})`,
      { provider: 'evolink', cause: parsed.error },
    );
  }
  return fromEvolinkTask(parsed.data, { now, completedAt: now });
}

/** The files-API envelope of an error `{success:false, code, msg}` or a top-level `{code, message}`. */
const EvolinkLooseErrorSchema = z.looseObject({
  code: ErrorCodeSchema.nullish(),
  msg: z.string().nullish(),
  message: z.string().nullish(),
});

/**
 * Reads every EvoLink error body form: `{error:{code,message,type,param}}` (string or numeric
 * code), the files API's `{success:false, code, msg}`, and a bare `{code, message}`.
 */
export function readEvolinkError(body: unknown): ErrorDetails {
  const parsed = EvolinkErrorBodySchema.safeParse(body);
  if (parsed.success) {
    const e = parsed.data.error;
    return { code: e.code ?? undefined, message: e.message ?? undefined, param: e.param ?? undefined };
  }
  const loose = EvolinkLooseErrorSchema.safeParse(body);
  if (loose.success && (loose.data.msg || loose.data.message || loose.data.code != null)) {
    const message = loose.data.msg ?? loose.data.message ?? undefined;
    // The files envelope's code is the HTTP status; a used-up file quota is told only by the message.
    const code = message && /quota/i.test(message) ? 'quota_exceeded' : (loose.data.code ?? undefined);
    return { code, message };
  }
  return {};
}

/** A row of `GET /v1/tasks` (EvoLink's MCP client; not in the public docs, audit §4.7). */
export const EvolinkTaskListSchema = z.looseObject({
  data: z
    .array(
      z.looseObject({
        id: z.string(),
        model: z.string().nullish(),
        status: z.string().nullish(),
        /** Unix seconds [inferred from the `created` field of tasks]. */
        created_at: z.number().nullish(),
        created: z.number().nullish(),
      }),
    )
    .nullish(),
  total: z.number().nullish(),
  page: z.number().nullish(),
  page_size: z.number().nullish(),
});
/** See {@link EvolinkTaskListSchema}. */
export type EvolinkTaskList = z.infer<typeof EvolinkTaskListSchema>;

/**
 * Default cadence on EvoLink: the generic quick start, capped at 8 000 ms, because every read of an
 * unfinished task makes EvoLink's gateway ask the upstream provider (EvoLink's MCP polls video
 * every 8 s, audit §4.1).
 */
export const EVOLINK_POLL_SCHEDULE: PollSchedule = { ...DEFAULT_POLL_SCHEDULE, maxIntervalMs: 8_000 };

const LIST_PAGE_SIZE = 50;
const LIST_MAX_PAGES = 10;

/** Options of {@link createEvolinkAdapter}. */
export interface EvolinkAdapterOptions extends AdapterOptions {
  /** Files-API origin. Default `https://files-api.evolink.ai`, or `baseUrl` when only that was overridden. */
  filesBaseUrl?: string | undefined;
  /** Also send audio and video to the files API (EvoLink's MCP does; its docs say images only). Default false. */
  uploadMedia?: boolean | undefined;
  /** Retries of a submit (at most {@link EVOLINK_SUBMIT_RETRIES}). */
  submitRetries: number;
}

interface EvolinkMemory {
  estimatedTimeSec?: number;
  credits?: number;
  completedAt?: number;
}

const MEMORY_LIMIT = 1000;

/** The EvoLink adapter: flat create body, `task-unified-…` ids, idempotent submits, files API. */
export function createEvolinkAdapter(options: EvolinkAdapterOptions): ProviderAdapter {
  const { io } = options;
  const baseUrl =
    options.baseUrl === undefined
      ? EVOLINK_BASE_URL
      : checkBaseUrl(options.baseUrl, 'baseUrl').replace(/\/v1$/, '');
  const filesBaseUrl =
    options.filesBaseUrl !== undefined
      ? checkBaseUrl(options.filesBaseUrl, 'filesBaseUrl')
      : options.baseUrl !== undefined
        ? baseUrl
        : EVOLINK_FILES_BASE_URL;
  const capabilities: ProviderCapabilities = options.uploadMedia
    ? {
        ...EVOLINK_CAPABILITIES,
        upload: {
          ...EVOLINK_CAPABILITIES.upload,
          mimeTypes: [...EVOLINK_CAPABILITIES.upload.mimeTypes, 'audio/*', 'video/*'],
        },
      }
    : EVOLINK_CAPABILITIES;
  const memory = new Map<string, EvolinkMemory>();
  const remember = (id: string, patch: EvolinkMemory) => {
    const entry = memory.get(id) ?? {};
    memory.delete(id);
    memory.set(id, { ...entry, ...patch });
    if (memory.size > MEMORY_LIMIT) memory.delete(memory.keys().next().value as string);
  };

  // Create answers carry estimated_time and the credits reserved; queries drop both, so they are
  // remembered per task, with when it was first seen completed (the result link's 24 h start).
  const toTask = (body: unknown, action: string): Task => {
    const now = io.clock.now();
    const parsed = io.parse(EvolinkTaskSchema, body, action);
    const seen = memory.get(parsed.id) ?? {};
    const patch: EvolinkMemory = {};
    if (typeof parsed.task_info?.estimated_time === 'number')
      patch.estimatedTimeSec = parsed.task_info.estimated_time;
    const credits = parsed.usage?.credits_reserved;
    if (typeof credits === 'number') patch.credits = credits;
    if (parsed.status === 'completed' && seen.completedAt === undefined) patch.completedAt = now;
    if (Object.keys(patch).length > 0) remember(parsed.id, patch);
    const mem = memory.get(parsed.id) ?? {};
    return fromEvolinkTask(parsed, {
      now,
      estimatedTimeSec: seen.estimatedTimeSec,
      completedAt: mem.completedAt,
      credits: mem.credits,
    });
  };

  return {
    provider: 'evolink',
    capabilities,
    baseUrl,
    pollSchedule: EVOLINK_POLL_SCHEDULE,
    readError: readEvolinkError,

    async submit(req, o) {
      const oss = (['video', 'audio', 'refImage'] as const).find((f) =>
        req[f]?.toLowerCase().startsWith('oss://'),
      );
      if (oss) {
        throw new InvalidRequestError(
          `${oss}: oss:// URLs work only with DashScope; use client.uploadFile() on EvoLink`,
          {
            field: oss,
            allowed: 'a public http(s) URL',
          },
        );
      }
      const key = o.idempotencyKey ?? newIdempotencyKey();
      const res = await io.call({
        method: 'POST',
        url: `${baseUrl}/v1/videos/generations`,
        kind: 'write',
        action: 'submit',
        headers: { ...io.headers(), 'content-type': 'application/json', ...evolinkIdempotencyHeaders(key) },
        body: () => JSON.stringify(toEvolinkCreateBody(req)),
        signal: o.signal,
        retries: Math.min(EVOLINK_SUBMIT_RETRIES, options.submitRetries),
        retryOn: isEvolinkSubmitRetryable,
      });
      return toTask(res.body, 'submit');
    },

    async get(taskId, o) {
      const action = `query task ${taskId}`;
      const res = await io.call({
        method: 'GET',
        url: `${baseUrl}/v1/tasks/${encodeURIComponent(taskId)}`,
        kind: 'read',
        action,
        headers: io.headers(),
        signal: o.signal,
      });
      return toTask(res.body, action);
    },

    async cancel() {
      throw new NotSupportedError(
        'EvoLink has no cancel API for videoretalk (task_info.can_cancel is false); let the task finish or ignore it',
        { provider: 'evolink' },
      );
    },

    async upload(blob, o) {
      const res = await io.call({
        method: 'POST',
        url: `${filesBaseUrl}/api/v1/files/upload/stream`,
        kind: 'write',
        action: `upload ${o.filename}`,
        headers: io.headers(),
        body: () => {
          const form = new FormData();
          form.append('file_name', safeFilename(o.filename));
          form.append('file', blob, o.filename);
          return form;
        },
        signal: o.signal,
      });
      const body = io.parse(EvolinkFileUploadResponseSchema, res.body, 'upload');
      if (!body.success || !body.data) {
        const text = `EvoLink refused the upload of ${o.filename}: ${body.msg ?? 'no reason given'}`;
        const providerCode = body.code == null ? undefined : String(body.code);
        if (/quota|limit|exceed/i.test(body.msg ?? '') || body.code === 402) {
          throw new QuotaError(`${text}. Delete old files or wait for them to expire (72 h).`, {
            provider: 'evolink',
            providerCode,
          });
        }
        throw new InvalidRequestError(`${text}.`, { provider: 'evolink', field: 'data', providerCode });
      }
      const out: UploadedFile = { url: body.data.file_url };
      const expires = body.data.expires_at ? Date.parse(body.data.expires_at) : Number.NaN;
      if (!Number.isNaN(expires)) out.expiresAt = new Date(expires).toISOString();
      return out;
    },

    // GET /v1/tasks, newest first (EvoLink's MCP client, audit §4.7): reads pages until the rows
    // are older than `sinceMs`.
    async listTasks(o) {
      const out: TaskSummary[] = [];
      for (let page = 1; page <= LIST_MAX_PAGES; page++) {
        const query = new URLSearchParams({
          model: 'videoretalk',
          page: String(page),
          page_size: String(LIST_PAGE_SIZE),
        });
        const res = await io.call({
          method: 'GET',
          url: `${baseUrl}/v1/tasks?${query}`,
          kind: 'read',
          action: 'list tasks',
          headers: io.headers(),
          signal: o.signal,
        });
        const rows = io.parse(EvolinkTaskListSchema, res.body, 'list tasks').data ?? [];
        let older = false;
        for (const row of rows) {
          const seconds = row.created_at ?? row.created;
          const createdAt = typeof seconds === 'number' ? seconds * 1000 : 0;
          if (createdAt !== 0 && createdAt < o.sinceMs) older = true;
          else out.push({ id: row.id, createdAt });
        }
        if (older || rows.length < LIST_PAGE_SIZE) break;
      }
      return out;
    },

    readCallback: readEvolinkCallback,

    // EvoLink tells how long the task should take: no point polling much faster than a quarter of
    // what is left.
    pollFloorMs: (task) => (task.etaMs === undefined ? undefined : Math.round(task.etaMs / 4)),
  };
}
