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
  const { feed } = connection;
  let state: LiveState['state'] = 'connecting';
  const report = (next: LiveState) => {
    state = next.state;
    if (!signal.aborted) onState(next);
  };
  const fail = (error: unknown) => report({ state: 'offline', error: toErrorMessage(error) });
  let following = false;
  const follow = () => {
    if (following || signal.aborted) return;
    following = true;
    followEvents(feed, { signal })
      .catch(fail)
      .finally(() => {
        following = false;
      });
  };
  // "Live" only after the relay answered; while it does not, every tick tries again, so the
  // header turns back to Live by itself when the relay returns (finding 8).
  const refresh = async (all: boolean) => {
    try {
      if (all) await refreshRecentJobs(feed, { signal });
      await refreshActiveJobs(feed, { signal });
      report({ state: 'live' });
      follow();
    } catch (error) {
      fail(error);
    }
  };
  void refresh(true);
  const poller = setInterval(() => {
    void jobsItem.getValue().then((current) => {
      if (state === 'offline') void refresh(true);
      else if (countActive(current) > 0) void refresh(false);
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
