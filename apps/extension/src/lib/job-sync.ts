import type { Job, RelayEvent } from '@retalk/core/relay';
import { toErrorMessage } from './errors.js';
import { t } from './i18n.js';
import {
  isActive,
  jobsItem,
  lastEventIdItem,
  markSyncError,
  storeRelayJobs,
  type TrackedJob,
} from './job-store.js';

/** The part of the relay connection that keeps jobs fresh. */
export type JobFeed = {
  relayUrl: string;
  getJob(id: string, options?: { signal?: AbortSignal }): Promise<Job>;
  listJobs(options?: { limit?: number; signal?: AbortSignal }): Promise<Job[]>;
  events(options: { lastEventId?: string | null; signal?: AbortSignal }): AsyncIterable<RelayEvent>;
};

export type SyncOptions = { signal?: AbortSignal; nowMs?: () => number };

/** Re-reads every active job of this relay once (one request per job) and stores what changed. */
export async function refreshActiveJobs(feed: JobFeed, options: SyncOptions = {}): Promise<TrackedJob[]> {
  const now = options.nowMs ?? Date.now;
  const active = (await jobsItem.getValue()).filter((t) => isActive(t) && t.relayUrl === feed.relayUrl);
  const updates: Job[] = [];
  const failures: Array<[string, string]> = [];
  let firstError: unknown;
  await Promise.all(
    active.map(async (tracked) => {
      try {
        updates.push(await feed.getJob(tracked.job.id, options.signal ? { signal: options.signal } : {}));
      } catch (error) {
        if (options.signal?.aborted) return;
        firstError ??= error;
        failures.push([tracked.job.id, t('job.couldNotRefresh', { reason: toErrorMessage(error) })]);
      }
    }),
  );
  const stored = await storeRelayJobs(updates, { relayUrl: feed.relayUrl, nowMs: now() }, (jobs) =>
    failures.reduce((next, [id, message]) => markSyncError(next, id, message), jobs),
  );
  // Not one job could be read: the relay is out of reach, and callers must not say "live" (finding 8).
  if (failures.length > 0 && updates.length === 0) throw firstError;
  return stored;
}

/** Pulls the member's newest jobs (also ones started from another browser) into the list. */
export async function refreshRecentJobs(feed: JobFeed, options: SyncOptions = {}): Promise<TrackedJob[]> {
  const now = options.nowMs ?? Date.now;
  const recent = await feed.listJobs({ limit: 20, ...(options.signal && { signal: options.signal }) });
  return storeRelayJobs(recent, { relayUrl: feed.relayUrl, nowMs: now() });
}

/**
 * Applies one relay event to the stored list. `reset` means the resume point was too old: the
 * caller refetches the list. Returns whether a refetch is needed.
 */
export async function applyRelayEvent(
  feed: JobFeed,
  event: RelayEvent,
  nowMs: number,
): Promise<'ok' | 'refetch'> {
  if (event.type === 'job') {
    await storeRelayJobs([event.job], { relayUrl: feed.relayUrl, nowMs });
    await lastEventIdItem.setValue(event.id);
    return 'ok';
  }
  if (event.type === 'reset') {
    if (event.id !== undefined) await lastEventIdItem.setValue(event.id);
    return 'refetch';
  }
  return 'ok';
}

/**
 * Follows the relay's event stream from the stored resume point until `signal` aborts or the
 * stream ends. Used by the popup while open and, for a bounded time, by the background on alarms.
 */
export async function followEvents(
  feed: JobFeed,
  options: SyncOptions & { onEvent?: (event: RelayEvent) => void } = {},
): Promise<void> {
  const now = options.nowMs ?? Date.now;
  const lastEventId = await lastEventIdItem.getValue();
  const stream = feed.events({ lastEventId, ...(options.signal && { signal: options.signal }) });
  for await (const event of stream) {
    if ((await applyRelayEvent(feed, event, now())) === 'refetch') await refreshRecentJobs(feed, options);
    options.onEvent?.(event);
    if (options.signal?.aborted) return;
  }
}
