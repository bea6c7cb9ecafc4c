import type { Job } from '@retalk/core/relay';
import { isTerminalJobStatus } from '@retalk/core/status';
import { useEffect, useState } from 'preact/hooks';
import { t } from '../lib/i18n.js';
import { jobTitle, statusOf, timingLine } from '../lib/job-presenter.js';
import type { RelayConnection } from '../lib/relay-connection.js';
import { ConformNotes } from './conform-notes.js';
import { ProgressBar } from './progress-bar.js';
import { StatusPill } from './status-pill.js';

/** How often the picker asks the relay about the jobs it just started, in milliseconds. */
const REFRESH_INTERVAL_MS = 1_000;

/**
 * The jobs the picker just started, kept fresh from the relay while the window is open: status,
 * progress (the relay's `preparing` phase included) and what the relay changed to fit the limits.
 */
export function LiveJobs(props: { connection: RelayConnection; jobs: Job[] }) {
  const [jobs, setJobs] = useState(props.jobs);
  const [nowMs, setNowMs] = useState(Date.now());

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let current = props.jobs;
    const refresh = async () => {
      const next = await Promise.all(
        current.map((job) =>
          isTerminalJobStatus(job.status)
            ? job
            : props.connection.client.getJob(job.id, { signal: controller.signal }).catch(() => job),
        ),
      );
      if (controller.signal.aborted) return;
      current = next;
      setJobs(next);
      setNowMs(Date.now());
      if (next.some((job) => !isTerminalJobStatus(job.status)))
        timer = setTimeout(refresh, REFRESH_INTERVAL_MS);
    };
    timer = setTimeout(refresh, REFRESH_INTERVAL_MS);
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [props.connection, props.jobs]);

  return (
    <ul class="jobs live-jobs">
      {jobs.map((job) => (
        <li key={job.id} class="job" data-testid="picker-job" data-job-id={job.id} data-status={job.status}>
          <div class="row job-head">
            <strong class="grow job-title">{jobTitle(job)}</strong>
            <StatusPill status={job.status} />
          </div>
          {!isTerminalJobStatus(job.status) && (
            <ProgressBar
              value={job.progress}
              label={t('job.progressOf', { title: jobTitle(job) })}
              tone={statusOf(job.status).tone}
            />
          )}
          <div class="job-timing muted">{timingLine(job, nowMs)}</div>
          <ConformNotes conform={job.conform} />
        </li>
      ))}
    </ul>
  );
}
