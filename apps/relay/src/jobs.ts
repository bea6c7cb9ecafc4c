import { randomBytes } from 'node:crypto';
import { jobErrorHint, PROVIDER_CAPABILITIES, type Provider } from '@retalk/core';
import type { ConformMode, Job, JobConform, JobInput } from '@retalk/core/relay';
import type { EventBus } from './event-bus.js';
import type { JobInputRecord, JobRecord, RelayStore, RelayTransaction } from './store/types.js';

const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());

function inputView(input: JobInput): JobInput {
  const view: JobInput =
    input.url !== undefined ? { url: input.url } : { uploadId: input.uploadId as string };
  if (input.startSec !== undefined) view.startSec = input.startSec;
  if (input.endSec !== undefined) view.endSec = input.endSec;
  if (input.sourceOffsetSec !== undefined) view.sourceOffsetSec = input.sourceOffsetSec;
  return view;
}

function conformView(job: JobRecord): JobConform | undefined {
  if (job.conform === null) return undefined;
  const out: JobConform = { mode: job.conformMode };
  for (const name of ['video', 'audio', 'refImage'] as const) {
    const prepared = job.conform[name];
    if (prepared) out[name] = { changes: prepared.changes, media: prepared.media };
  }
  return out;
}

/** What a member's request decides about a new job; everything else starts empty. */
export interface NewJob {
  memberId: string;
  provider: Provider;
  input: JobInputRecord;
  conformMode: ConformMode;
  /** True when the inputs go through `preparing` first (URL inputs, or a conform to run). */
  needsPreparation: boolean;
  /** Output seconds reserved from the member's budget. */
  estimatedSeconds: number;
  title?: string | undefined;
  sourcePageUrl?: string | undefined;
  idempotencyKey: string | null;
  requestHash: string | null;
}

/** A job as it is stored when accepted: `received`, nothing sent or measured yet. */
export function newJobRecord(job: NewJob, now: number): JobRecord {
  return {
    id: `job_${randomBytes(12).toString('base64url')}`,
    memberId: job.memberId,
    status: 'received',
    progress: 0,
    etaMs: null,
    provider: job.provider,
    upstreamId: null,
    upstreamName: null,
    title: job.title ?? null,
    sourcePageUrl: job.sourcePageUrl ?? null,
    input: job.input,
    conformMode: job.conformMode,
    conform: job.needsPreparation ? { ready: false } : null,
    estimatedSeconds: job.estimatedSeconds,
    billedSeconds: null,
    error: null,
    submitStartedAt: null,
    // The provider's callbacks come back to a URL only this job's token opens.
    callbackToken: randomBytes(24).toString('base64url'),
    idempotencyKey: job.idempotencyKey,
    requestHash: job.requestHash,
    cancelRequested: false,
    upstreamResultUrl: null,
    upstreamResultExpiresAt: null,
    resultKey: null,
    resultSizeBytes: null,
    resultSha256: null,
    resultContentType: null,
    resultExpiresAt: null,
    archiveAttempts: 0,
    createdAt: now,
    updatedAt: now,
    submittedAt: null,
    startedAt: null,
    finishedAt: null,
  };
}

/** Whether a cancel can work now: in the relay's own queue always; upstream as the provider allows (DashScope: while queued). */
export function isCancelable(job: JobRecord): boolean {
  if (job.status === 'received' || job.status === 'preparing') return job.submitStartedAt === null;
  if (PROVIDER_CAPABILITIES[job.provider].cancel === 'queued') {
    return job.status === 'submitted' || job.status === 'queued';
  }
  return false;
}

/** The public (API) form of a job. */
export function toPublicJob(job: JobRecord): Job {
  const out: Job = {
    id: job.id,
    status: job.status,
    progress: Math.round(job.progress * 10) / 10,
    provider: job.provider,
    input: {
      video: inputView(job.input.video),
      audio: inputView(job.input.audio),
      videoExtension: job.input.videoExtension,
    },
    estimatedSeconds: job.estimatedSeconds,
    cancelable: isCancelable(job),
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
  };
  if (job.input.refImage) out.input.refImage = inputView(job.input.refImage);
  if (job.input.faceThreshold !== undefined) out.input.faceThreshold = job.input.faceThreshold;
  if (job.etaMs !== null) out.etaMs = job.etaMs;
  if (job.upstreamId !== null) out.upstreamId = job.upstreamId;
  if (job.title !== null) out.title = job.title;
  if (job.sourcePageUrl !== null) out.sourcePageUrl = job.sourcePageUrl;
  if (job.billedSeconds !== null) out.billedSeconds = job.billedSeconds;
  if (job.error !== null) {
    // The advice comes from one table (core's), so no client guesses it from the code.
    const hint = job.error.hint ?? jobErrorHint(job.provider, job.error.code);
    out.error = hint === undefined ? job.error : { ...job.error, hint };
  }
  const conform = conformView(job);
  if (conform) out.conform = conform;
  // Unarchived (the archiver gave up) results are served from the provider link; a result deleted
  // by retention keeps its resultExpiresAt and is no longer offered.
  const unarchived =
    job.status === 'succeeded' && job.upstreamResultUrl !== null && job.resultExpiresAt === null;
  if (job.resultKey !== null || unarchived) {
    out.result = { archived: job.resultKey !== null, path: `/v1/jobs/${job.id}/result` };
    if (job.resultSizeBytes !== null) out.result.sizeBytes = job.resultSizeBytes;
    if (job.resultContentType !== null) out.result.contentType = job.resultContentType;
    if (job.resultSha256 !== null) out.result.sha256 = job.resultSha256;
    const expires = iso(job.resultExpiresAt);
    if (expires) out.result.expiresAt = expires;
  }
  const submitted = iso(job.submittedAt);
  if (submitted) out.submittedAt = submitted;
  const started = iso(job.startedAt);
  if (started) out.startedAt = started;
  const finished = iso(job.finishedAt);
  if (finished) out.finishedAt = finished;
  return out;
}

