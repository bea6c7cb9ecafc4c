import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import { estimateOutputSeconds } from '@retalk/core';
import type { JobError, JobInput, MediaKind } from '@retalk/core/relay';
import type { FastifyBaseLogger } from 'fastify';
import { budgetOf } from './budget.js';
import type { RelayConfig } from './config.js';
import { type ConformPool, PoolTaskError } from './conform-pool.js';
import { fetchInputToStorage, InputFetchError } from './input-fetch.js';
import { clipOf, type InputName, planInput, refusalField } from './input-plan.js';
import type { JobWriter } from './jobs.js';
import { checkPoolMedia, mediaLimitsOf } from './pool-media.js';
import type { FileStorage } from './storage/local.js';
import type {
  JobConformRecord,
  JobRecord,
  PreparedInputRecord,
  RelayStore,
  UploadRecord,
} from './store/types.js';

const KIND_OF: Record<InputName, MediaKind> = { video: 'video', audio: 'audio', refImage: 'image' };

export interface PreparerOptions {
  store: RelayStore;
  writer: JobWriter;
  storage: FileStorage;
  pool: ConformPool;
  config: RelayConfig;
  log: FastifyBaseLogger;
  now: () => number;
  /** The relay's guarded fetch (URL guard on every hop). */
  fetch: typeof fetch;
  /** Largest file kept per kind, in bytes (the originals limit). */
  maxBytes: Record<MediaKind, number>;
  /** A prepared job is ready for the provider. */
  onReady: (job: Pick<JobRecord, 'id' | 'memberId'>) => void;
  /** Minimum gap between two progress writes of one job, in milliseconds. Default 250. */
  progressIntervalMs?: number | undefined;
}

export interface Preparer {
  /** Prepares a stored job (`received` → `preparing` → ready to submit, or `failed`). */
  enqueue(jobId: string): void;
  /** Cancels a job that is being prepared: its child process is killed. Undefined when it is not here. */
  cancel(jobId: string): Promise<JobRecord | undefined>;
  /** Whether this job is in the preparer's hands. */
  has(jobId: string): boolean;
  stop(): Promise<void>;
}

/** Whether a job must pass through `preparing` before it can be sent (see routes/jobs.ts). */
export function needsPreparation(job: JobRecord): boolean {
  if (job.conform?.ready) return false;
  return job.conform !== null;
}

/** Not sent and not ended: the preparer may still work on it. */
function isPreparable(job: JobRecord): boolean {
  return (job.status === 'received' || job.status === 'preparing') && job.submitStartedAt === null;
}

/** A failure of the preparing phase: the job ends `failed` with this code and message. */
class PrepareError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

const FIELD_WORDS: Record<InputName, string> = {
  video: 'video',
  audio: 'audio',
  refImage: 'reference image',
};

