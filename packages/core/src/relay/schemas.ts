import * as z from 'zod/mini';
import { JOB_STATUSES, type JobStatus, PROVIDERS, type Provider } from '../status.js';

/**
 * The relay's HTTP contract. The relay (apps/relay) validates requests with these schemas and the
 * extension parses responses with them, so the two can never drift apart. Change only additively.
 *
 * Written with `zod/mini` so a page that only talks to a relay does not bundle full zod (≈30 KB
 * gzip). Mini schemas produce the same issues (code, path, expected, bounds) as classic ones; the
 * relay turns those into its field-level error messages.
 */

/** The upstream provider a relay forwards to. `simulator` never appears here: it speaks one of the two. */
export const RelayProviderSchema = z.enum(PROVIDERS);
export type RelayProvider = Provider;

/** Budget periods: a member's allowance of output seconds resets at the start of each period (UTC). */
export const BudgetPeriodSchema = z.enum(['day', 'month']);
export type BudgetPeriod = z.infer<typeof BudgetPeriodSchema>;

/** A member's budget in seconds of output video for the current period. */
export const BudgetSchema = z.object({
  /** `null` when the member has no budget limit. */
  period: z.nullable(BudgetPeriodSchema),
  /** Seconds allowed per period; `null` = unlimited. */
  limitSeconds: z.nullable(z.number().check(z.nonnegative())),
  /** Seconds settled (billed) in the current period. */
  usedSeconds: z.number().check(z.nonnegative()),
  /** Seconds reserved by jobs that are still running. */
  reservedSeconds: z.number().check(z.nonnegative()),
  /** `limitSeconds - usedSeconds - reservedSeconds`, floored at 0; `null` = unlimited. */
  remainingSeconds: z.nullable(z.number().check(z.nonnegative())),
  /** ISO time the current period started / ends; absent when there is no period. */
  periodStart: z.optional(z.string()),
  resetsAt: z.optional(z.string()),
});
export type Budget = z.infer<typeof BudgetSchema>;

export const MemberSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  /** Jobs this member may have in flight at once; `null` = the relay's default applies without limit. */
  maxConcurrentJobs: z.nullable(z.number().check(z.int(), z.positive())),
  revokedAt: z.optional(z.string()),
});
export type Member = z.infer<typeof MemberSchema>;

/** Limits of one media kind in force at the relay (mirrors core's MEDIA_LIMITS for the provider). */
export const MediaKindLimitsSchema = z.catchall(
  z.object({
    minDurationSec: z.optional(z.number()),
    maxDurationSec: z.optional(z.number()),
    maxSizeBytes: z.optional(z.number()),
    minFps: z.optional(z.number()),
    maxFps: z.optional(z.number()),
    minSidePx: z.optional(z.number()),
    maxSidePx: z.optional(z.number()),
    formats: z.optional(z.array(z.string())),
  }),
  z.unknown(),
);
export type MediaKindLimits = z.infer<typeof MediaKindLimitsSchema>;

