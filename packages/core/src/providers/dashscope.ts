import { z } from 'zod';
import { InvalidRequestError } from '../errors.js';
import { DEFAULT_POLL_SCHEDULE, type PollSchedule } from '../poll.js';
import { isRetryableTaskCode } from '../provider-errors.js';
import type { AccountPacing } from '../rate-limiter.js';
import type { LipSyncRequest, Task, TaskStatus } from '../task.js';
import type { ErrorDetails } from '../transport.js';
import type { AdapterOptions, ProviderAdapter, TaskSummary } from './adapter.js';
import { checkBaseUrl } from './base-url.js';
import { DASHSCOPE_CAPABILITIES } from './capabilities.js';
import { safeFilename } from './file-name.js';

/** Default DashScope API base (China (Beijing), the only region serving videoretalk). */
export const DASHSCOPE_BASE_URL = 'https://dashscope.aliyuncs.com/api/v1';
/** Result links are valid this long after completion, in milliseconds (24 h). */
export const DASHSCOPE_RESULT_TTL_MS = DASHSCOPE_CAPABILITIES.resultTtlMs;
/** Temporary `oss://` uploads live this long, in milliseconds (48 h). */
export const DASHSCOPE_UPLOAD_TTL_MS = DASHSCOPE_CAPABILITIES.upload.ttlMs;
/**
 * Typical processing time of one videoretalk task once it runs, in milliseconds (default 120 000
 * ms). DashScope reports no progress, so progress and ETA are estimated against this.
 */
export const DEFAULT_DASHSCOPE_TYPICAL_JOB_MS = 120_000;

const CodeSchema = z.union([z.string(), z.number()]);
// The policy table types numbers as strings while its example prints numbers (providers.md B.9).
const NumberLike = z.union([z.number(), z.string()]);

const ErrorFieldsSchema = z.looseObject({
  request_id: z.string().nullish(),
  code: CodeSchema.nullish(),
  message: z.string().nullish(),
  msg: z.string().nullish(),
});

/**
 * A DashScope HTTP error body: flat `{request_id, code, message}` (the documented form), with
 * `msg` for `message`, or the same fields inside an `error` envelope (both seen, audit row 14).
 */
