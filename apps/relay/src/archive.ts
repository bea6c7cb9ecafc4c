import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { sleep } from '@retalk/core';
import type { FastifyBaseLogger } from 'fastify';
import type { JobWriter } from './jobs.js';
import type { Metrics } from './metrics.js';
import { type FileStorage, TooLargeError } from './storage/local.js';
import type { RelayStore } from './store/types.js';
import { UrlRefusedError } from './url-guard.js';

export interface ArchiverOptions {
  store: RelayStore;
  writer: JobWriter;
  storage: FileStorage;
  log: FastifyBaseLogger;
  metrics: Metrics;
  now: () => number;
  /** How long the relay keeps a result, in milliseconds. */
  retentionMs: number;
  /** Waits between download attempts, in milliseconds; their count is the number of retries. */
  retryDelaysMs: readonly number[];
  /**
   * Downloads the provider's result link. The relay passes a URL-guarded fetch (createGuardedFetch):
   * a refusal (UrlRefusedError) fails the job instead of being retried. Default: global fetch.
   */
  fetch?: typeof fetch;
}

/** Bytes per second of output a result may take (25 Mbit/s, far above a lip-synced clip's bitrate). */
const RESULT_BYTES_PER_SECOND = 3 * 1024 * 1024;
/** Slack on top, for containers and very short clips. */
const RESULT_BASE_BYTES = 16 * 1024 * 1024;

/** The largest result the relay keeps for a job of `seconds` of output (findings M5: 1.2 GB for 3 s). */
export function resultMaxBytes(seconds: number): number {
  return RESULT_BASE_BYTES + Math.ceil(Math.max(0, seconds) * RESULT_BYTES_PER_SECOND);
}

/** True when the file starts with an ISO BMFF `ftyp` box, as every MP4 encoder writes it. */
async function startsLikeMp4(filePath: string): Promise<boolean> {
  const head = Buffer.alloc(8);
  const handle = await open(filePath, 'r');
  try {
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    return bytesRead === 8 && head.readUInt32BE(0) >= 8 && head.toString('latin1', 4, 8) === 'ftyp';
  } finally {
    await handle.close();
  }
}

/** The provider's result is not something the relay will keep or serve (too large, not an MP4). */
class ResultRejectedError extends Error {
  override name = 'ResultRejectedError' as const;
}

export interface Archiver {
  /** Copies the job's result into storage now (retrying), then marks the job `succeeded`. */
  enqueue(jobId: string): void;
  /** Deletes results past retention and expired uploads no live job needs. */
  sweep(): Promise<{ results: number; uploads: number }>;
  stop(): Promise<void>;
}