/** `GET /v1/me` */
export const MeSchema = z.object({
  member: MemberSchema,
  budget: BudgetSchema,
  /** The provider of the relay's first upstream; a pool may mix providers (see `providers`). */
  provider: RelayProviderSchema,
  /**
   * Every provider of the relay's upstream pool, the first upstream's first. Jobs may run on any of
   * them; `limits` are the ones all of them accept. Absent on relays before mixed pools.
   */
  providers: z.optional(z.array(RelayProviderSchema)),
  /** True when the relay runs against its built-in simulator (no real provider key configured). */
  simulator: z.boolean(),
  /** Jobs of this member that are not terminal yet. */
  activeJobs: z.number().check(z.int(), z.nonnegative()),
  /**
   * Media limits in force, per kind (with several providers, the strictest of each: what every one
   * accepts); the relay refuses input outside them before anything is spent.
   */
  limits: z.object({
    video: MediaKindLimitsSchema,
    audio: MediaKindLimitsSchema,
    image: MediaKindLimitsSchema,
  }),
  /** Largest upload body the relay accepts per kind, in bytes. */
  uploadMaxBytes: z.object({ video: z.number(), audio: z.number(), image: z.number() }),
  /**
   * This member's uploads kept now (not yet expired) against their quota; an upload past either
   * limit is refused with `storage_quota_exceeded`. Absent on relays without quotas.
   */
  storage: z.optional(
    z.object({
      usedBytes: z.number().check(z.nonnegative()),
      limitBytes: z.number().check(z.nonnegative()),
      uploads: z.number().check(z.int(), z.nonnegative()),
      maxUploads: z.number().check(z.int(), z.nonnegative()),
    }),
  ),
  /**
   * Whether a provider of the relay can cancel a job (DashScope only while queued; EvoLink never);
   * with several providers, whether one can (each job's own `canCancel` says it for that job).
   */
  canCancel: z.boolean(),
  relayVersion: z.string(),
});
export type Me = z.infer<typeof MeSchema>;

/**
 * A connect link (`POST /v1/me/connect-links`, `POST /admin/members/:name/connect-links`): opened
 * in a browser with the extension, it connects that browser as the member, once, before `expiresAt`.
 * The code is in the URL's fragment (`/connect#code=rtc_…`), which browsers never send to servers.
 */
export const ConnectLinkSchema = z.object({
  url: z.string(),
  expiresAt: z.string(),
});
export type ConnectLink = z.infer<typeof ConnectLinkSchema>;

/** The single-use code of a connect link: `rtc_` and 32 URL-safe characters. */
export const CONNECT_CODE_PATTERN = /^rtc_[A-Za-z0-9_-]{32}$/;

/** `POST /v1/connect` (no token): trades a connect link's code for a token of this browser's own. */
export const ClaimConnectLinkRequestSchema = z.strictObject({
  code: z
    .string()
    .check(z.regex(CONNECT_CODE_PATTERN, { error: 'code must be the rtc_… code from a connect link' })),
});

/** The answer to `POST /v1/connect`. */
export const ConnectClaimSchema = z.object({
  /** A member token for this browser only (`rtk_…`); the member's other browsers keep theirs. */
  token: z.string(),
  member: z.object({ id: z.string(), name: z.string() }),
});
export type ConnectClaim = z.infer<typeof ConnectClaimSchema>;

export const MediaKindSchema = z.enum(['video', 'audio', 'image']);
export type MediaKind = z.infer<typeof MediaKindSchema>;

/** What the relay's probe found in an uploaded file (same fields as core's MediaMeta). */
export const UploadMediaSchema = z.catchall(
  z.object({
    kind: MediaKindSchema,
    durationSec: z.optional(z.number()),
    sizeBytes: z.optional(z.number()),
    width: z.optional(z.number()),
    height: z.optional(z.number()),
    fps: z.optional(z.number()),
    format: z.optional(z.string()),
    codec: z.optional(z.string()),
  }),
  z.unknown(),
);
export type UploadMedia = z.infer<typeof UploadMediaSchema>;

/** `PUT /v1/uploads?kind=&filename=` → 201 */
export const UploadSchema = z.object({
  id: z.string(),
  kind: MediaKindSchema,
  filename: z.string(),
  sizeBytes: z.number().check(z.int(), z.nonnegative()),
  sha256: z.string(),
  contentType: z.string(),
  media: UploadMediaSchema,
  createdAt: z.string(),
  /** After this ISO time the upload can no longer be used in a new job. */
  expiresAt: z.string(),
});
export type Upload = z.infer<typeof UploadSchema>;

/** Maximum length of a URL given as a job input. */
export const MAX_INPUT_URL_LENGTH = 2048;

/** Longest source position a clip bound may name, in seconds (24 h: beyond any real recording). */
export const MAX_CLIP_SEC = 86_400;

const clipBound = () => z.optional(z.number().check(z.nonnegative(), z.maximum(MAX_CLIP_SEC)));

