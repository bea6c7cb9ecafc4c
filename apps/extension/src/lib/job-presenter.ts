import type { Job, JobError, JobStatus } from '@retalk/core/relay';
import { jobAdvice } from './errors.js';
import { t } from './i18n.js';
import type { TrackedJob } from './job-store.js';
import { formatDurationMs, formatNumber, formatPercent } from './time-format.js';

export type StatusTone = 'active' | 'ok' | 'bad' | 'idle';

const TONE: Record<JobStatus, StatusTone> = {
  received: 'active',
  preparing: 'active',
  submitted: 'active',
  queued: 'active',
  running: 'active',
  succeeded: 'ok',
  failed: 'bad',
  canceled: 'idle',
};

export function statusOf(status: JobStatus): { label: string; tone: StatusTone } {
  return { label: t(`status.${status}`), tone: TONE[status] };
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
  return t('job.untitled', { id: job.id });
}

/** The audio's name: as the picker kept it, else the last part of an audio URL. */
export function audioNameOf(tracked: Pick<TrackedJob, 'job' | 'audioName'>): string | undefined {
  if (tracked.audioName) return tracked.audioName;
  const { audio } = tracked.job.input;
  if (!('url' in audio) || !audio.url) return undefined;
  try {
    const last = new URL(audio.url).pathname.split('/').filter(Boolean).at(-1);
    return last ? decodeURIComponent(last) : undefined;
  } catch {
    return undefined;
  }
}

/** "42% · about 1 min left · 2 min elapsed" and its finished/failed counterparts. */
export function timingLine(job: Job, nowMs: number): string {
  const started = Date.parse(job.createdAt);
  const finished = job.finishedAt ? Date.parse(job.finishedAt) : Number.NaN;
  if (job.status === 'succeeded') {
    const seconds = t('units.seconds', { n: formatNumber(job.billedSeconds ?? job.estimatedSeconds) });
    return Number.isNaN(finished)
      ? t('job.finished', { seconds })
      : t('job.finishedIn', { duration: formatDurationMs(finished - started), seconds });
  }
  if (job.status === 'failed' || job.status === 'canceled') {
    return Number.isNaN(finished) ? '' : t('job.after', { duration: formatDurationMs(finished - started) });
  }
  const parts = [formatPercent(job.progress)];
  if (job.etaMs !== undefined) parts.push(t('job.left', { duration: formatDurationMs(job.etaMs) }));
  if (job.status === 'received') parts.push(t('job.waitingTurn'));
  if (job.status === 'preparing') parts.push(job.progress >= 100 ? t('job.inputsReady') : t('job.fitting'));
  parts.push(t('job.elapsed', { duration: formatDurationMs(nowMs - started) }));
  return parts.join(' · ');
}

/**
 * A failed job in the member's words: `what` leads (the local advice for its code, in the UI's
 * language), `detail` is what the relay or provider said (often English), shown as a secondary
 * line. For a code this extension has no message for, the raw message leads and `todo` is the
 * relay's `hint` (English, from core's tables) or whether a retry can help; an older relay sends none.
 */
export function explainJobError(error: JobError | undefined): {
  what: string;
  todo?: string;
  detail?: string;
} {
  if (!error) return { what: t('job.failedNoReason'), todo: t('job.failedNoReasonTodo') };
  const raw = t('job.failedWhat', { message: error.message, code: error.code });
  const advice = jobAdvice(error.code);
  if (advice !== undefined) return { what: advice, detail: raw };
  return {
    what: raw,
    todo: error.hint ?? (error.retryable ? t('job.failedRetryable') : t('job.failedChangeInput')),
  };
}
