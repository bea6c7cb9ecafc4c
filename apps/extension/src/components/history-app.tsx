import { useEffect, useMemo, useState } from 'preact/hooks';
import { toErrorMessage } from '../lib/errors.js';
import { t } from '../lib/i18n.js';
import { audioNameOf, jobTitle, statusOf } from '../lib/job-presenter.js';
import { allJobs, isActive, jobHistoryItem, jobsItem, type TrackedJob } from '../lib/job-store.js';
import { formatNumber } from '../lib/time-format.js';
import { JobCard, type JobCardActions, OFFLINE_ACTIONS } from './job-card.js';

/** Cards drawn at first, and added by each "Show more": a long history stays quick to open. */
export const HISTORY_PAGE = 50;

/** What a search looks in: title, page, audio name, status and id, without case. */
function matches(tracked: TrackedJob, query: string): boolean {
  if (!query) return true;
  const { job } = tracked;
  const haystack = [
    jobTitle(job),
    job.sourcePageUrl,
    audioNameOf(tracked),
    statusOf(job.status).label,
    job.id,
  ]
    .filter(Boolean)
    .join('\n')
    .toLocaleLowerCase();
  return query
    .toLocaleLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => haystack.includes(word));
}

/**
 * Every job this browser keeps (the popup's recent ones and the older history), with search,
 * "Show more" in pages of HISTORY_PAGE and "Clear finished" (finding 13).
 */
export function HistoryApp(props: { initialJobs: TrackedJob[]; connected: boolean }) {
  const [jobs, setJobs] = useState(props.initialJobs);
  const [query, setQuery] = useState('');
  const [shown, setShown] = useState(HISTORY_PAGE);
  const [actions, setActions] = useState<JobCardActions | null>(null);
  const [confirmingClear, setConfirmingClear] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [nowMs, setNowMs] = useState(Date.now());

  useEffect(() => {
    const reload = () => void allJobs().then(setJobs);
    const stops = [jobsItem.watch(reload), jobHistoryItem.watch(reload)];
    return () => {
      for (const stop of stops) stop();
    };
  }, []);

  useEffect(() => {
    const ticker = setInterval(() => setNowMs(Date.now()), 1000);
    return () => clearInterval(ticker);
  }, []);

  useEffect(() => {
    if (!props.connected) return;
    const controller = new AbortController();
    import('../lib/live-jobs.js')
      .then(({ startLiveJobs }) => startLiveJobs({ signal: controller.signal, onState: () => undefined }))
      .then(setActions, (error: unknown) => setMessage(toErrorMessage(error)));
    return () => controller.abort();
  }, [props.connected]);

  const found = useMemo(() => jobs.filter((tracked) => matches(tracked, query.trim())), [jobs, query]);
  const finished = jobs.filter((tracked) => !isActive(tracked));

  async function clearFinished() {
    setConfirmingClear(false);
    const ids = finished.map((tracked) => tracked.job.id);
    const { removeJobs } = await import('../lib/job-actions.js');
    await removeJobs(ids);
    setMessage(t('history.cleared', ids.length, [formatNumber(ids.length)]));
  }

  return (
    <main class="history">
      <h1>{t('history.title')}</h1>
      <div class="row history-tools">
        <label class="sr-only" for="history-search">
          {t('history.search')}
        </label>
        <input
          id="history-search"
          class="grow"
          type="search"
          placeholder={t('history.searchPlaceholder')}
          value={query}
          onInput={(e) => {
            setQuery(e.currentTarget.value);
            setShown(HISTORY_PAGE);
          }}
        />
        {finished.length > 0 && !confirmingClear && (
          <button type="button" onClick={() => setConfirmingClear(true)}>
            {t('history.clearFinished')}
          </button>
        )}
      </div>
      {confirmingClear && (
        <div
          class="notice warn"
          role="alertdialog"
          aria-label={t('history.clearFinished')}
          data-testid="confirm-clear"
        >
          <p>{t('history.clearConfirm', finished.length, [formatNumber(finished.length)])}</p>
          <div class="row">
            <button type="button" class="primary" onClick={() => void clearFinished()}>
              {t('history.clearFinished')}
            </button>
            <button type="button" onClick={() => setConfirmingClear(false)}>
              {t('common.cancel')}
            </button>
          </div>
        </div>
      )}
      <p class="muted summary" aria-live="polite" data-testid="history-summary">
        {query.trim()
          ? t('history.found', found.length, [formatNumber(found.length)])
          : t('popup.jobs', jobs.length, [formatNumber(jobs.length)])}
      </p>
      {message && (
        <div class="notice ok" role="status">
          {message}
        </div>
      )}
      {jobs.length > 0 && found.length === 0 && <p>{t('history.noMatch')}</p>}
      <ul class="jobs">
        {found.slice(0, shown).map((tracked) => (
          <JobCard
            key={tracked.job.id}
            tracked={tracked}
            nowMs={nowMs}
            actions={actions ?? OFFLINE_ACTIONS}
          />
        ))}
      </ul>
      {found.length > shown && (
        <button type="button" class="more" onClick={() => setShown(shown + HISTORY_PAGE)}>
          {t('history.showMore', { count: formatNumber(Math.min(HISTORY_PAGE, found.length - shown)) })}
        </button>
      )}
    </main>
  );
}