/**
 * A job input: a public http(s) URL or an upload made to this relay, and for video and audio an
 * optional clip of it (`startSec`/`endSec`, seconds into the source; the relay cuts that part
 * before anything is spent). A reference image takes no clip.
 */
export const JobInputSchema = z
  .strictObject({
    url: z.optional(z.string().check(z.maxLength(MAX_INPUT_URL_LENGTH))),
    uploadId: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
    /** Where the clip starts in the source, in seconds (default 0). */
    startSec: clipBound(),
    /** Where the clip ends in the source, in seconds (default: the end of the source). */
    endSec: clipBound(),
    /**
     * Where this file starts in the original the member chose the clip from, in seconds (a piece
     * the browser cut at a key frame). Only what the job says it changed uses it: "trimmed to
     * 1:35–2:05" in the original's times, not the piece's.
     */
    sourceOffsetSec: clipBound(),
  })
  .check(
    z.superRefine((value, ctx) => {
      const count = (value.url === undefined ? 0 : 1) + (value.uploadId === undefined ? 0 : 1);
      if (count !== 1) {
        ctx.addIssue({
          code: 'custom',
          message: 'give exactly one of "url" (a public http(s) URL) or "uploadId" (from PUT /v1/uploads)',
        });
      }
      if (value.startSec !== undefined && value.endSec !== undefined && value.startSec >= value.endSec) {
        ctx.addIssue({
          code: 'custom',
          path: ['endSec'],
          message: `endSec (${value.endSec}) must be after startSec (${value.startSec})`,
        });
      }
    }),
  );
export type JobInput = z.infer<typeof JobInputSchema>;

/** Whether the relay conforms a job's inputs to the provider's limits. */
export const ConformModeSchema = z.enum(['auto', 'off']);
export type ConformMode = z.infer<typeof ConformModeSchema>;

/** `POST /v1/jobs` body (header `Idempotency-Key` optional, up to 200 characters). */
export const CreateJobRequestSchema = z.strictObject({
  video: JobInputSchema,
  audio: JobInputSchema,
  refImage: z.optional(JobInputSchema),
  /** Extend the video (ping-pong) to the audio's length; default false = the shorter of the two. */
  videoExtension: z.optional(z.boolean()),
  /** Face match strictness, 120–200 (provider default 170). */
  faceThreshold: z.optional(z.number().check(z.int(), z.minimum(120), z.maximum(200))),
  title: z.optional(z.string().check(z.maxLength(300))),
  sourcePageUrl: z.optional(z.string().check(z.maxLength(MAX_INPUT_URL_LENGTH))),
  /**
   * `auto` (default): the relay makes the inputs fit the provider's limits (clip, scale, frame
   * rate, H.264/MP4, WAV) before submitting, and says what it changed in `job.conform`.
   * `off`: inputs must already fit; anything outside the limits is refused.
   */
  conform: z.optional(ConformModeSchema),
});
export type CreateJobRequest = z.infer<typeof CreateJobRequestSchema>;

/** Job states at the relay: {@link JOB_STATUSES} (`received`, `preparing`, `submitted`, …). */
export const JobStatusSchema = z.enum(JOB_STATUSES);
export type { JobStatus } from '../status.js';
export { isTerminalJobStatus, TERMINAL_JOB_STATUSES } from '../status.js';

export const JobErrorSchema = z.object({
  /** Stable code: a provider code (e.g. `InvalidFile.FPS`) or a relay code (e.g. `submit_interrupted`). */
  code: z.string(),
  message: z.string(),
  /** True when submitting the same inputs again may succeed. */
  retryable: z.boolean(),
  /**
   * What to do about it, in the member's words: the relay's advice for its own codes
   * (`RELAY_JOB_ERRORS`), core's provider table for provider codes. Absent for an unknown code.
   */
  hint: z.optional(z.string()),
});
export type JobError = z.infer<typeof JobErrorSchema>;

