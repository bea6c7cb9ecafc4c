import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { MediaKindSchema, type Upload } from '@retalk/core/relay';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError, fromZodError } from '../api-error.js';
import { ORIGINALS_MAX_MB, type RelayConfig } from '../config.js';
import { PoolTaskError, type ProbeOutcome } from '../conform-pool.js';
import { type RelayContext, signedInMember } from '../context.js';
import { checkPoolMedia, mediaLimitsOf } from '../pool-media.js';
import { TooLargeError } from '../storage/local.js';
import type { UploadRecord } from '../store/types.js';

/**
 * Largest upload per kind, in bytes: the originals limits (`ORIGINALS_MAX_MB`: 2 GiB for video,
 * 512 MiB for audio, 50 MiB for images), or RETALK_MAX_UPLOAD_MB for all three.
 */
export function uploadMaxBytes(config: RelayConfig): { video: number; audio: number; image: number } {
  const mb = 1024 * 1024;
  const o = config.maxUploadBytes;
  return {
    video: o ?? ORIGINALS_MAX_MB.video * mb,
    audio: o ?? ORIGINALS_MAX_MB.audio * mb,
    image: o ?? ORIGINALS_MAX_MB.image * mb,
  };
}

/** `1536 MiB` → `1.5 GB`, `300 MiB` → `300 MB`, `900 KiB` → `0.9 MB` (binary units, as the limits are set). */
function sizeText(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  if (mb >= 1024) return `${Math.round((mb / 1024) * 10) / 10} GB`;
  return mb >= 10 ? `${Math.round(mb)} MB` : `${Math.round(mb * 10) / 10} MB`;
}

/** What a member over the storage quota can do, in their words. */
function quotaAdvice(config: RelayConfig, kind: string, oldestExpiresAt: number | null): string {
  const when =
    oldestExpiresAt === null ? '' : ` (your oldest goes at ${new Date(oldestExpiresAt).toISOString()})`;
  return `Uploads are removed ${config.uploadTtlHours} h after they are made${when}: upload it again after that, upload only the part of the ${kind} you need (a shorter clip), or ask your relay admin for more storage.`;
}

/** Characters never allowed in names: controls, format characters (bidi overrides) and line/paragraph separators. */
export const UNSAFE_NAME_CHARACTERS = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

const FILENAME_ALLOWED = 'a plain file name (no / \\ or .., at most 200 characters)';

const UploadQuerySchema = z
  .object({
    kind: MediaKindSchema,
    filename: z.string().min(1).max(200),
  })
  .strict();

const ACCEPTED_TYPES = /^(video|audio|image)\/[\w.+-]+$|^application\/octet-stream$/;

export function toPublicUpload(u: UploadRecord): Upload {
  return {
    id: u.id,
    kind: u.kind,
    filename: u.filename,
    sizeBytes: u.sizeBytes,
    sha256: u.sha256,
    contentType: u.contentType,
    media: u.media,
    createdAt: new Date(u.createdAt).toISOString(),
    expiresAt: new Date(u.expiresAt).toISOString(),
  };
}

/** Uploads one member may have in progress at once (findings M1: stalled uploads held 1000 fds). */
export const MAX_UPLOADS_IN_PROGRESS = 4;

