import type { CreateJobRequest, Job, JobStatus } from '@retalk/core/relay';
import { isTerminalJobStatus } from '@retalk/core/status';
import { storage } from 'wxt/utils/storage';

/** A relay job as this browser tracks it: the relay's last known state plus local bookkeeping. */
export type TrackedJob = {
  job: Job;
  /** The relay the job lives on (settings may change later). */
  relayUrl: string;
  /** When this browser first saw the job (ms since epoch). */
  addedAt: number;
  /** The terminal status a notification was already shown for (never notify twice). */
  notifiedStatus?: JobStatus;
  /** Why the last refresh failed, shown under the job; cleared by the next good refresh. */
  syncError?: string;
  /** The audio's file name (or its URL's), when this browser submitted the job. */
  audioName?: string;
  /** A small JPEG data URL of the video's frame, when this browser submitted the job. */
  thumbnail?: string;
};

/**
 * The recent jobs, newest first (at most MAX_TRACKED_JOBS, plus any still active): the popup
 * draws from this at once, the background and the popup keep it fresh.
 */
export const jobsItem = storage.defineItem<TrackedJob[]>('local:jobs', { fallback: [] });

/**
 * Finished jobs that fell off the recent list, newest first (at most MAX_HISTORY_JOBS). Only the
 * history page reads it: a long history never slows the popup's first paint.
 */
export const jobHistoryItem = storage.defineItem<TrackedJob[]>('local:jobHistory', { fallback: [] });

/** How many older jobs the history keeps. */
export const MAX_HISTORY_JOBS = 1000;

/** Resume point of the relay's event stream, so a later connection replays what was missed. */
export const lastEventIdItem = storage.defineItem<string | null>('local:lastEventId', { fallback: null });

// Zod-free: the popup's first paint does not pull the relay schemas in for these.
export { isTerminalJobStatus, TERMINAL_JOB_STATUSES as TERMINAL_STATUSES } from '@retalk/core/status';

/**
 * Jobs removed in this browser (newest last). The relay keeps them, and its list of recent jobs
 * would bring them back on the next refresh; merges skip these ids.
 */
export const removedJobIdsItem = storage.defineItem<string[]>('local:removedJobIds', { fallback: [] });

/** How many removals are remembered: far more than the relay's recent list ever brings back. */
export const MAX_REMOVED_JOB_IDS = 500;

/** Stores fresh job states from the relay, skipping jobs removed in this browser. */
export async function storeRelayJobs(
  updates: readonly Job[],
  context: { relayUrl: string; nowMs: number },
  change: (jobs: TrackedJob[]) => TrackedJob[] = (jobs) => jobs,
): Promise<TrackedJob[]> {
  const removed = new Set(await removedJobIdsItem.getValue());
  return updateJobs((jobs) => change(mergeJobs(jobs, updates, { ...context, removed, pulled: true })));
}

/** How many recent jobs are kept for the popup; older finished ones move to the history. */
export const MAX_TRACKED_JOBS = 50;

export function isActive(tracked: TrackedJob): boolean {
  return !isTerminalJobStatus(tracked.job.status);
}

export function countActive(jobs: readonly TrackedJob[]): number {
  return jobs.filter(isActive).length;
}

function createdMs(tracked: TrackedJob): number {
  const parsed = Date.parse(tracked.job.createdAt);
  return Number.isNaN(parsed) ? tracked.addedAt : parsed;
}

/** Newest first by the relay's creation time. */
export function sortNewestFirst(jobs: readonly TrackedJob[]): TrackedJob[] {
  return [...jobs].sort((a, b) => createdMs(b) - createdMs(a));
}

/**
 * Merges fresh job states into the list. An update older than what is stored (by the relay's
 * `updatedAt`) is ignored, so a slow poll cannot undo a newer event. New jobs are added.
 */
export function mergeJobs(
  current: readonly TrackedJob[],
  updates: readonly Job[],
  context: {
    relayUrl: string;
    nowMs: number;
    /** Jobs the member removed in this browser: never added again (finding 7). */
    removed?: ReadonlySet<string>;
    /** The updates come from the relay's lists and events, not from a job this browser created. */
    pulled?: boolean;
  },
): TrackedJob[] {
  const byId = new Map(current.map((tracked) => [tracked.job.id, tracked]));
  for (const job of updates) {
    const existing = byId.get(job.id);
    if (!existing) {
      if (context.removed?.has(job.id)) continue;
      byId.set(job.id, {
        job,
        relayUrl: context.relayUrl,
        addedAt: context.nowMs,
        // Notifications are for jobs started or seen running in this browser: a job pulled in
        // already finished (when a browser connects) is history, not news (finding 6).
        ...(context.pulled && isTerminalJobStatus(job.status) && { notifiedStatus: job.status }),
      });
      continue;
    }
    if (Date.parse(job.updatedAt) < Date.parse(existing.job.updatedAt)) continue;
    const { syncError: _cleared, ...rest } = existing;
    byId.set(job.id, { ...rest, job });
  }
  return sortNewestFirst([...byId.values()]);
}