export const JobResultSchema = z.object({
  /** True once the relay holds its own copy (downloads never depend on the provider's 24 h link). */
  archived: z.boolean(),
  /** Relative path of the authenticated download (`GET`, supports Range). */
  path: z.string(),
  sizeBytes: z.optional(z.number().check(z.int(), z.nonnegative())),
  contentType: z.optional(z.string()),
  sha256: z.optional(z.string()),
  /** ISO time the relay deletes its copy (retention). */
  expiresAt: z.optional(z.string()),
});
export type JobResult = z.infer<typeof JobResultSchema>;

export const JobInputSummarySchema = z.object({
  video: JobInputSchema,
  audio: JobInputSchema,
  refImage: z.optional(JobInputSchema),
  videoExtension: z.boolean(),
  faceThreshold: z.optional(z.number().check(z.int())),
});

/** What the relay made of one input (`job.conform.video` / `.audio` / `.refImage`). */
export const ConformedInputSchema = z.object({
  /** One plain sentence per change ("scaled 640×360 → 1138×640"); empty when the input was used as is. */
  changes: z.array(z.string()),
  /** The media the provider receives. */
  media: UploadMediaSchema,
});
export type ConformedInput = z.infer<typeof ConformedInputSchema>;

/** `job.conform`: how the inputs were made to fit, filled in while the job is `preparing`. */
export const JobConformSchema = z.object({
  mode: ConformModeSchema,
  video: z.optional(ConformedInputSchema),
  audio: z.optional(ConformedInputSchema),
  refImage: z.optional(ConformedInputSchema),
});
export type JobConform = z.infer<typeof JobConformSchema>;

export const JobSchema = z.object({
  id: z.string(),
  status: JobStatusSchema,
  /**
   * 0–100 of the current phase: while `preparing`, how far the relay is with the inputs; from
   * `submitted` on, the provider's work (estimated by the relay when the provider reports none).
   */
  progress: z.number().check(z.minimum(0), z.maximum(100)),
  /** Milliseconds until the job is expected to finish, when known. */
  etaMs: z.optional(z.number().check(z.nonnegative())),
  provider: RelayProviderSchema,
  /** The provider's task id, once submitted. */
  upstreamId: z.optional(z.string()),
  title: z.optional(z.string()),
  sourcePageUrl: z.optional(z.string()),
  input: JobInputSummarySchema,
  /**
   * Output seconds reserved against the budget. Until an input given by URL has been fetched and
   * measured it is an upper bound; once the job is prepared it is the conformed length.
   */
  estimatedSeconds: z.number().check(z.nonnegative()),
  /** Output seconds billed by the provider, once known. */
  billedSeconds: z.optional(z.number().check(z.nonnegative())),
  /** Whether `POST /v1/jobs/:id/cancel` can work now. */
  cancelable: z.boolean(),
  /** How the inputs were made to fit (absent until the relay has looked at them). */
  conform: z.optional(JobConformSchema),
  result: z.optional(JobResultSchema),
  error: z.optional(JobErrorSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
  submittedAt: z.optional(z.string()),
  startedAt: z.optional(z.string()),
  finishedAt: z.optional(z.string()),
});
export type Job = z.infer<typeof JobSchema>;

/** `GET /v1/jobs?cursor&limit&status` (newest first). */
export const JobListSchema = z.object({
  jobs: z.array(JobSchema),
  /** Pass as `cursor` to get the next page; `null` on the last page. */
  nextCursor: z.nullable(z.string()),
});
export type JobList = z.infer<typeof JobListSchema>;

export const ListJobsQuerySchema = z.strictObject({
  cursor: z.optional(z.string().check(z.maxLength(200))),
  limit: z.optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100))),
  status: z.pipe(
    z.optional(z.string()),
    z.transform((value: string | undefined, ctx) => {
      if (value === undefined || value === '') return undefined;
      const parts = value.split(',');
      const out: JobStatus[] = [];
      for (const part of parts) {
        const parsed = JobStatusSchema.safeParse(part);
        if (!parsed.success) {
          // Mini transforms have no `ctx.addIssue`; an issue pushed here gets its path like any other.
          ctx.issues.push({
            code: 'custom',
            message: `unknown status "${part.slice(0, 40)}"; use one or more of ${JobStatusSchema.options.join(', ')} separated by commas`,
            input: value,
          });
          return z.NEVER;
        }
        out.push(parsed.data);
      }
      return out;
    }),
  ),
});
export type ListJobsQuery = z.infer<typeof ListJobsQuerySchema>;

