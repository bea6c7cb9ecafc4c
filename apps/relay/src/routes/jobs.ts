import { createHash } from 'node:crypto';
import { type ConformPlan, estimateOutputSeconds, type ProbedMedia } from '@retalk/core';
import {
  CreateJobRequestSchema,
  type JobInput,
  ListJobsQuerySchema,
  type MediaKind,
  type UploadMedia,
} from '@retalk/core/relay';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { admitJob } from '../admission.js';
import { ApiError, fromZodError } from '../api-error.js';
import { type RelayContext, signedInMember } from '../context.js';
import { sendStoredFile } from '../file-response.js';
import { type InputName, planInput, refusalField } from '../input-plan.js';
import { newJobRecord, toPublicJob } from '../jobs.js';
import { unmetEverywhere } from '../placement.js';
import { checkPoolMedia, mediaLimitsOf, providersOf } from '../pool-media.js';
import type { JobInputRecord, JobRecord, MemberRecord } from '../store/types.js';
import { checkInputUrl } from '../url-guard.js';

const JOB_ID = /^job_[A-Za-z0-9_-]{16}$/;
const IdParamsSchema = z.object({ id: z.string() });
const DEFAULT_PAGE_SIZE = 20;
const RESULT_LINK_TTL_MS = 15 * 60_000;

/** Finds a job of this member; another member's job is indistinguishable from a missing one. */
export async function memberJob(
  ctx: RelayContext,
  member: MemberRecord,
  params: unknown,
): Promise<JobRecord> {
  const id = IdParamsSchema.safeParse(params).data?.id ?? '';
  const job = JOB_ID.test(id) ? await ctx.store.getJob(id) : undefined;
  if (!job || job.memberId !== member.id) {
    throw new ApiError(
      404,
      'not_found',
      `You have no job "${id.slice(0, 40)}"; list yours with GET /v1/jobs.`,
      {
        field: 'id',
      },
    );
  }
  return job;
}

