import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { browser } from 'wxt/browser';
import { toErrorMessage } from '../lib/errors.js';
import { t } from '../lib/i18n.js';
import { groupJobs } from '../lib/job-groups.js';
import { countActive, jobsItem, type TrackedJob } from '../lib/job-store.js';
import type { LiveState } from '../lib/live-jobs.js';
import { PICKER_WINDOW } from '../lib/pick-request.js';
import { formatNumber } from '../lib/time-format.js';
import { ConnectOffer } from './connect-offer.js';
import { EmptyState } from './empty-state.js';
import { JobCard, type JobCardActions, OFFLINE_ACTIONS } from './job-card.js';

/**
 * Cards the popup draws: more than fill it, far fewer than a long history (500 cards took the
 * first paint from ~210 to ~460 ms); the rest is in the history page.
 */
export const POPUP_JOBS = 20;
/** Cards in the first frame: what fits the popup; the others follow right after it is painted. */
export const FIRST_SCREEN_JOBS = 4;

/** The first `count` jobs, and the highlighted one (a notification's) wherever it is. */
function withHighlighted(jobs: TrackedJob[], count: number, highlight: string | null): TrackedJob[] {
  const first = jobs.slice(0, count);
  if (!highlight || first.some((t) => t.job.id === highlight)) return first;
  const found = jobs.find((t) => t.job.id === highlight);
  return found ? [...first, found] : first;
}

/** "New lip-sync": the picker for a video file and an audio, without a page (finding 14). */
function openFilesPicker(): void {
  void browser.windows.create({
    url: browser.runtime.getURL('/picker.html?files'),
    type: 'popup',
    ...PICKER_WINDOW,
  });
}

function openHistory(): void {
  void browser.tabs.create({ url: browser.runtime.getURL('/history.html') });
}

export function PopupApp(props: {
  initialJobs: TrackedJob[];
  connected: boolean;
  highlightJobId: string | null;
}) {
  const [jobs, setJobs] = useState(props.initialJobs);
  const [actions, setActions] = useState<JobCardActions | null>(null);
  const [live, setLive] = useState<LiveState>({ state: 'connecting' });
  const [nowMs, setNowMs] = useState(Date.now());
  const [connected, setConnected] = useState(props.connected);
  const [linkOffered, setLinkOffered] = useState(false);
  // Opened for a notification's job: the whole list at once, so the job keeps its place once shown.
  const [drawn, setDrawn] = useState(props.highlightJobId ? POPUP_JOBS : FIRST_SCREEN_JOBS);

  // The first frame holds only what fits; the rest of the list is drawn once it is on screen.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const frame = requestAnimationFrame(() => {
      timer = setTimeout(() => setDrawn(POPUP_JOBS), 0);
    });
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, []);

  // The page's videos (finding 9) load once the job cards are on screen: the first paint stays as
  // small and fast as before.
  const [PageVideos, setPageVideos] = useState<ComponentType<{ connected: boolean }> | null>(null);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const frame = requestAnimationFrame(() => {
      timer = setTimeout(() => {
        import('./page-videos.js').then(
          (module) => setPageVideos(() => module.PageVideos),
          () => undefined,
        );
      }, 0);
    });
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, []);

  useEffect(() => jobsItem.watch((next) => setJobs(next)), []);

  useEffect(() => {
    const ticker = setInterval(() => setNowMs(Date.now()), 1000);
    return () => clearInterval(ticker);
  }, []);

  // The relay client loads after the first paint: the list above is already drawn from storage.
  useEffect(() => {
    if (!connected) return;
    const controller = new AbortController();
    import('../lib/live-jobs.js')
      .then(({ startLiveJobs }) => startLiveJobs({ signal: controller.signal, onState: setLive }))
      .then(setActions, (error: unknown) => setLive({ state: 'offline', error: toErrorMessage(error) }));
    return () => controller.abort();
  }, [connected]);

  const active = countActive(jobs);
  return (
    <main class="popup">
      <header class="row popup-head">
        <h1 class="grow">{t('extName')}</h1>
        {connected && (
          <span class={`live ${live.state}`} title={live.error}>
            {live.state === 'live'
              ? t('popup.live')
              : live.state === 'connecting'
                ? t('common.connecting')
                : t('popup.offline')}
          </span>
        )}
        {connected && (
          <button type="button" class="link" onClick={openFilesPicker} title={t('popup.newFromFilesHint')}>
            {t('popup.newFromFiles')}
          </button>
        )}
        {jobs.length > 0 && (
          <button type="button" class="link" onClick={openHistory}>
            {t('history.open')}
          </button>
        )}
        <button type="button" class="link" onClick={() => browser.runtime.openOptionsPage()}>
          {t('common.settings')}
        </button>
      </header>
      <ConnectOffer
        connected={connected}
        // A switch to another relay or member restarts the popup on the new connection.
        onConnected={() => (connected ? location.reload() : setConnected(true))}
        onFound={() => setLinkOffered(true)}
      />
      {!connected && !linkOffered && (
        <div class="notice info">
          <p>{t('popup.connectPrompt')}</p>
          <button type="button" class="primary" onClick={() => browser.runtime.openOptionsPage()}>
            {t('popup.connect')}
          </button>
        </div>
      )}
      {live.state === 'offline' && live.error && (
        <div class="notice warn" role="status">
          <strong>{t('popup.offlineBanner')}</strong>
          <div>{live.error}</div>
        </div>
      )}
      {PageVideos && <PageVideos connected={connected} />}
      {jobs.length === 0 ? (
        <EmptyState />
      ) : (
        <>
          <p class="muted summary" aria-live="polite">
            {active > 0 ? `${t('popup.running', { count: formatNumber(active) })} · ` : ''}
            {t('popup.jobs', jobs.length, [formatNumber(jobs.length)])}
          </p>
          <ul class="jobs">
            {groupJobs(withHighlighted(jobs, drawn, props.highlightJobId)).map((row) =>
              row.type === 'job' ? (
                <JobCard
                  key={row.tracked.job.id}
                  tracked={row.tracked}
                  nowMs={nowMs}
                  highlight={row.tracked.job.id === props.highlightJobId}
                  actions={actions ?? OFFLINE_ACTIONS}
                />
              ) : (
                <li key={row.key} class="job-group" data-testid="job-group" aria-label={row.title}>
                  <div class="job-group-head">
                    <strong>{row.title}</strong>
                    <div class="muted">
                      {t('popup.group', {
                        count: formatNumber(row.jobs.length),
                        done: formatNumber(
                          row.jobs.filter((j) => j.tracked.job.status === 'succeeded').length,
                        ),
                      })}
                    </div>
                  </div>
                  <ul class="jobs">
                    {row.jobs.map(({ tracked, label }) => (
                      <JobCard
                        key={tracked.job.id}
                        tracked={tracked}
                        label={label}
                        nowMs={nowMs}
                        highlight={tracked.job.id === props.highlightJobId}
                        actions={actions ?? OFFLINE_ACTIONS}
                      />
                    ))}
                  </ul>
                </li>
              ),
            )}
          </ul>
          {jobs.length > POPUP_JOBS && (
            <button type="button" class="link more" onClick={openHistory} data-testid="more-jobs">
              {t('history.open')}
            </button>
          )}
        </>
      )}
    </main>
  );
}
