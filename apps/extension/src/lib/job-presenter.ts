import type { Job, JobError, JobStatus } from '@retalk/core/relay';
import { formatDurationMs } from './time-format.js';

export type StatusTone = 'active' | 'ok' | 'bad' | 'idle';

const STATUS: Record<JobStatus, { label: string; tone: StatusTone }> = {
  received: { label: 'Waiting', tone: 'active' },
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
  const code = error.code.toLowerCase();
  let todo = error.retryable
    ? 'Retry: this kind of failure is often temporary.'
    : 'Change the input and submit again.';
  if (code.includes('face') || code.includes('human') || code.includes('noface')) {
    todo = 'No usable face was found. Pick the speaker’s face in the picker, or lower the face threshold.';
  } else if (
    code.includes('fps') ||
    code.includes('resolution') ||
    code.includes('duration') ||
    code.includes('size')
  ) {
    todo =
      'The video is outside the provider’s limits (2–120 s, 15–60 fps, 640–2048 px). Use another source.';
  } else if (code.includes('timeout')) {
    todo = 'The provider took too long. Retry, or try a shorter clip.';
  } else if (code.includes('url') || code.includes('download')) {
    todo = 'The provider could not fetch an input. Retry; pages behind a login need the video uploaded.';
  }
  return { what: `${error.message} (${error.code})`, todo };
}