function encodeCursor(job: JobRecord): string {
  return Buffer.from(`${job.createdAt}:${job.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{1,15}):(job_[A-Za-z0-9_-]{16})$/.exec(text);
  if (!m) {
    throw new ApiError(
      400,
      'invalid_request',
      'cursor is not one this relay issued; pass nextCursor from the previous page.',
      {
        field: 'cursor',
      },
    );
  }
  return { createdAt: Number(m[1]), id: m[2] as string };
}

interface ResolvedInput {
  record: JobInput;
  /** What the relay knows of the input now: an upload's probe; undefined for a URL (measured while preparing). */
  media: UploadMedia | undefined;
  probe?: ProbedMedia | undefined;
  /** The conform plan of an upload (conform auto, probed): its output length, or that nothing changes. */
  plan?: ConformPlan | undefined;
}

/**
 * Checks an input without touching the network beyond the URL guard's DNS check: the upload is the
 * member's, of the right kind and alive; the URL passes the guard. URL inputs are fetched (once)
 * and measured later, in the job's `preparing` phase, so nothing here downloads or probes.
 */
async function resolveUpload(
  ctx: RelayContext,
  member: MemberRecord,
  input: JobInput,
  kind: MediaKind,
  field: string,
): Promise<ResolvedInput> {
  const upload = await ctx.store.getUpload(input.uploadId as string);
  if (!upload || upload.memberId !== member.id || upload.expiresAt <= ctx.now()) {
    throw new ApiError(
      400,
      'invalid_request',
      `${field}.uploadId "${String(input.uploadId).slice(0, 40)}" is not one of your uploads (or it expired); upload the file again.`,
      {
        field: `${field}.uploadId`,
      },
    );
  }
  if (upload.kind !== kind) {
    throw new ApiError(
      400,
      'invalid_request',
      `${field}.uploadId is an ${upload.kind} upload; ${field} needs a ${kind} upload.`,
      {
        field: `${field}.uploadId`,
        allowed: [kind],
      },
    );
  }
  return { record: { ...input, uploadId: upload.id }, media: upload.media, probe: upload.probe };
}

/** Plans an upload's conform now, so what cannot be fixed is refused before the job exists. */
function planUpload(ctx: RelayContext, name: InputName, resolved: ResolvedInput): void {
  if (!resolved.probe) return;
  const result = planInput(ctx.config, resolved.probe, resolved.record);
  if (!result.ok) {
    throw new ApiError(422, 'media_rejected', `${name}: ${result.refusal.message}`, {
      field: refusalField(name, result.refusal, resolved.record),
      ...(result.refusal.allowed !== undefined ? { allowed: result.refusal.allowed } : {}),
    });
  }
  resolved.plan = result.plan;
}

async function checkUrl(ctx: RelayContext, url: string, field: string): Promise<void> {
  const allowPrivate = ctx.config.allowPrivateUrls || isAllowedHost(ctx, url);
  const problem = await checkInputUrl(url, { allowPrivate });
  if (problem) {
    throw new ApiError(400, 'url_not_allowed', `${field}.url ${problem.message}.`, {
      field: `${field}.url`,
      allowed: 'a public http(s) URL',
    });
  }
}

function isAllowedHost(ctx: RelayContext, raw: string): boolean {
  try {
    const host = new URL(raw).host;
    return ctx.allowedInputHosts.includes(host);
  } catch {
    return false;
  }
}

function checkLimits(ctx: RelayContext, field: string, media: UploadMedia | undefined): void {
  if (!media) return;
  const problem = checkPoolMedia(media, ctx.config)[0];
  if (problem) {
    throw new ApiError(422, 'media_rejected', problem.message, {
      field: `${field}.${problem.field}`,
      allowed: problem.allowed,
    });
  }
}

function hasClip(input: JobInput | undefined): boolean {
  return input !== undefined && (input.startSec !== undefined || input.endSec !== undefined);
}

/** Seconds a clip of a source of `durationSec` keeps (the whole source without a clip). */
function clippedSeconds(durationSec: number, input: JobInput): number {
  const end = Math.min(input.endSec ?? durationSec, durationSec);
  return Math.max(0, end - Math.min(input.startSec ?? 0, durationSec));
}

/**
 * The output seconds a job can make, as a range: exact for inputs already measured (uploads),
 * from the provider's minimum to its maximum (or the clip's length) for URLs not fetched yet.
 */
function outputSecondsRange(
  ctx: RelayContext,
  video: ResolvedInput,
  audio: ResolvedInput,
  videoExtension: boolean,
): { low: number; high: number } {
  const limits = mediaLimitsOf(ctx.config);
  const bounds = (input: ResolvedInput, kind: 'video' | 'audio') => {
    const min = limits[kind].minDurationSec ?? 2;
    const max = limits[kind].maxDurationSec ?? 120;
    if (input.plan?.output.durationSec !== undefined) {
      const exact = input.plan.output.durationSec;
      return { low: exact, high: exact };
    }
    if (input.media?.durationSec !== undefined) {
      const exact = Math.min(max, clippedSeconds(input.media.durationSec, input.record));
      return { low: exact, high: exact };
    }
    const { startSec, endSec } = input.record;
    const clip = endSec !== undefined ? endSec - (startSec ?? 0) : max;
    return { low: Math.min(min, clip), high: Math.min(max, clip) };
  };
  const v = bounds(video, 'video');
  const a = bounds(audio, 'audio');
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    low: round(estimateOutputSeconds({ videoSec: v.low, audioSec: a.low, videoExtension })),
    high: round(estimateOutputSeconds({ videoSec: v.high, audioSec: a.high, videoExtension })),
  };
}

export function registerJobRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.post('/v1/jobs', async (request, reply) => {
    const member = signedInMember(request);
    const contentType = request.headers['content-type'];
    if (!contentType?.toLowerCase().startsWith('application/json')) {
      throw new ApiError(
        415,
        'unsupported_media_type',
        'POST /v1/jobs takes a JSON body with "Content-Type: application/json".',
        {
          field: 'content-type',
          allowed: ['application/json'],
        },
      );
    }
    if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) {
      throw new ApiError(
        400,
        'invalid_request',
        'The body must be a JSON object with at least "video" and "audio".',
      );
    }
    const parsed = CreateJobRequestSchema.safeParse(request.body);
    if (!parsed.success) throw fromZodError(parsed.error, 'body');
    const body = parsed.data;

    const keyHeader = request.headers['idempotency-key'];
    let idempotencyKey: string | null = null;
    if (keyHeader !== undefined) {
      if (typeof keyHeader !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(keyHeader)) {
        throw new ApiError(
          400,
          'invalid_request',
          'Idempotency-Key must be 1–200 visible ASCII characters (a UUID is ideal).',
          {
            field: 'idempotency-key',
          },
        );
      }
      idempotencyKey = keyHeader;
    }
    const requestHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    if (idempotencyKey) {
      const existing = await ctx.store.findJobByIdempotencyKey(member.id, idempotencyKey);
      if (existing) return replayIdempotent(existing, requestHash, reply);
    }
    if (body.sourcePageUrl !== undefined && !/^https?:\/\/\S+$/i.test(body.sourcePageUrl)) {
      throw new ApiError(
        400,
        'invalid_request',
        'sourcePageUrl must be the http(s) address of the page the video came from.',
        {
          field: 'sourcePageUrl',
        },
      );
    }

    const mode = body.conform ?? 'auto';
    const named: [InputName, JobInput | undefined, MediaKind][] = [
      ['video', body.video, 'video'],
      ['audio', body.audio, 'audio'],
      ['refImage', body.refImage, 'image'],
    ];
    // Every field is checked before anything touches the network (relay-findings M3).
    if (hasClip(body.refImage)) {
      throw new ApiError(
        400,
        'invalid_request',
        'refImage takes no startSec/endSec: a reference image has no clip.',
        {
          field: body.refImage?.startSec !== undefined ? 'refImage.startSec' : 'refImage.endSec',
        },
      );
    }
    for (const [name, input] of named) {
      if (mode === 'off' && hasClip(input)) {
        throw new ApiError(
          400,
          'invalid_request',
          `${name}: a clip (startSec/endSec) needs "conform": "auto", which cuts it; with "off" the file is sent as it is.`,
          { field: 'conform', allowed: ['auto'] },
        );
      }
    }
    for (const [name, input] of named) if (input?.url !== undefined) await checkUrl(ctx, input.url, name);
    const resolve = async (input: JobInput, kind: MediaKind, name: InputName): Promise<ResolvedInput> =>
      input.uploadId !== undefined
        ? resolveUpload(ctx, member, input, kind, name)
        : { record: { ...input }, media: undefined };
    const video = await resolve(body.video, 'video', 'video');
    const audio = await resolve(body.audio, 'audio', 'audio');
    const refImage = body.refImage ? await resolve(body.refImage, 'image', 'refImage') : undefined;
    if (mode === 'off') {
      checkLimits(ctx, 'video', video.media);
      checkLimits(ctx, 'audio', audio.media);
      checkLimits(ctx, 'refImage', refImage?.media);
    } else {
      planUpload(ctx, 'video', video);
      planUpload(ctx, 'audio', audio);
      if (refImage) planUpload(ctx, 'refImage', refImage);
    }
    // Every input reaches the provider as a file of the relay (uploads, fetched copies, conformed
    // outputs): refused now when no upstream of the pool could be sent it (placement.ts).
    const unmet = unmetEverywhere(
      providersOf(ctx.config),
      [
        { field: 'video', contentType: 'video/mp4' },
        { field: 'audio', contentType: 'audio/wav' },
        ...(refImage ? [{ field: 'refImage' as const, contentType: 'image/png' }] : []),
      ],
      ctx.config,
    );
    if (unmet) throw new ApiError(422, 'no_capable_upstream', unmet.message, { field: unmet.field });
    const fitsAsIs = (r: ResolvedInput | undefined) =>
      r === undefined ||
      (r.record.uploadId !== undefined &&
        (r.plan
          ? r.plan.passthrough
          : !hasClip(r.record) && checkPoolMedia(r.media ?? { kind: 'video' }, ctx.config).length === 0));
    // URL inputs are always fetched into the relay first (what is measured is what is billed: H1);
    // uploads go through `preparing` only when conform has something to do.
    const needsPreparation =
      [video, audio, refImage].some((r) => r?.record.url !== undefined) ||
      (mode === 'auto' && ![video, audio, refImage].every(fitsAsIs));
    const range = outputSecondsRange(ctx, video, audio, body.videoExtension ?? false);

    const input: JobInputRecord = {
      video: video.record,
      audio: audio.record,
      videoExtension: body.videoExtension ?? false,
    };
    if (refImage) input.refImage = refImage.record;
    if (body.faceThreshold !== undefined) input.faceThreshold = body.faceThreshold;
    const job = newJobRecord(
      {
        memberId: member.id,
        provider: ctx.config.provider,
        input,
        conformMode: mode,
        needsPreparation,
        estimatedSeconds: range.high,
        title: body.title,
        sourcePageUrl: body.sourcePageUrl,
        idempotencyKey,
        requestHash,
      },
      ctx.now(),
    );
    const outcome = await admitJob(
      {
        store: ctx.store,
        writer: ctx.writer,
        rules: {
          defaultMaxConcurrentJobs: ctx.config.defaultMaxConcurrentJobs,
          retryAfterMs: ctx.config.pollIntervalMs * 5,
        },
      },
      member,
      job,
      range,
    );
    if (outcome.existing) return replayIdempotent(outcome.existing, requestHash, reply);
    ctx.metrics.inc('retalk_jobs_created_total');
    if (needsPreparation) ctx.preparer.enqueue(job.id);
    else ctx.tracker.enqueue(job);
    return reply.code(201).send(toPublicJob(job));
  });

  app.get('/v1/jobs', async (request, _reply) => {
    const member = signedInMember(request);
    const query = ListJobsQuerySchema.safeParse(request.query);
    if (!query.success) throw fromZodError(query.error, 'query');
    const limit = query.data.limit ?? DEFAULT_PAGE_SIZE;
    const before = query.data.cursor ? decodeCursor(query.data.cursor) : undefined;
    const rows = await ctx.store.listJobs({
      memberId: member.id,
      limit: limit + 1,
      statuses: query.data.status,
      before,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      jobs: page.map(toPublicJob),
      nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
    };
  });

  app.get('/v1/jobs/:id', async (request, reply) => {
    const member = signedInMember(request);
    // The hot path of every watcher: served from the writer's JSON cache, no store read.
    const id = IdParamsSchema.safeParse(request.params).data?.id ?? '';
    const cached = JOB_ID.test(id) ? await ctx.writer.publicJson(id) : undefined;
    if (!cached || cached.memberId !== member.id)
      return toPublicJob(await memberJob(ctx, member, request.params));
    return reply.type('application/json; charset=utf-8').send(cached.json);
  });

  app.post('/v1/jobs/:id/cancel', async (request, _reply) => {
    const member = signedInMember(request);
    const job = await memberJob(ctx, member, request.params);
    return toPublicJob(await ctx.tracker.cancel(job.id));
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/v1/jobs/:id/result',
    handler: async (request, reply) => {
      const member = signedInMember(request);
      return sendResult(ctx, request, reply, await memberJob(ctx, member, request.params));
    },
  });

  app.post('/v1/jobs/:id/result-link', async (request, _reply) => {
    const member = signedInMember(request);
    const job = await memberJob(ctx, member, request.params);
    if (job.status !== 'succeeded') {
      throw new ApiError(
        409,
        'result_not_ready',
        `The job is ${job.status}; a result link exists once it has succeeded.`,
      );
    }
    const path = `/files/results/${job.id}`;
    const signed = ctx.signer.sign(path, RESULT_LINK_TTL_MS);
    return {
      url: `${ctx.publicUrl()}${path}?${signed.query}`,
      expiresAt: new Date(signed.expiresAt).toISOString(),
    };
  });
}

function replayIdempotent(existing: JobRecord, requestHash: string, reply: FastifyReply) {
  if (existing.requestHash !== requestHash) {
    throw new ApiError(
      409,
      'conflict',
      'This Idempotency-Key was already used for a different job; use a new key for new input.',
      {
        field: 'idempotency-key',
      },
    );
  }
  reply.header('idempotent-replayed', 'true');
  return reply.code(200).send(toPublicJob(existing));
}

/** Sends the archived result (Range supported); before archiving, redirects to the provider's live link. */
export async function sendResult(
  ctx: RelayContext,
  request: FastifyRequest,
  reply: FastifyReply,
  job: JobRecord,
) {
  if (job.resultKey !== null) {
    const size = await ctx.storage.size(job.resultKey);
    if (size !== undefined) {
      return sendStoredFile(request, reply, {
        path: ctx.storage.pathOf(job.resultKey),
        size,
        // Only MP4s are archived (findings L14); never echo another stored type.
        contentType: 'video/mp4',
        downloadName: `${(job.title ?? job.id).slice(0, 80)}.mp4`,
      });
    }
  }
  if (
    job.status === 'succeeded' &&
    job.upstreamResultUrl &&
    job.resultExpiresAt === null &&
    (job.upstreamResultExpiresAt ?? Number.POSITIVE_INFINITY) > ctx.now()
  ) {
    return reply.redirect(job.upstreamResultUrl, 302);
  }
  if (job.status === 'succeeded') {
    throw new ApiError(
      404,
      'not_found',
      'The result of this job is no longer kept (retention ended); submit the job again.',
    );
  }
  throw new ApiError(
    409,
    'result_not_ready',
    `The job is ${job.status}; its result is available once it has succeeded.`,
  );
}
