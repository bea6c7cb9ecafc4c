import type { Job, ResultLink } from '@retalk/core/relay';
import { browser } from 'wxt/browser';
import { jobTitle } from './job-presenter.js';
import {
  dropJobs,
  MAX_REMOVED_JOB_IDS,
  mergeJobs,
  removedJobIdsItem,
  type TrackedJob,
  toRetryRequest,
  updateJobs,
} from './job-store.js';
import type { RelayConnection } from './relay-connection.js';

async function store(connection: RelayConnection, job: Job): Promise<void> {
  await updateJobs((jobs) =>
    mergeJobs(jobs, [job], { relayUrl: connection.settings.relayUrl, nowMs: Date.now() }),
  );
}

export async function cancelJob(connection: RelayConnection, jobId: string): Promise<void> {
  await store(connection, await connection.client.cancelJob(jobId));
}

/** Submits the same inputs again as a new job (uploads are reused while the relay keeps them). */
export async function retryJob(connection: RelayConnection, tracked: TrackedJob): Promise<Job> {
  const job = await connection.client.createJob(toRetryRequest(tracked.job), {
    idempotencyKey: `retry-${tracked.job.id}-${crypto.randomUUID()}`,
  });
  await store(connection, job);
  return job;
}

/** Forgets a job in this browser only, for good: it stays on the relay but is not pulled in again. */
export async function removeJob(jobId: string): Promise<void> {
  await removeJobs([jobId]);
}

/** Forgets several jobs for good ("Clear finished" in the history). */
export async function removeJobs(jobIds: readonly string[]): Promise<void> {
  const ids = new Set(jobIds);
  const removed = await removedJobIdsItem.getValue();
  await removedJobIdsItem.setValue(
    [...removed.filter((id) => !ids.has(id)), ...jobIds].slice(-MAX_REMOVED_JOB_IDS),
  );
  await dropJobs(jobIds);
}

export function resultLink(connection: RelayConnection, jobId: string): Promise<ResultLink> {
  return connection.client.resultUrl(jobId);
}

/**
 * A file name for the download: the job's title in any script (a Chinese title stays Chinese,
 * finding 24), with what file systems and `downloads` refuse turned into dashes.
 */
export function resultFilename(job: Job): string {
  const slug = [
    ...jobTitle(job)
      .normalize('NFC')
      .toLowerCase()
      // Letters and digits of every script, and combining marks; the rest separates words.
      .replace(/[^\p{L}\p{N}\p{M}]+/gu, '-')
      .replace(/^-+|-+$/g, ''),
  ]
    // Whole characters, so a cut never splits a surrogate pair.
    .slice(0, 60)
    .join('')
    .replace(/-+$/, '');
  return `retalk-${slug || job.id}.mp4`;
}

/** Downloads the result through the relay's signed link (downloads cannot send an auth header). */
export async function downloadResult(connection: RelayConnection, job: Job): Promise<number> {
  const link = await resultLink(connection, job.id);
  return browser.downloads.download({
    url: link.url,
    filename: resultFilename(job),
    conflictAction: 'uniquify',
  });
}
