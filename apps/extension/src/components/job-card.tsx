import type { ResultLink } from '@retalk/core/relay';
import { useEffect, useRef, useState } from 'preact/hooks';
import { toErrorMessage } from '../lib/errors.js';
import { t } from '../lib/i18n.js';
import { audioNameOf, explainJobError, jobTitle, statusOf, timingLine } from '../lib/job-presenter.js';
import { dropJobs, isActive, type TrackedJob } from '../lib/job-store.js';
import { formatDateTime, formatTime } from '../lib/time-format.js';
import { ConformNotes } from './conform-notes.js';
import { ProgressBar } from './progress-bar.js';
import { StatusPill } from './status-pill.js';

export type JobCardActions = {
  cancel(jobId: string): Promise<void>;
  retry(tracked: TrackedJob): Promise<void>;
  remove(jobId: string): Promise<void>;
  link(jobId: string): Promise<ResultLink>;
  download(tracked: TrackedJob): Promise<void>;
};

function notConnected(): Promise<never> {
  return Promise.reject(new Error(t('popup.notConnected')));
}

/** What a card can do while no relay is connected: only forget a job (the rest say why not). */
export const OFFLINE_ACTIONS: JobCardActions = {
  cancel: notConnected,
  retry: notConnected,
  remove: (id) => dropJobs([id]),
  link: notConnected,
  download: notConnected,
};

function hostOf(url: string | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

export function JobCard(props: {
  tracked: TrackedJob;
  nowMs: number;
  actions: JobCardActions;
  highlight?: boolean;
  /** Inside a group card: the job's own part of the title (its audio), the group shows the rest. */
  label?: string;
}) {
  const { tracked, actions } = props;
  const { job } = tracked;
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: 'ok' | 'bad'; text: string } | null>(null);
  const [preview, setPreview] = useState<ResultLink | null>(null);
  const item = useRef<HTMLLIElement>(null);
  // A notification's job is scrolled into view, wherever it is in the list (finding 15).
  useEffect(() => {
    if (props.highlight) item.current?.scrollIntoView({ block: 'center' });
  }, [props.highlight]);
  const title = props.label ?? jobTitle(job);
  const tone = statusOf(job.status).tone;
  const page = hostOf(job.sourcePageUrl);
  const audio = audioNameOf(tracked);

  async function run(name: string, action: () => Promise<string | undefined>) {
    setBusy(name);
    setMessage(null);
    try {
      const done = await action();
      if (done) setMessage({ tone: 'ok', text: done });
    } catch (error) {
      setMessage({ tone: 'bad', text: toErrorMessage(error) });
    } finally {
      setBusy(null);
    }
  }

  const failed = job.status === 'failed' ? explainJobError(job.error) : null;
  const canRetry = job.status === 'failed' || job.status === 'canceled';
  return (
    <li
      ref={item}
      class={`job${props.highlight ? ' highlight' : ''}`}
      data-job-id={job.id}
      data-status={job.status}
      aria-label={title}
    >
      <div class="row job-head">
        {tracked.thumbnail && <img class="job-thumb" src={tracked.thumbnail} alt="" />}
        <strong class="grow job-title" title={title}>
          {title}
        </strong>
        <StatusPill status={job.status} />
      </div>
      <div class="row job-meta muted">
        {page && job.sourcePageUrl && props.label === undefined && (
          <a class="job-page muted" href={job.sourcePageUrl} target="_blank" rel="noreferrer">
            {page}
          </a>
        )}
        <time dateTime={job.createdAt} data-testid="job-date">
          {formatDateTime(job.createdAt)}
        </time>
        {audio && (
          <span class="job-audio" title={audio} data-testid="job-audio">
            {t('job.audio', { name: audio })}
          </span>
        )}
      </div>
      {(isActive(tracked) || job.status === 'succeeded') && (
        <ProgressBar
          value={job.status === 'succeeded' ? 100 : job.progress}
          label={t('job.progressOf', { title })}
          tone={tone}
        />
      )}
      <div class="job-timing muted">{timingLine(job, props.nowMs)}</div>
      <ConformNotes conform={job.conform} />
      {failed && (
        <div class="notice bad" role="status">
          <strong data-testid="job-error">{failed.what}</strong>
          {failed.todo && <div>{failed.todo}</div>}
          {failed.detail && (
            <div class="error-detail" data-testid="job-error-detail">
              {failed.detail}
            </div>
          )}
        </div>
      )}
      {tracked.syncError && <div class="notice warn">{tracked.syncError}</div>}
      {preview && (
        <div class="preview">
          {/* biome-ignore lint/a11y/useMediaCaption: the result is a generated video without captions */}
          <video src={preview.url} controls preload="metadata" />
          <a class="result-link" href={preview.url} target="_blank" rel="noreferrer">
            {t('job.openInTab')}
          </a>
        </div>
      )}
      <div class="row job-actions">
        {job.status === 'succeeded' && (
          <>
            <button
              type="button"
              disabled={busy !== null}
              onClick={() =>
                run('preview', async () => {
                  if (preview) setPreview(null);
                  else setPreview(await actions.link(job.id));
                  return undefined;
                })
              }
            >
              {preview ? t('job.hidePreview') : t('job.preview')}
            </button>
            <button
              type="button"
              class="primary"
              disabled={busy !== null}
              onClick={() =>
                run('download', async () => {
                  await actions.download(tracked);
                  return t('job.downloadStarted');
                })
              }
            >
              {t('job.download')}
            </button>
            <button
              type="button"
              disabled={busy !== null}
              onClick={() =>
                run('copy', async () => {
                  const link = await actions.link(job.id);
                  await navigator.clipboard.writeText(link.url);
                  return t('job.linkCopied', { time: formatTime(new Date(link.expiresAt)) });
                })
              }
            >
              {t('job.copyLink')}
            </button>
          </>
        )}
        {isActive(tracked) && job.cancelable && (
          <button
            type="button"
            class="danger"
            disabled={busy !== null}
            onClick={() =>
              run('cancel', async () => {
                await actions.cancel(job.id);
                return undefined;
              })
            }
          >
            {t('common.cancel')}
          </button>
        )}
        {canRetry && (
          <button
            type="button"
            disabled={busy !== null}
            onClick={() =>
              run('retry', async () => {
                await actions.retry(tracked);
                return t('job.retried');
              })
            }
          >
            {t('job.retry')}
          </button>
        )}
        {!isActive(tracked) && (
          <button
            type="button"
            class="link"
            disabled={busy !== null}
            aria-label={t('job.removeLabel', { title })}
            onClick={() =>
              run('remove', async () => {
                await actions.remove(job.id);
                return undefined;
              })
            }
          >
            {t('job.remove')}
          </button>
        )}
      </div>
      {message && (
        <div class={`notice ${message.tone}`} role="status">
          {message.text}
        </div>
      )}
    </li>
  );
}