export const DashscopeErrorBodySchema = z.looseObject({
  ...ErrorFieldsSchema.shape,
  error: z.union([ErrorFieldsSchema, z.string()]).nullish(),
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

/**
 * Builds the DashScope create body from a validated request. `parameters` always carries
 * `video_extension`, as the official samples do: an empty `parameters` may count as the
 * `BadRequest.EmptyParameters` the error page lists (audit row 18).
 */
export function toDashscopeCreateBody(req: LipSyncRequest): DashscopeCreateBody {
  const body: DashscopeCreateBody = {
    model: 'videoretalk',
    input: { video_url: req.video, audio_url: req.audio },
    parameters: { video_extension: req.videoExtension ?? false },
  };
  if (req.refImage !== undefined) body.input.ref_image_url = req.refImage;
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

/**
 * Reads every DashScope error body form (audit row 14): the flat `{request_id, code, message}`,
 * an `{error:{code,message}}` envelope, `msg` for `message` (the Python SDK reads both), and the
 * OSS upload host's XML `<Error><Code>…</Code><Message>…</Message></Error>`.
 */
export function readDashscopeError(body: unknown): ErrorDetails {
  if (typeof body === 'string') {
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
    return { code, message };
  }
  const parsed = DashscopeErrorBodySchema.safeParse(body);
  if (!parsed.success) return {};
  const nested = parsed.data.error && typeof parsed.data.error === 'object' ? parsed.data.error : undefined;
  const code = parsed.data.code ?? nested?.code ?? undefined;
  return {
    code: typeof code === 'string' ? normalizeDashscopeCode(code) : code,
    message: parsed.data.message ?? parsed.data.msg ?? nested?.message ?? nested?.msg ?? undefined,
    requestId: parsed.data.request_id ?? nested?.request_id ?? undefined,
  };
}

// The error page pairs each code with a snake_case alias ("401-InvalidApiKey/invalid_api_key"),
// and both forms come back (audit row 14): one table entry serves both.
const SNAKE_ALIASES: Record<string, string> = {
  invalid_api_key: 'InvalidApiKey',
  access_denied: 'AccessDenied',
  model_not_found: 'ModelNotFound',
  data_inspection_failed: 'DataInspectionFailed',
  invalid_parameter: 'InvalidParameter',
  throttling: 'Throttling',
  internal_error: 'InternalError',
};

/** The table spelling of a DashScope code (`invalid_api_key` → `InvalidApiKey`); others unchanged. */
export function normalizeDashscopeCode(code: string): string {
  return SNAKE_ALIASES[code] ?? code;
}

/** `GET {base}/tasks` answer (general async-task API, docs/providers.md B.4). */
export const DashscopeTaskListSchema = z.looseObject({
  request_id: z.string().nullish(),
  data: z
    .array(
      z.looseObject({
        task_id: z.string(),
        status: z.string().nullish(),
        /** Epoch ms. */
        gmt_create: z.number().nullish(),
      }),
    )
    .nullish(),
  total: z.number().nullish(),
  total_page: z.number().nullish(),
  page_no: z.number().nullish(),
  page_size: z.number().nullish(),
});
/** See {@link DashscopeTaskListSchema}. */
export type DashscopeTaskList = z.infer<typeof DashscopeTaskListSchema>;

/**
 * Default cadence on DashScope: the generic quick start (input problems fail fast), then backing off
 * to the 15 000 ms the Qwen platform's videoretalk page recommends (audit §4.1).
 */
export const DASHSCOPE_POLL_SCHEDULE: PollSchedule = { ...DEFAULT_POLL_SCHEDULE, maxIntervalMs: 15_000 };

/** Beijing time `YYYYMMDDhhmmss`, the format of the task list's time filters (docs/providers.md B.4). */
export function toDashscopeCompactTime(ms: number): string {
  const d = new Date(ms + 8 * 3_600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Options of {@link createDashscopeAdapter}. */
export interface DashscopeAdapterOptions extends AdapterOptions {
  /** The account's pacing of submits and of queries (get, cancel, list share them). */
  pacing: AccountPacing;
  /** Expected running time of a task, in ms, for estimated progress. */
  typicalJobMs?: number | undefined;
  /** `X-DashScope-WorkSpace` sub-workspace id. */
  workspace?: string | undefined;
}

const LIST_PAGE_SIZE = 100;
const LIST_MAX_PAGES = 10;
const LIST_MAX_WINDOW_MS = 24 * 3_600_000;
const MEMORY_LIMIT = 1000;

/** The DashScope adapter: `input`/`parameters` body, async header, paced submits and queries, `oss://` uploads. */
export function createDashscopeAdapter(options: DashscopeAdapterOptions): ProviderAdapter {
  const { io } = options;
  let baseUrl = DASHSCOPE_BASE_URL;
  if (options.baseUrl !== undefined) {
    const url = checkBaseUrl(options.baseUrl, 'baseUrl');
    // A bare origin (a proxy or the simulator) gets the native `/api/v1`; reseller prefixes stay.
    baseUrl = new URL(url).pathname.replace(/\/+$/, '') === '' ? `${url}/api/v1` : url;
  }
  const clock = io.clock;
  // Every query (get, cancel, list) passes one bucket, every submit another; both per account.
  const { queries, submits } = options.pacing;
  const paceQueries = queries ? (signal: AbortSignal | undefined) => queries.take(signal) : undefined;
  const startedAt = new Map<string, number>();

  const headers = (): Record<string, string> => {
    const h = io.headers();
    if (options.workspace) h['x-dashscope-workspace'] = options.workspace;
    return h;
  };

  const toTask = (body: unknown, action: string): Task => {
    const now = clock.now();
    const parsed = io.parse(DashscopeTaskSchema, body, action);
    const id = parsed.output.task_id;
    if (parsed.output.task_status !== 'PENDING' && !startedAt.has(id)) {
      // A task first seen mid-run (e.g. after a restart) starts from its scheduled_time when that
      // is plausible, so its estimated progress does not fall back to the start.
      const scheduled = parseDashscopeTime(parsed.output.scheduled_time);
      const plausible = scheduled !== undefined && scheduled <= now && now - scheduled < 6 * 3600_000;
      startedAt.set(id, plausible ? scheduled : now);
      if (startedAt.size > MEMORY_LIMIT) startedAt.delete(startedAt.keys().next().value as string);
    }
    return fromDashscopeTask(parsed, {
      now,
      startedAt: startedAt.get(id),
      typicalJobMs: options.typicalJobMs,
    });
  };

  const get = async (taskId: string, signal: AbortSignal | undefined): Promise<Task> => {
    const action = `query task ${taskId}`;
    const res = await io.call({
      method: 'GET',
      url: `${baseUrl}/tasks/${encodeURIComponent(taskId)}`,
      kind: 'read',
      action,
      headers: headers(),
      signal,
      pace: paceQueries,
    });
    return toTask(res.body, action);
  };

  return {
    provider: 'dashscope',
    capabilities: DASHSCOPE_CAPABILITIES,
    baseUrl,
    pollSchedule: DASHSCOPE_POLL_SCHEDULE,
    readError: readDashscopeError,

    async submit(req, o) {
      if (req.callbackUrl !== undefined) {
        throw new InvalidRequestError(
          'callbackUrl: DashScope takes no per-task callback URL (its completion notices are set up account-wide in EventBridge); drop it and use wait()/watch()',
          { field: 'callbackUrl', allowed: 'nothing on DashScope (EvoLink only)' },
        );
      }
      const h: Record<string, string> = {
        ...headers(),
        'content-type': 'application/json',
        'x-dashscope-async': 'enable',
      };
      if ([req.video, req.audio, req.refImage].some(isOssUrl)) h['x-dashscope-ossresourceresolve'] = 'enable';
      const res = await io.call({
        method: 'POST',
        url: `${baseUrl}/services/aigc/image2video/video-synthesis/`,
        kind: 'write',
        action: 'submit',
        headers: h,
        body: () => JSON.stringify(toDashscopeCreateBody(req)),
        signal: o.signal,
        pace: submits ? (signal) => submits.take(signal) : undefined,
      });
      return toTask(res.body, 'submit');
    },

    get: (taskId, o) => get(taskId, o.signal),

    async cancel(taskId, o) {
      await io.call({
        method: 'POST',
        url: `${baseUrl}/tasks/${encodeURIComponent(taskId)}/cancel`,
        kind: 'read',
        action: `cancel task ${taskId}`,
        headers: headers(),
        signal: o.signal,
        pace: paceQueries,
      });
    },

    async upload(blob, o) {
      const res = await io.call({
        method: 'GET',
        url: `${baseUrl}/uploads?action=getPolicy&model=videoretalk`,
        kind: 'read',
        action: 'get upload policy',
        headers: headers(),
        signal: o.signal,
      });
      const policy = io.parse(DashscopeUploadPolicySchema, res.body, 'get upload policy').data;
      const maxMb = Number(policy.max_file_size_mb);
      if (Number.isFinite(maxMb) && maxMb > 0 && blob.size > maxMb * 1024 * 1024) {
        throw new InvalidRequestError(
          `${o.filename} is ${(blob.size / 1048576).toFixed(1)} MB; DashScope accepts at most ${maxMb} MB`,
          { field: 'data', allowed: `at most ${maxMb} MB` },
        );
      }
      const key = `${policy.upload_dir.replace(/\/+$/, '')}/${safeFilename(o.filename)}`;
      await io.call({
        method: 'POST',
        url: policy.upload_host,
        kind: 'write',
        action: `upload ${o.filename}`,
        body: () => {
          const form = new FormData();
          form.append('OSSAccessKeyId', policy.oss_access_key_id);
          form.append('Signature', policy.signature);
          form.append('policy', policy.policy);
          form.append('key', key);
          form.append('x-oss-object-acl', policy.x_oss_object_acl ?? 'private');
          form.append('x-oss-forbid-overwrite', policy.x_oss_forbid_overwrite ?? 'true');
          form.append('success_action_status', '200');
          form.append('x-oss-content-type', o.contentType);
          // OSS PostObject requires the file to be the last field.
          form.append('file', blob, o.filename);
          return form;
        },
        signal: o.signal,
      });
      return {
        url: `oss://${key}`,
        expiresAt: new Date(clock.now() + DASHSCOPE_UPLOAD_TTL_MS).toISOString(),
      };
    },

    async listTasks(o) {
      const out: TaskSummary[] = [];
      // The list takes at most 24 h between start_time and end_time (audit row 19), and tasks are
      // kept about 24 h anyway.
      const end = clock.now() + 60_000;
      const start = Math.max(o.sinceMs, end - LIST_MAX_WINDOW_MS);
      for (let page = 1; page <= LIST_MAX_PAGES; page++) {
        const query = new URLSearchParams({
          model_name: 'videoretalk',
          start_time: toDashscopeCompactTime(start),
          end_time: toDashscopeCompactTime(end),
          page_no: String(page),
          page_size: String(LIST_PAGE_SIZE),
        });
        const res = await io.call({
          method: 'GET',
          url: `${baseUrl}/tasks?${query}`,
          kind: 'read',
          action: 'list tasks',
          headers: headers(),
          signal: o.signal,
          pace: paceQueries,
        });
        const body = io.parse(DashscopeTaskListSchema, res.body, 'list tasks');
        for (const row of body.data ?? []) {
          const createdAt = row.gmt_create ?? 0;
          if (!createdAt || createdAt >= o.sinceMs) out.push({ id: row.task_id, createdAt });
        }
        if (!body.total_page || page >= body.total_page) break;
      }
      return out;
    },

    readCallback() {
      throw new InvalidRequestError(
        'DashScope sends no per-task callbacks (its EventBridge notices are configured account-wide)',
        { field: 'provider', allowed: 'a provider whose capabilities.callbacks is true' },
      );
    },

    pollFloorMs: () => undefined,
  };
}
