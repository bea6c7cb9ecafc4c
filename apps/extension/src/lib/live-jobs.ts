import type { JobCardActions } from '../components/job-card.js';
import { toErrorMessage } from './errors.js';
import { cancelJob, downloadResult, removeJob, resultLink, retryJob } from './job-actions.js';
import { countActive, jobsItem } from './job-store.js';
import { followEvents, refreshActiveJobs, refreshRecentJobs } from './job-sync.js';
import { loadConnection } from './relay-connection.js';

/** While the popup is open, active jobs are also re-read at this interval (events do most of the work). */
export const POPUP_POLL_INTERVAL_MS = 3_000;

export type LiveState = { state: 'connecting' | 'live' | 'offline'; error?: string };

/**
 * Keeps the stored job list live while a page is open: one refresh, the relay's event stream and
 * a slow poll of active jobs as a fallback. Loaded after the popup's first paint (it brings the
 * relay client and its schemas). Returns the job actions, or null when not connected.
 */
export async function startLiveJobs(options: {
  signal: AbortSignal;
  onState: (state: LiveState) => void;
  pollIntervalMs?: number;
}): Promise<JobCardActions | null> {
  const { signal, onState } = options;
  const connection = await loadConnection();
  if (!connection) return null;
  const fail = (error: unknown) => {
    if (!signal.aborted) onState({ state: 'offline', error: toErrorMessage(error) });
  };
  void (async () => {
    try {
      await refreshRecentJobs(connection.feed, { signal });
      await refreshActiveJobs(connection.feed, { signal });
      onState({ state: 'live' });
    } catch (error) {
      fail(error);
    }
    followEvents(connection.feed, { signal }).catch(fail);
  })();
  const poller = setInterval(() => {
    void jobsItem.getValue().then((current) => {
      if (countActive(current) === 0) return;
      refreshActiveJobs(connection.feed, { signal }).then(() => onState({ state: 'live' }), fail);
    });
  }, options.pollIntervalMs ?? POPUP_POLL_INTERVAL_MS);
  signal.addEventListener('abort', () => clearInterval(poller), { once: true });
  return {
    cancel: (id) => cancelJob(connection, id),
    retry: async (tracked) => {
      await retryJob(connection, tracked);
    },
    remove: (id) => removeJob(id),
    link: (id) => resultLink(connection, id),
    download: async (tracked) => {
      await downloadResult(connection, tracked.job);
    },
  };
}
