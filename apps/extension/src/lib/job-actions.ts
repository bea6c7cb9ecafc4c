import type { Job, ResultLink } from '@retalk/core/relay';
import { browser } from 'wxt/browser';
import { jobTitle } from './job-presenter.js';
import { mergeJobs, type TrackedJob, toRetryRequest, updateJobs } from './job-store.js';
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

/** Forgets a job in this browser only; it stays on the relay. */
export async function removeJob(jobId: string): Promise<void> {
  await updateJobs((jobs) => jobs.filter((t) => t.job.id !== jobId));
}

export function resultLink(connection: RelayConnection, jobId: string): Promise<ResultLink> {
  return connection.client.resultUrl(jobId);
}

/** A file name for the download: the job's title as a slug. */
export function resultFilename(job: Job): string {
  const slug = jobTitle(job)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);
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