export function createArchiver(o: ArchiverOptions): Archiver {
  const active = new Map<string, Promise<void>>();
  const controller = new AbortController();
  const doFetch = o.fetch ?? globalThis.fetch;

  async function attempt(
    jobId: string,
    url: string,
    maxBytes: number,
  ): Promise<{ sizeBytes: number; sha256: string }> {
    const response = await doFetch(url, { signal: controller.signal });
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      throw new Error(`result download answered HTTP ${response.status}`);
    }
    const key = `results/${jobId}.mp4`;
    const expected = Number(response.headers.get('content-length'));
    const tooLarge = () =>
      new ResultRejectedError(`the result is larger than the ${maxBytes} bytes this job's length allows`);
    if (expected > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw tooLarge();
    }
    let stored: { sizeBytes: number; sha256: string };
    try {
      stored = await o.storage.write(
        key,
        Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>),
        { signal: controller.signal, maxBytes },
      );
    } catch (error) {
      if (error instanceof TooLargeError) throw tooLarge();
      throw error;
    }
    if (Number.isFinite(expected) && expected > 0 && stored.sizeBytes !== expected) {
      await o.storage.remove(key);
      throw new Error(`result download was cut short (${stored.sizeBytes} of ${expected} bytes)`);
    }
    if (!(await startsLikeMp4(o.storage.pathOf(key)))) {
      await o.storage.remove(key);
      throw new ResultRejectedError('the result is not an MP4 file');
    }
    return stored;
  }

  // The provider called the job done but handed over something that is not its video: keeping or
  // serving it would be worse than failing, and failed jobs count nothing against the budget.
  async function reject(jobId: string, error: ResultRejectedError, attempts: number): Promise<void> {
    o.metrics.inc('retalk_archive_total', { outcome: 'rejected' });
    o.log.error(
      { jobId, reason: error.message },
      "archiving refused: the provider's result is not a valid video",
    );
    await o.writer.update(jobId, {
      status: 'failed',
      etaMs: null,
      finishedAt: o.now(),
      billedSeconds: null,
      archiveAttempts: attempts,
      error: {
        code: 'result_invalid',
        message:
          "The provider's result was not a valid video (not an MP4, or far larger than the job's length allows), so the relay did not keep it. Nothing was charged to your budget; submit the job again, and tell your relay admin if it keeps happening.",
        retryable: true,
      },
    });
  }

  // The provider handed back a link the relay must not fetch (a private address, a bad redirect):
  // retrying cannot help and redirecting members there would be worse, so the job fails; failed
  // jobs count nothing against the budget, and submitting again gets a fresh link.
  async function refuse(jobId: string, error: UrlRefusedError, attempts: number): Promise<void> {
    o.metrics.inc('retalk_archive_total', { outcome: 'refused' });
    o.log.error(
      { jobId, reason: error.message },
      "archiving refused: the provider's result link is not an allowed URL (see RETALK_ALLOWED_INPUT_HOSTS)",
    );
    await o.writer.update(jobId, {
      status: 'failed',
      etaMs: null,
      finishedAt: o.now(),
      billedSeconds: null,
      archiveAttempts: attempts,
      error: {
        code: 'result_url_not_allowed',
        message:
          "The relay refused to download the provider's result link (it points at an address the relay may not fetch). Nothing was charged to your budget; submit the job again, and tell your relay admin if it keeps happening (the relay's log names the reason).",
        retryable: true,
      },
    });
  }

  async function run(jobId: string): Promise<void> {
    const job = await o.store.getJob(jobId);
    if (!job || job.upstreamResultUrl === null || job.resultKey !== null) return;
    for (let i = 0; i <= o.retryDelaysMs.length; i++) {
      if (controller.signal.aborted) return;
      try {
        const stored = await attempt(jobId, job.upstreamResultUrl, resultMaxBytes(job.estimatedSeconds));
        o.metrics.inc('retalk_archive_total', { outcome: 'ok' });
        const now = o.now();
        await o.writer.update(jobId, {
          status: 'succeeded',
          progress: 100,
          etaMs: null,
          finishedAt: now,
          resultKey: `results/${jobId}.mp4`,
          resultSizeBytes: stored.sizeBytes,
          resultSha256: stored.sha256,
          // Whatever the provider labelled it: the bytes passed the MP4 check (findings L14).
          resultContentType: 'video/mp4',
          resultExpiresAt: now + o.retentionMs,
          archiveAttempts: job.archiveAttempts + i + 1,
        });
        return;
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof UrlRefusedError) {
          await refuse(jobId, error, job.archiveAttempts + i + 1);
          return;
        }
        if (error instanceof ResultRejectedError) {
          await reject(jobId, error, job.archiveAttempts + i + 1);
          return;
        }
        o.metrics.inc('retalk_archive_total', { outcome: 'error' });
        o.log.warn(
          { jobId, attempt: i + 1, err: error instanceof Error ? error.message : String(error) },
          'archiving the result failed',
        );
        const delay = o.retryDelaysMs[i];
        // Ends early (without an error) when the archiver stops; no listener outlives the wait.
        if (delay !== undefined) await sleep(delay, controller.signal).catch(() => undefined);
      }
    }
    // Out of retries: the job is done upstream, so it succeeds; downloads are redirected to the
    // provider's link while it lives.
    await o.writer.update(jobId, {
      status: 'succeeded',
      progress: 100,
      finishedAt: o.now(),
      archiveAttempts: job.archiveAttempts + o.retryDelaysMs.length + 1,
    });
  }

  return {
    enqueue(jobId) {
      if (active.has(jobId)) return;
      const p = run(jobId)
        .catch((error) => o.log.error({ jobId, err: String(error) }, 'archiving the result failed'))
        .finally(() => active.delete(jobId));
      active.set(jobId, p);
    },
    async sweep() {
      const now = o.now();
      let results = 0;
      let uploads = 0;
      for (const job of await o.store.listExpiredResults(now)) {
        await o.storage.remove(job.resultKey as string);
        await o.writer.update(job.id, { resultKey: null, resultSizeBytes: null, resultSha256: null });
        results++;
      }
      for (const upload of await o.store.listExpiredUploads(now)) {
        if (await o.store.isUploadReferenced(upload.id)) continue;
        await o.storage.remove(upload.storageKey);
        await o.store.deleteUpload(upload.id);
        uploads++;
      }
      await o.store.pruneEvents(now - 7 * 86_400_000);
      return { results, uploads };
    },
    async stop() {
      controller.abort();
      await Promise.allSettled([...active.values()]);
    },
  };
}