export type JobPatch = Partial<Omit<JobRecord, 'id' | 'memberId' | 'createdAt' | 'updatedAt'>>;

/** Every job write goes through here: the row, its event and the live push happen together. */
export interface JobWriter {
  /** Inserts the job and its event; inside `tx` when one is given, else in a transaction of its own. */
  insert(job: JobRecord, tx?: RelayTransaction): Promise<JobRecord>;
  /** Applies `patch` and records the event; inside `tx` when one is given. */
  update(id: string, patch: JobPatch, tx?: RelayTransaction): Promise<JobRecord>;
  /**
   * Reads the job locked, asks `decide` for a patch from what is stored now, and writes it — one
   * transaction, so no other write lands between the read and the write. Answers the job as stored
   * afterwards (unchanged when `decide` answers undefined), or undefined when there is no such job.
   */
  modify(
    id: string,
    decide: (job: JobRecord, tx: RelayTransaction) => JobPatch | undefined | Promise<JobPatch | undefined>,
  ): Promise<JobRecord | undefined>;
  /**
   * The job's API JSON, from memory when this process wrote or read it last. Every job write of this
   * process goes through this writer; writes of other instances on the same database arrive as
   * notices and call {@link forget}.
   */
  publicJson(id: string): Promise<{ memberId: string; json: string } | undefined>;
  /** Drops the job's cached JSON (another instance wrote it). */
  forget(id: string): void;
  /** Drops every cached JSON (notices may have been missed). */
  forgetAll(): void;
}

export interface JobWriterOptions {
  /** Runs in the transaction that inserts a job (the creating instance leases it there). */
  onInsert?: ((tx: RelayTransaction, job: JobRecord) => Promise<void>) | undefined;
  /**
   * False when events reach the bus another way (PostgreSQL notices, in commit order across
   * instances): the writer then does not push its own, which could overtake another instance's.
   */
  publish?: boolean | undefined;
}

const JSON_CACHE_LIMIT = 10_000;

export function createJobWriter(
  store: RelayStore,
  bus: EventBus,
  now: () => number,
  options: JobWriterOptions = {},
): JobWriter {
  const publish = options.publish ?? true;
  const cache = new Map<string, { memberId: string; json: string }>();
  // Counts committed writes, so a read racing a write never caches what the write replaced.
  let commits = 0;
  function remember(id: string, entry: { memberId: string; json: string }): void {
    cache.delete(id);
    if (cache.size >= JSON_CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(id, entry);
  }
  async function record(tx: RelayTransaction, job: JobRecord): Promise<void> {
    const json = JSON.stringify(toPublicJob(job));
    const payload = `{"job":${json}}`;
    const seq = await tx.appendEvent(job.memberId, job.id, payload, job.updatedAt);
    // Announced once committed: a rolled-back write is never pushed, nor cached.
    tx.afterCommit(() => {
      commits++;
      remember(job.id, { memberId: job.memberId, json });
      if (publish) queueMicrotask(() => bus.publish(job.memberId, { seq, payload }));
    });
  }
  /** Runs `fn` in `tx` when given, else in a transaction of its own; a failure drops the cached JSON. */
  async function within<T>(
    id: string,
    tx: RelayTransaction | undefined,
    fn: (tx: RelayTransaction) => Promise<T>,
  ): Promise<T> {
    try {
      return tx ? await fn(tx) : await store.transaction(fn);
    } catch (error) {
      cache.delete(id);
      throw error;
    }
  }
  async function write(tx: RelayTransaction, id: string, patch: JobPatch): Promise<JobRecord> {
    const job = await tx.updateJob(id, { ...patch, updatedAt: now() });
    await record(tx, job);
    return job;
  }
  return {
    insert: (job, tx) =>
      within(job.id, tx, async (t) => {
        await t.insertJob(job);
        await options.onInsert?.(t, job);
        await record(t, job);
        return job;
      }),
    update: (id, patch, tx) => within(id, tx, (t) => write(t, id, patch)),
    modify: (id, decide) =>
      within(id, undefined, async (tx) => {
        const job = await tx.lockJob(id);
        if (!job) return undefined;
        const patch = await decide(job, tx);
        return patch === undefined ? job : write(tx, id, patch);
      }),
    async publicJson(id) {
      const hit = cache.get(id);
      if (hit) return hit;
      const before = commits;
      const job = await store.getJob(id);
      if (!job) return undefined;
      const entry = { memberId: job.memberId, json: JSON.stringify(toPublicJob(job)) };
      if (commits === before && !cache.has(id)) remember(id, entry);
      return entry;
    },
    forget(id) {
      // Counted like a commit: a read that began before the other instance's write is not cached.
      commits++;
      cache.delete(id);
    },
    forgetAll() {
      commits++;
      cache.clear();
    },
  };
}