/** `POST /v1/jobs/:id/result-link` → a short-lived link that needs no Authorization header. */
export const ResultLinkSchema = z.object({
  /** Absolute URL. */
  url: z.string(),
  expiresAt: z.string(),
});
export type ResultLink = z.infer<typeof ResultLinkSchema>;

/**
 * Server-Sent Events on `GET /v1/events`. Each event has an `id:` (a decimal sequence) for
 * `Last-Event-ID` resume, an `event:` name and a JSON `data:` line. Heartbeats are SSE comments.
 * - `job`: one of the member's jobs changed; `data` is `{ job }`.
 * - `reset`: the resume point is too old; refetch `GET /v1/jobs`; `data` is `{ reason }`.
 * - `ready`: sent once per connection after any replay; `data` is `{ lastEventId }`.
 */
export const JobEventDataSchema = z.object({ job: JobSchema });
export const ResetEventDataSchema = z.object({ reason: z.string() });
export const ReadyEventDataSchema = z.object({ lastEventId: z.nullable(z.string()) });

export const RelayEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('job'), id: z.string(), job: JobSchema }),
  z.object({ type: z.literal('reset'), id: z.optional(z.string()), reason: z.string() }),
  z.object({ type: z.literal('ready'), lastEventId: z.nullable(z.string()) }),
]);
export type RelayEvent = z.infer<typeof RelayEventSchema>;

/** Stable error codes of the relay; clients branch on these, never on messages. */
export const RelayErrorCodeSchema = z.enum([
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'invalid_request',
  'invalid_json',
  'unsupported_media_type',
  'payload_too_large',
  'url_not_allowed',
  'media_rejected',
  'budget_exceeded',
  'too_many_jobs',
  'rate_limited',
  'conflict',
  'not_cancelable',
  'result_not_ready',
  'link_expired',
  'upstream_error',
  'upstream_unavailable',
  'not_ready',
  /** The relay's data directory is out of space (HTTP 507); the relay admin must free some. */
  'storage_full',
  /** This member's kept uploads reached their quota (HTTP 413); older uploads expire and free it. */
  'storage_quota_exceeded',
  /**
   * No upstream of the relay's pool can be sent this job (HTTP 422; `field` names the input), e.g. an
   * uploaded video when only EvoLink keys (images-only storage) are left and relay links are off.
   */
  'no_capable_upstream',
  'internal',
]);
export type RelayErrorCode = z.infer<typeof RelayErrorCodeSchema>;

/** Every relay error: `{ error: { code, message, field?, allowed?, requestId? } }`. */
export const RelayErrorBodySchema = z.object({
  error: z.object({
    /** One of RelayErrorCode; kept a string so newer relays can add codes. */
    code: z.string(),
    /** What went wrong and what to do about it. */
    message: z.string(),
    /** The request field at fault, as a dotted path (`video.url`, `faceThreshold`, `kind`). */
    field: z.optional(z.string()),
    /** Allowed values or range for `field`, e.g. `['video','audio','image']` or `'120–200'`. */
    allowed: z.optional(z.union([z.array(z.union([z.string(), z.number()])), z.string()])),
    requestId: z.optional(z.string()),
    /** Milliseconds to wait before retrying (429/503). */
    retryAfterMs: z.optional(z.number()),
  }),
});
export type RelayErrorBody = z.infer<typeof RelayErrorBodySchema>;
