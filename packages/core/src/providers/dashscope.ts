import { z } from 'zod';
import { isRetryableTaskCode } from '../provider-errors.js';
import type { LipSyncRequest, Task, TaskStatus } from '../task.js';
import type { ProviderCapabilities } from './capabilities.js';

/** Default DashScope API base (China (Beijing), the only region serving videoretalk). */
export const DASHSCOPE_BASE_URL = 'https://dashscope.aliyuncs.com/api/v1';
/** Result links are valid this long after completion, in milliseconds (24 h). */
export const DASHSCOPE_RESULT_TTL_MS = 24 * 60 * 60 * 1000;
/** Temporary `oss://` uploads live this long, in milliseconds (48 h). */
export const DASHSCOPE_UPLOAD_TTL_MS = 48 * 60 * 60 * 1000;
/**
 * Typical processing time of one videoretalk task once it runs, in milliseconds (default 120 000
 * ms). DashScope reports no progress, so progress and ETA are estimated against this.
 */
export const DEFAULT_DASHSCOPE_TYPICAL_JOB_MS = 120_000;

/** What DashScope can do for videoretalk (docs/providers.md B). */
export const DASHSCOPE_CAPABILITIES: ProviderCapabilities = {
  displayName: 'DashScope (Alibaba)',
  cancel: 'queued',
  taskList: true,
  idempotentSubmit: false,
  callbacks: false,
  upload: { mimeTypes: ['video/*', 'audio/*', 'image/*'], ttlMs: DASHSCOPE_UPLOAD_TTL_MS },
  limits: {
    submitsPerSecond: 1,
    concurrentTasks: 1,
    queriesPerSecond: 20,
    scope: 'account',
    source: 'docs/providers.md B.7',
  },
  resultTtlMs: DASHSCOPE_RESULT_TTL_MS,
};

const CodeSchema = z.union([z.string(), z.number()]);
// The policy table types numbers as strings while its example prints numbers (providers.md B.9).
const NumberLike = z.union([z.number(), z.string()]);

/** A DashScope HTTP error body `{request_id, code, message}` (flat, no `output`). */
export const DashscopeErrorBodySchema = z.looseObject({
  request_id: z.string().nullish(),
  code: CodeSchema.nullish(),
  message: z.string().nullish(),
});
/** See {@link DashscopeErrorBodySchema}. */
export type DashscopeErrorBody = z.infer<typeof DashscopeErrorBodySchema>;

/** The body Retalk sends to `POST …/services/aigc/image2video/video-synthesis/`. */
export const DashscopeCreateBodySchema = z.object({
  model: z.literal('videoretalk'),
  input: z.object({ video_url: z.string(), audio_url: z.string(), ref_image_url: z.string().optional() }),
  parameters: z.object({
    video_extension: z.boolean().optional(),
    query_face_threshold: z.number().int().min(120).max(200).optional(),
  }),
});
/** See {@link DashscopeCreateBodySchema}. */
export type DashscopeCreateBody = z.infer<typeof DashscopeCreateBodySchema>;

/** Output of a task (create answer, query answer). Lenient: any status string, extra keys kept. */
export const DashscopeTaskOutputSchema = z.looseObject({
  task_id: z.string(),
  task_status: z.string(),
  submit_time: z.string().nullish(),
  scheduled_time: z.string().nullish(),
  end_time: z.string().nullish(),
  video_url: z.string().nullish(),
  code: CodeSchema.nullish(),
  message: z.string().nullish(),
});

/** A DashScope task body (create or `GET /tasks/{id}`). */
export const DashscopeTaskSchema = z.looseObject({
  request_id: z.string().nullish(),
  output: DashscopeTaskOutputSchema,
  usage: z
    .looseObject({
      /** Seconds of output video billed. */
      video_duration: z.number().nullish(),
      video_ratio: z.string().nullish(),
      size: z.string().nullish(),
      fps: z.number().nullish(),
    })
    .nullish(),
});
/** See {@link DashscopeTaskSchema}. */
export type DashscopeTask = z.infer<typeof DashscopeTaskSchema>;

/** `GET /uploads?action=getPolicy` answer (temporary OSS upload credential). */
export const DashscopeUploadPolicySchema = z.looseObject({
  request_id: z.string().nullish(),
  data: z.looseObject({
    policy: z.string(),
    signature: z.string(),
    upload_dir: z.string(),
    upload_host: z.string(),
    expire_in_seconds: NumberLike.nullish(),
    max_file_size_mb: NumberLike.nullish(),
    capacity_limit_mb: NumberLike.nullish(),
    oss_access_key_id: z.string(),
    x_oss_object_acl: z.string().nullish(),
    x_oss_forbid_overwrite: z.string().nullish(),
  }),
});
/** See {@link DashscopeUploadPolicySchema}. */
export type DashscopeUploadPolicy = z.infer<typeof DashscopeUploadPolicySchema>;

/** True when a URL is a DashScope temporary-storage URL (needs the OSS resolve header). */
export function isOssUrl(url: string | undefined): boolean {
  return url?.toLowerCase().startsWith('oss://') ?? false;
}