/**
 * Splits a list (newest first) into the recent jobs and those that go to the history: the newest
 * MAX_TRACKED_JOBS stay, and so does every active job, however old, so it is still followed.
 */
export function splitRecent(jobs: readonly TrackedJob[]): { recent: TrackedJob[]; older: TrackedJob[] } {
  const recent: TrackedJob[] = [];
  const older: TrackedJob[] = [];
  for (const tracked of jobs) {
    if (recent.length < MAX_TRACKED_JOBS || isActive(tracked)) recent.push(tracked);
    else older.push(tracked);
  }
  return { recent, older };
}

export function markSyncError(current: readonly TrackedJob[], jobId: string, message: string): TrackedJob[] {
  return current.map((tracked) => (tracked.job.id === jobId ? { ...tracked, syncError: message } : tracked));
}

/** Jobs that reached a terminal state nobody was told about yet. */
export function pendingNotifications(jobs: readonly TrackedJob[]): TrackedJob[] {
  return jobs.filter(
    (tracked) =>
      isTerminalJobStatus(tracked.job.status) &&
      tracked.job.status !== 'canceled' &&
      tracked.notifiedStatus !== tracked.job.status,
  );
}

export function markNotified(current: readonly TrackedJob[], jobIds: readonly string[]): TrackedJob[] {
  const ids = new Set(jobIds);
  return current.map((tracked) =>
    ids.has(tracked.job.id) ? { ...tracked, notifiedStatus: tracked.job.status } : tracked,
  );
}

/** The body that submits the same inputs again (uploads are reused while the relay keeps them). */
export function toRetryRequest(job: Job): CreateJobRequest {
  return {
    video: job.input.video,
    audio: job.input.audio,
    ...(job.input.refImage !== undefined && { refImage: job.input.refImage }),
    videoExtension: job.input.videoExtension,
    ...(job.input.faceThreshold !== undefined && { faceThreshold: job.input.faceThreshold }),
    ...(job.title !== undefined && { title: job.title }),
    ...(job.sourcePageUrl !== undefined && { sourcePageUrl: job.sourcePageUrl }),
  };
}

/**
 * Read-modify-write of the job list. Several extension pages may write at once; merges keep the
 * newest relay state, so a lost race only delays an update until the next refresh.
 */
export async function updateJobs(change: (jobs: TrackedJob[]) => TrackedJob[]): Promise<TrackedJob[]> {
  const previous = await jobsItem.getValue();
  const { recent, older } = splitRecent(change(previous));
  await jobsItem.setValue(recent);
  // The history is read only when it changes: jobs moved out, or a job came back from it.
  const before = new Set(previous.map((t) => t.job.id));
  const returned = recent.filter((t) => !before.has(t.job.id)).map((t) => t.job.id);
  if (older.length > 0 || returned.length > 0) {
    await jobHistoryItem.setValue(mergeHistory(await jobHistoryItem.getValue(), older, recent));
  }
  return recent;
}

/** The history with `moved` added, without what is in `recent` again, newest first and capped. */
export function mergeHistory(
  history: readonly TrackedJob[],
  moved: readonly TrackedJob[],
  recent: readonly TrackedJob[],
): TrackedJob[] {
  const skip = new Set([...recent, ...moved].map((t) => t.job.id));
  return sortNewestFirst([...moved, ...history.filter((t) => !skip.has(t.job.id))]).slice(
    0,
    MAX_HISTORY_JOBS,
  );
}

/** Every job this browser keeps: the recent ones, then the history. */
export async function allJobs(): Promise<TrackedJob[]> {
  const [recent, history] = await Promise.all([jobsItem.getValue(), jobHistoryItem.getValue()]);
  return [...recent, ...history];
}

/** Forgets jobs in this browser, in the recent list and the history. */
export async function dropJobs(jobIds: readonly string[]): Promise<void> {
  const ids = new Set(jobIds);
  await updateJobs((jobs) => jobs.filter((t) => !ids.has(t.job.id)));
  const history = await jobHistoryItem.getValue();
  if (history.some((t) => ids.has(t.job.id)))
    await jobHistoryItem.setValue(history.filter((t) => !ids.has(t.job.id)));
}
