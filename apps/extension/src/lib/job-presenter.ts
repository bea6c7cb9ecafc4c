import type { Job, JobError, JobStatus } from '@retalk/core/relay';
import { formatDurationMs } from './time-format.js';

export type StatusTone = 'active' | 'ok' | 'bad' | 'idle';

const STATUS: Record<JobStatus, { label: string; tone: StatusTone }> = {
  received: { label: 'Waiting', tone: 'active' },
  preparing: { label: 'Preparing', tone: 'active' },
  submitted: { label: 'Submitted', tone: 'active' },
  queued: { label: 'Queued', tone: 'active' },
  running: { label: 'Running', tone: 'active' },
  succeeded: { label: 'Done', tone: 'ok' },
  failed: { label: 'Failed', tone: 'bad' },
  canceled: { label: 'Canceled', tone: 'idle' },
};

export function statusOf(status: JobStatus): { label: string; tone: StatusTone } {
  return STATUS[status];
}

/** A job's display name: its title, else the page's host, else its id. */
export function jobTitle(job: Job): string {
  if (job.title) return job.title;
  if (job.sourcePageUrl) {
    try {
      return new URL(job.sourcePageUrl).host;
    } catch {
      // not a URL: fall through
    }
  }
  return `Job ${job.id}`;
}

/** "42% · about 1 min left · 2 min elapsed" and its finished/failed counterparts. */
export function timingLine(job: Job, nowMs: number): string {
  const started = Date.parse(job.createdAt);
  const finished = job.finishedAt ? Date.parse(job.finishedAt) : Number.NaN;
  if (job.status === 'succeeded') {
    const took = Number.isNaN(finished) ? '' : ` in ${formatDurationMs(finished - started)}`;
    const seconds = job.billedSeconds ?? job.estimatedSeconds;
    return `Finished${took} · ${Math.round(seconds * 10) / 10} s of video`;
  }
  if (job.status === 'failed' || job.status === 'canceled') {
    return Number.isNaN(finished) ? '' : `After ${formatDurationMs(finished - started)}`;
  }
  const parts = [`${Math.round(job.progress)}%`];
  if (job.etaMs !== undefined) parts.push(`about ${formatDurationMs(job.etaMs)} left`);
  if (job.status === 'received') parts.push('waiting for its turn at the relay');
  if (job.status === 'preparing')
    parts.push(
      job.progress >= 100 ? 'inputs ready, waiting for its turn' : 'fitting the inputs to the limits',
    );
  parts.push(`${formatDurationMs(nowMs - started)} elapsed`);
  return parts.join(' · ');
}

/** What happened and what to do, for a failed job. */
export function explainJobError(error: JobError | undefined): { what: string; todo: string } {
  if (!error)
    return {
      what: 'The job failed without a reason.',
      todo: 'Retry it; if it fails again, ask your relay admin.',
    };
  // The relay fills `hint` from core's provider table; an older relay sends none.
  const todo =
    error.hint ??
    (error.retryable
      ? 'Retry: this kind of failure is often temporary.'
      : 'Change the input and submit again.');
  return { what: `${error.message} (${error.code})`, todo };
}