export function registerUploadRoutes(app: FastifyInstance, ctx: RelayContext): void {
  // Per member: uploads in progress, and the bytes they may still add to the member's quota.
  const inProgress = new Map<string, { uploads: number; bytes: number }>();
  app.register(async (scope) => {
    // Raw bodies stay streams here (constant memory); nothing else in the app sees this parser.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.put('/v1/uploads', async (request, reply) => {
      const member = signedInMember(request);
      const query = UploadQuerySchema.safeParse(request.query);
      if (!query.success) throw fromZodError(query.error, 'query');
      const { kind, filename } = query.data;
      // Control, format (bidi overrides) and separator characters spoof how a name reads (findings L15).
      const hasControl = UNSAFE_NAME_CHARACTERS.test(filename);
      if (hasControl || /[/\\]/.test(filename) || filename === '.' || filename.includes('..')) {
        throw new ApiError(400, 'invalid_request', `filename must be ${FILENAME_ALLOWED}.`, {
          field: 'filename',
          allowed: FILENAME_ALLOWED,
        });
      }
      const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!ACCEPTED_TYPES.test(contentType)) {
        throw new ApiError(
          415,
          'unsupported_media_type',
          `Uploads take the raw file with a ${kind}/* or application/octet-stream Content-Type, not "${contentType.slice(0, 60) || 'none'}".`,
          { field: 'content-type', allowed: [`${kind}/*`, 'application/octet-stream'] },
        );
      }
      const maxBytes = uploadMaxBytes(ctx.config)[kind];
      const declared = request.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBytes) {
        reply.header('connection', 'close');
        throw new ApiError(
          413,
          'payload_too_large',
          `A ${kind} upload may be at most ${maxBytes} bytes; this one is ${declared}.`,
          {
            field: 'body',
            allowed: `at most ${maxBytes} bytes`,
          },
        );
      }
      const running = inProgress.get(member.id) ?? { uploads: 0, bytes: 0 };
      if (running.uploads >= MAX_UPLOADS_IN_PROGRESS) {
        throw new ApiError(
          429,
          'rate_limited',
          `You already have ${running.uploads} uploads in progress; wait for one to finish, then upload again.`,
          { retryAfterMs: 5_000 },
        );
      }
      // The member's storage quota (findings M4), checked before a byte is stored: what is kept,
      // plus what uploads in progress may still add, plus this one.
      const usage = await ctx.store.uploadUsage(member.id, ctx.now());
      const room = ctx.config.memberStorageBytes - usage.bytes - running.bytes;
      const declaredBytes = declared === undefined ? undefined : Number(declared);
      if (
        usage.count + running.uploads >= ctx.config.memberMaxUploads ||
        room <= 0 ||
        (declaredBytes ?? 0) > room
      ) {
        const full =
          usage.count + running.uploads >= ctx.config.memberMaxUploads
            ? `You already keep ${usage.count} uploads, the most your relay allows.`
            : declaredBytes !== undefined && room > 0
              ? `This ${sizeText(declaredBytes)} file does not fit in the ${sizeText(room)} left of your ${sizeText(ctx.config.memberStorageBytes)} of storage.`
              : `Your uploads already use ${sizeText(usage.bytes)} of your ${sizeText(ctx.config.memberStorageBytes)} of storage.`;
        throw new ApiError(
          413,
          'storage_quota_exceeded',
          `${full} ${quotaAdvice(ctx.config, kind, usage.oldestExpiresAt)}`,
          { field: 'body', allowed: `at most ${Math.max(0, room)} more bytes` },
        );
      }
      const reserved = Math.min(declaredBytes ?? maxBytes, maxBytes, room);
      inProgress.set(member.id, { uploads: running.uploads + 1, bytes: running.bytes + reserved });
      // 'close' comes once the answer is sent or the connection is gone, whichever is first.
      reply.raw.once('close', () => {
        const now = inProgress.get(member.id) ?? { uploads: 1, bytes: reserved };
        if (now.uploads > 1)
          inProgress.set(member.id, { uploads: now.uploads - 1, bytes: now.bytes - reserved });
        else inProgress.delete(member.id);
      });
      const id = `upl_${randomBytes(12).toString('base64url')}`;
      const storageKey = `uploads/${id}`;
      let stored: { sizeBytes: number; sha256: string };
      try {
        stored = await ctx.storage.write(storageKey, request.body as IncomingMessage, {
          maxBytes: reserved,
          durable: false,
        });
      } catch (error) {
        // The rest of a refused body is never read: without closing, the client keeps sending into
        // a connection nobody reads and never sees the answer (a 507 on a full disk hung the client).
        if (!request.raw.readableEnded) reply.header('connection', 'close');
        if (error instanceof TooLargeError && reserved < maxBytes) {
          throw new ApiError(
            413,
            'storage_quota_exceeded',
            `This file is larger than the ${sizeText(reserved)} left of your ${sizeText(ctx.config.memberStorageBytes)} of storage, so it was not kept. ${quotaAdvice(ctx.config, kind, usage.oldestExpiresAt)}`,
            { field: 'body', allowed: `at most ${reserved} bytes` },
          );
        }
        if (error instanceof TooLargeError) {
          throw new ApiError(413, 'payload_too_large', `A ${kind} upload may be at most ${maxBytes} bytes.`, {
            field: 'body',
            allowed: `at most ${maxBytes} bytes`,
          });
        }
        const code = (error as { code?: string }).code;
        // EFBIG: a file-size limit on the relay's process (ulimit -f) stops the write like a full disk.
        if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') {
          throw new ApiError(
            507,
            'storage_full',
            "The relay is out of disk space, so the upload was not kept. Ask your relay admin to free space in the relay's data directory (RETALK_DATA_DIR), then upload again.",
          );
        }
        throw new ApiError(
          400,
          'invalid_request',
          'The upload was interrupted before the whole body arrived; send it again.',
          {
            field: 'body',
          },
        );
      }
      ctx.metrics.inc('retalk_upload_bytes_total', {}, stored.sizeBytes);
      if (stored.sizeBytes === 0) {
        await ctx.storage.discard(storageKey);
        throw new ApiError(
          400,
          'invalid_request',
          'The upload body is empty; send the file bytes as the body.',
          { field: 'body' },
        );
      }
      // The probe parses untrusted bytes: it runs in a child process with time and memory limits.
      let probed: ProbeOutcome;
      try {
        probed = await ctx.pool.probe(ctx.storage.pathOf(storageKey), kind, { urgent: true });
      } catch (error) {
        await ctx.storage.discard(storageKey);
        if (!(error instanceof PoolTaskError)) throw error;
        throw new ApiError(422, 'media_rejected', probeFailure(error, kind), {
          field: 'body',
          ...(error.allowed !== undefined
            ? { allowed: typeof error.allowed === 'string' ? error.allowed : [...error.allowed] }
            : {}),
        });
      }
      probed.media.sizeBytes = stored.sizeBytes;
      // Conform fixes a video's or a recording's size, format, frame rate and length (with a clip)
      // and a reference image's size, aspect and format; not a source that is too short.
      const tooShort =
        (probed.media.durationSec ?? 0) < (mediaLimitsOf(ctx.config)[kind].minDurationSec ?? 0);
      const first = checkPoolMedia(probed.media, ctx.config).find((p) => p.field === 'duration' && tooShort);
      if (first) {
        await ctx.storage.discard(storageKey);
        throw new ApiError(422, 'media_rejected', first.message, {
          field: `media.${first.field}`,
          allowed: first.allowed,
        });
      }
      const now = ctx.now();
      const record: UploadRecord = {
        id,
        memberId: member.id,
        kind,
        filename,
        storageKey,
        sizeBytes: stored.sizeBytes,
        sha256: stored.sha256,
        contentType: probed.contentType,
        media: probed.media,
        probe: probed.probe,
        createdAt: now,
        expiresAt: now + ctx.config.uploadTtlHours * 3_600_000,
      };
      await ctx.store.createUpload(record);
      return reply.code(201).send(toPublicUpload(record));
    });
  });
}

/** Why an upload cannot be used, in the member's words. */
function probeFailure(error: PoolTaskError, kind: 'video' | 'audio' | 'image'): string {
  const plain = kind === 'video' ? 'MP4' : kind === 'audio' ? 'WAV or MP3' : 'PNG or JPEG';
  switch (error.code) {
    case 'conform_timeout':
    case 'conform_out_of_memory':
      return `The uploaded ${kind} could not be read within the relay's limits (${error.message}); convert it to a plain ${plain} first.`;
    case 'too_many_samples':
      return `The uploaded ${kind} claims far more frames than any usable ${kind} can have, so the relay did not read it: the file is damaged. Export it again or choose another file.`;
    case 'image_invalid':
      // The image decoder's finding completes the sentence ("is not a valid PNG: …").
      return `The uploaded image ${error.message}.`;
    default:
      // Core's refusals are whole sentences that say what to do.
      return error.message;
  }
}
