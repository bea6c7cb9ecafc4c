import { jobErrorHint, PROVIDER_CAPABILITIES } from '@retalk/core';
import type { Job, JobConform, JobInput } from '@retalk/core/relay';
import type { EventBus } from './event-bus.js';
import type { JobRecord, RelayStore } from './store/types.js';

const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());

function inputView(input: JobInput): JobInput {
  const view: JobInput =
    input.url !== undefined ? { url: input.url } : { uploadId: input.uploadId as string };
  if (input.startSec !== undefined) view.startSec = input.startSec;
  if (input.endSec !== undefined) view.endSec = input.endSec;
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
  insert(job: JobRecord): JobRecord;
  update(id: string, patch: JobPatch): JobRecord;
  /**
   * The job's API JSON, from memory when this process wrote or read it last. Every job write goes
   * through this writer, so the cache cannot go stale (one relay process per data dir).
   */
  publicJson(id: string): { memberId: string; json: string } | undefined;
}

const JSON_CACHE_LIMIT = 10_000;

export function createJobWriter(store: RelayStore, bus: EventBus, now: () => number): JobWriter {
  const cache = new Map<string, { memberId: string; json: string }>();
  function remember(id: string, entry: { memberId: string; json: string }): void {
    cache.delete(id);
    if (cache.size >= JSON_CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(id, entry);
  }
  function record(job: JobRecord): void {
    const json = JSON.stringify(toPublicJob(job));
    remember(job.id, { memberId: job.memberId, json });
    const payload = `{"job":${json}}`;
    const seq = store.appendEvent(job.memberId, job.id, payload, job.updatedAt);
    queueMicrotask(() => bus.publish(job.memberId, { seq, payload }));
  }
  return {
    insert(job) {
      try {
        store.transaction(() => {
          store.insertJob(job);
          record(job);
        });
      } catch (error) {
        cache.delete(job.id);
        throw error;
      }
      return job;
    },
    update(id, patch) {
      try {
        return store.transaction(() => {
          const job = store.updateJob(id, { ...patch, updatedAt: now() });
          record(job);
          return job;
        });
      } catch (error) {
        cache.delete(id);
        throw error;
      }
    },
    publicJson(id) {
      const hit = cache.get(id);
      if (hit) return hit;
      const job = store.getJob(id);
      if (!job) return undefined;
      const entry = { memberId: job.memberId, json: JSON.stringify(toPublicJob(job)) };
      remember(id, entry);
      return entry;
    },
  };
}