/** Builds the DashScope create body from a validated request. */
export function toDashscopeCreateBody(req: LipSyncRequest): DashscopeCreateBody {
  const body: DashscopeCreateBody = {
    model: 'videoretalk',
    input: { video_url: req.video, audio_url: req.audio },
    parameters: {},
  };
  if (req.refImage !== undefined) body.input.ref_image_url = req.refImage;
  if (req.videoExtension !== undefined) body.parameters.video_extension = req.videoExtension;
  if (req.faceThreshold !== undefined) body.parameters.query_face_threshold = req.faceThreshold;
  return body;
}

/**
 * DashScope status → Retalk status. `UNKNOWN` means the task is gone (expired after ~24 h or never
 * existed); anything unlisted (e.g. `SUSPENDED`, a future state) keeps polling as `running`.
 */
export function toDashscopeStatus(status: string): TaskStatus {
  switch (status) {
    case 'PENDING':
      return 'queued';
    case 'SUCCEEDED':
      return 'succeeded';
    case 'FAILED':
      return 'failed';
    case 'CANCELED':
      return 'canceled';
    case 'UNKNOWN':
      return 'expired';
    default:
      return 'running';
  }
}

/**
 * Estimated progress (0–100) of a DashScope task, which reports none: queued 0, then linear from
 * 10 to 85 over `typicalJobMs` of running, then creeping towards 95; `POST-PROCESSING` at least 90.
 */
export function estimateDashscopeProgress(
  status: string,
  runningForMs: number,
  typicalJobMs: number,
): number {
  const mapped = toDashscopeStatus(status);
  if (mapped === 'succeeded') return 100;
  if (mapped === 'queued' || mapped !== 'running') return 0;
  const fraction = Math.max(0, runningForMs) / Math.max(1, typicalJobMs);
  const p = fraction <= 1 ? 10 + 75 * fraction : 85 + 10 * (1 - Math.exp(-(fraction - 1)));
  return Math.round(Math.min(95, status === 'POST-PROCESSING' ? Math.max(90, p) : p));
}

/** Reads `Expires=<unix seconds>` from a signed OSS URL, as an epoch in milliseconds. */
export function signedUrlExpiresAt(url: string): number | undefined {
  const match = /[?&]Expires=(\d{9,11})(?:&|$)/.exec(url);
  return match ? Number(match[1]) * 1000 : undefined;
}

/**
 * Parses a DashScope time `YYYY-MM-DD HH:mm:ss.SSS`, which carries no zone; Beijing time (UTC+8)
 * is assumed (providers.md B.3).
 */
export function parseDashscopeTime(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/.exec(value.trim());
  if (!m) return undefined;
  const at = Date.parse(`${m[1]}T${m[2]}+08:00`);
  return Number.isNaN(at) ? undefined : at;
}

/** Context for {@link fromDashscopeTask}. */
export interface DashscopeTaskContext {
  /** Current time, in milliseconds since the epoch. */
  now: number;
  /** When the client first saw the task out of PENDING, in ms since the epoch. */
  startedAt?: number | undefined;
  /** Expected running time, in milliseconds. Default {@link DEFAULT_DASHSCOPE_TYPICAL_JOB_MS}. */
  typicalJobMs?: number | undefined;
}

/** Normalizes a DashScope task body into a {@link Task}. */
export function fromDashscopeTask(body: DashscopeTask, ctx: DashscopeTaskContext): Task {
  const out = body.output;
  const status = toDashscopeStatus(out.task_status);
  const typical = ctx.typicalJobMs ?? DEFAULT_DASHSCOPE_TYPICAL_JOB_MS;
  const runningFor = ctx.startedAt === undefined ? 0 : ctx.now - ctx.startedAt;
  const progress = estimateDashscopeProgress(out.task_status, runningFor, typical);
  const task: Task = { id: out.task_id, provider: 'dashscope', status, progress, raw: body };

  if (status === 'queued') task.etaMs = typical;
  if (status === 'running') task.etaMs = Math.max(0, Math.round(typical * (1 - progress / 100)));

  if (status === 'succeeded' && out.video_url) {
    task.resultUrl = out.video_url;
    const expires =
      signedUrlExpiresAt(out.video_url) ??
      (parseDashscopeTime(out.end_time) ?? ctx.now) + DASHSCOPE_RESULT_TTL_MS;
    task.resultExpiresAt = new Date(expires).toISOString();
  }
  const seconds = body.usage?.video_duration;
  if (typeof seconds === 'number') task.usage = { videoSeconds: seconds };

  if (status === 'failed') {
    const code = out.code == null ? 'InternalError' : String(out.code);
    task.error = {
      code,
      message: out.message ?? 'The task failed',
      retryable: isRetryableTaskCode('dashscope', code),
    };
  } else if (status === 'canceled') {
    task.error = { code: 'CANCELED', message: 'The task was canceled before it started', retryable: false };
  } else if (status === 'expired') {
    task.error = {
      code: 'UNKNOWN',
      message: 'DashScope no longer knows this task (tasks are kept about 24 h after they end)',
      retryable: false,
    };
  }
  return task;
}