export function createPreparer(o: PreparerOptions): Preparer {
  const active = new Map<string, AbortController>();
  const running = new Set<Promise<void>>();
  const progressIntervalMs = o.progressIntervalMs ?? 250;
  let stopped = false;

  function newUpload(
    job: JobRecord,
    kind: MediaKind,
    filename: string,
    stored: { sizeBytes: number; sha256: string },
    media: UploadRecord['media'],
    contentType: string,
    probe: UploadRecord['probe'],
  ): UploadRecord {
    const now = o.now();
    const id = `upl_${randomBytes(12).toString('base64url')}`;
    return {
      id,
      memberId: job.memberId,
      kind,
      filename,
      storageKey: `uploads/${id}`,
      sizeBytes: stored.sizeBytes,
      sha256: stored.sha256,
      contentType,
      media,
      ...(probe ? { probe } : {}),
      createdAt: now,
      expiresAt: now + o.config.uploadTtlHours * 3_600_000,
    };
  }

  async function prepareInput(
    job: JobRecord,
    name: InputName,
    input: JobInput,
    signal: AbortSignal,
    created: UploadRecord[],
    onProgress: (fraction: number) => void,
  ): Promise<PreparedInputRecord> {
    const kind = KIND_OF[name];
    const word = FIELD_WORDS[name];
    // 1. The source: the member's upload, or the relay's own copy of the URL (fetched once).
    let source: UploadRecord;
    let fetched: UploadRecord | undefined;
    if (input.uploadId !== undefined) {
      const upload = await o.store.getUpload(input.uploadId);
      if (!upload)
        throw new PrepareError(
          'input_unavailable',
          `The ${word} upload is no longer kept; upload it again.`,
          true,
        );
      source = upload;
    } else {
      const id = `upl_${randomBytes(12).toString('base64url')}`;
      let stored: { sizeBytes: number; sha256: string };
      try {
        stored = await fetchInputToStorage(input.url as string, `uploads/${id}`, {
          fetch: o.fetch,
          storage: o.storage,
          maxBytes: o.maxBytes[kind],
          timeoutMs: o.config.fetchTimeoutMs,
          signal,
        });
      } catch (error) {
        if (error instanceof InputFetchError) {
          const message =
            error.code === 'url_not_allowed'
              ? `${name}.url: ${error.message}.`
              : `The ${word} at ${name}.url ${error.message}`;
          throw new PrepareError(error.code, message, error.code !== 'url_not_allowed');
        }
        throw error;
      }
      const filename = new URL(input.url as string).pathname.split('/').pop()?.slice(0, 200) || `${kind}`;
      const key = `uploads/${id}`;
      const probed = await probe(o.storage.pathOf(key), kind, word, signal).catch(async (error) => {
        await o.storage.discard(key);
        throw error;
      });
      source = {
        ...newUpload(
          job,
          kind,
          filename,
          stored,
          { ...probed.media, sizeBytes: stored.sizeBytes },
          probed.contentType,
          probed.probe,
        ),
        id,
        storageKey: key,
      };
      await o.store.createUpload(source);
      created.push(source);
      fetched = source;
    }
    onProgress(0.1);

    // 2. Conform off: the file goes as it is and must already fit.
    if (job.conformMode === 'off') {
      const problem = checkPoolMedia(source.media, o.config)[0];
      if (problem) throw new PrepareError('media_rejected', `The ${word}: ${problem.message}`);
      return { uploadId: source.id, changes: [], media: source.media };
    }

    // 3. Conform auto: core's plan decides (a pure function of the probe); only a plan with real
    // changes goes to the executor's child process.
    const measured =
      source.probe ?? (await probe(o.storage.pathOf(source.storageKey), kind, word, signal)).probe;
    if (!measured)
      throw new PrepareError('undecodable', `The ${word} could not be measured; upload it again.`);
    const result = planInput(o.config, measured, input);
    if (!result.ok) {
      const { code, message } = result.refusal;
      throw new PrepareError(code, `The ${word} (${refusalField(name, result.refusal, input)}): ${message}`);
    }
    if (result.plan.passthrough) return { uploadId: source.id, changes: [], media: source.media };
    const outputPath = o.storage.tempPath();
    try {
      const outcome = await o.pool.conform(
        {
          inputPath: o.storage.pathOf(source.storageKey),
          outputPath,
          kind,
          provider: o.config.provider,
          limits: mediaLimitsOf(o.config),
          clip: clipOf(input),
        },
        { signal, onProgress: (f) => onProgress(0.1 + 0.9 * f) },
      );
      if (outcome.passthrough) {
        await fsp.rm(outputPath, { force: true });
        return { uploadId: source.id, changes: [], media: outcome.media };
      }
      const record = newUpload(
        job,
        kind,
        `${source.filename.replace(/\.[^.]*$/, '')}-conformed`,
        outcome,
        outcome.media,
        outcome.contentType,
        outcome.probe,
      );
      await o.storage.adopt(record.storageKey, outputPath);
      await o.store.createUpload(record);
      created.push(record);
      // The provider gets the conformed file; the relay's copy of a URL is no longer needed.
      if (fetched) {
        created.splice(created.indexOf(fetched), 1);
        await o.store.deleteUpload(fetched.id);
        await o.storage.discard(fetched.storageKey);
      }
      return { uploadId: record.id, changes: outcome.changes, media: outcome.media };
    } catch (error) {
      await fsp.rm(outputPath, { force: true });
      if (error instanceof PoolTaskError) throw asPrepareError(error, word, name);
      throw error;
    }
  }

  async function probe(filePath: string, kind: MediaKind, word: string, signal: AbortSignal) {
    try {
      return await o.pool.probe(filePath, kind, { signal });
    } catch (error) {
      if (error instanceof PoolTaskError) throw asPrepareError(error, word, undefined);
      throw error;
    }
  }

  function asPrepareError(error: PoolTaskError, word: string, name: InputName | undefined): PrepareError {
    if (error.code === 'canceled') return new PrepareError('canceled', 'The job was canceled.');
    const retryable = error.code === 'conform_timeout' || error.code === 'conform_crashed';
    const where = name && error.field ? ` (${name}.${error.field})` : '';
    return new PrepareError(error.code, `The ${word}${where}: ${error.message}`, retryable);
  }

  async function prepare(jobId: string, controller: AbortController): Promise<void> {
    const created: UploadRecord[] = [];
    const signal = controller.signal;
    let job: JobRecord | undefined;
    // Progress writes go one after the other, and all land before the job's final write.
    let progressWrites: Promise<unknown> = Promise.resolve();
    try {
      let started = false;
      job = await o.writer.modify(jobId, (current) => {
        if (!isPreparable(current)) return undefined;
        started = true;
        return { status: 'preparing', progress: 0 };
      });
      if (!job || !started) return;
      const names = (['video', 'audio', 'refImage'] as const).filter((n) => job?.input[n] !== undefined);
      const fractions = new Map<InputName, number>(names.map((n) => [n, 0]));
      let lastWrite = 0;
      let lastProgress = 0;
      const report = (name: InputName, fraction: number) => {
        fractions.set(name, fraction);
        const total = (100 * [...fractions.values()].reduce((a, b) => a + b, 0)) / names.length;
        const at = o.now();
        if (signal.aborted || total < lastProgress + 1 || at - lastWrite < progressIntervalMs) return;
        lastWrite = at;
        lastProgress = total;
        const progress = Math.min(99, Math.round(total * 10) / 10);
        progressWrites = progressWrites
          .then(() =>
            o.writer.modify(jobId, (current) => (current.status === 'preparing' ? { progress } : undefined)),
          )
          .catch((error) => o.log.warn({ jobId, err: String(error) }, 'recording preparing progress failed'));
      };
      const conform: JobConformRecord = { ready: false };
      const prepared = job;
      for (const name of names) {
        conform[name] = await prepareInput(
          prepared,
          name,
          prepared.input[name] as JobInput,
          signal,
          created,
          (f) => report(name, f),
        );
        if (signal.aborted) throw new PrepareError('canceled', 'The job was canceled.');
      }
      conform.ready = true;
      await progressWrites;
      await finish(prepared, conform);
    } catch (error) {
      await progressWrites;
      for (const upload of created) {
        await o.store.deleteUpload(upload.id);
        await o.storage.discard(upload.storageKey);
      }
      if (signal.aborted || stopped) return;
      const e =
        error instanceof PrepareError
          ? error
          : new PrepareError(
              'prepare_failed',
              'The relay could not prepare the inputs; submit the job again.',
              true,
            );
      if (!(error instanceof PrepareError))
        o.log.error({ jobId, err: String(error) }, 'preparing a job failed');
      await fail(jobId, { code: e.code, message: e.message, retryable: e.retryable });
    }
  }

  /** Reserves the conformed length (budget checked again, atomically) and hands the job on. */
  async function finish(job: JobRecord, conform: JobConformRecord): Promise<void> {
    const maxSec = 120;
    const videoSec = conform.video?.media.durationSec ?? maxSec;
    const audioSec = conform.audio?.media.durationSec ?? maxSec;
    const estimatedSeconds =
      Math.round(
        estimateOutputSeconds({ videoSec, audioSec, videoExtension: job.input.videoExtension }) * 100,
      ) / 100;
    const refused = await o.store.transaction(async (tx) => {
      await tx.lockMember(job.memberId);
      const member = await tx.getMember(job.memberId);
      const current = await tx.lockJob(job.id);
      if (!member || !current || current.status !== 'preparing') return 'gone' as const;
      const budget = await budgetOf(tx, member, o.now());
      // The job's own provisional reservation is part of `reserved`; it is replaced, not added.
      const remaining =
        budget.limitSeconds === null
          ? null
          : budget.limitSeconds - budget.usedSeconds - budget.reservedSeconds + current.estimatedSeconds;
      if (remaining !== null && estimatedSeconds > remaining + 1e-9) {
        return { remaining: Math.max(0, Math.round(remaining * 100) / 100), limit: budget.limitSeconds };
      }
      await o.writer.update(job.id, { conform, estimatedSeconds, progress: 100 }, tx);
      return undefined;
    });
    if (refused === 'gone') return;
    if (refused) {
      await fail(job.id, {
        code: 'budget_exceeded',
        message: `The prepared inputs make ${estimatedSeconds} s of video, but only ${refused.remaining} s of your ${refused.limit} s budget remain. Choose a shorter clip or ask your relay admin for more.`,
        retryable: false,
      });
      return;
    }
    o.onReady(job);
  }

  async function fail(jobId: string, error: JobError): Promise<void> {
    await o.writer.modify(jobId, (job) =>
      isPreparable(job) ? { status: 'failed', error, etaMs: null, finishedAt: o.now() } : undefined,
    );
  }

  return {
    enqueue(jobId) {
      if (stopped || active.has(jobId)) return;
      const controller = new AbortController();
      active.set(jobId, controller);
      const work = prepare(jobId, controller).finally(() => {
        active.delete(jobId);
        running.delete(work);
      });
      running.add(work);
    },
    async cancel(jobId) {
      const controller = active.get(jobId);
      if (!controller) return undefined;
      controller.abort();
      const job = await o.writer.modify(jobId, (current) =>
        isPreparable(current) ? { status: 'canceled', etaMs: null, finishedAt: o.now() } : undefined,
      );
      // Handed on meanwhile: the tracker answers the cancel.
      return job?.status === 'canceled' ? job : undefined;
    },
    has: (jobId) => active.has(jobId),
    async stop() {
      stopped = true;
      for (const controller of active.values()) controller.abort();
      await Promise.allSettled([...running]);
    },
  };
}
