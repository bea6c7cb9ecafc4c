import { browser } from 'wxt/browser';
import {
  countActive,
  jobsItem,
  markNotified,
  pendingNotifications,
  type TrackedJob,
  updateJobs,
} from './job-store.js';

const NOTIFICATION_PREFIX = 'retalk-job:';

/** Notification ids carry the job id, so a click knows which result to open. */
export function notificationIdFor(jobId: string): string {
  return `${NOTIFICATION_PREFIX}${jobId}`;
}

export function jobIdFromNotification(notificationId: string): string | null {
  return notificationId.startsWith(NOTIFICATION_PREFIX)
    ? notificationId.slice(NOTIFICATION_PREFIX.length)
    : null;
}

// Firefox MV2 has browserAction instead of action.
function actionApi(): typeof browser.action {
  return browser.action ?? (browser as unknown as { browserAction: typeof browser.action }).browserAction;
}

/** Badge = number of jobs not finished yet; empty when none. */
export async function showActiveCount(jobs: readonly TrackedJob[]): Promise<void> {
  const active = countActive(jobs);
  const action = actionApi();
  await action.setBadgeText({ text: active > 0 ? String(active) : '' });
  await action.setBadgeBackgroundColor({ color: '#4f46e5' });
  await action.setTitle({
    title: active > 0 ? `Retalk: ${active} job${active === 1 ? '' : 's'} running` : 'Retalk jobs',
  });
}

function describe(tracked: TrackedJob): { title: string; message: string } {
  const name = tracked.job.title || 'Your video';
  if (tracked.job.status === 'succeeded') {
    return { title: 'Lip-sync finished', message: `${name} is ready. Click to open the result.` };
  }
  const reason = tracked.job.error?.message ?? 'The provider did not say why.';
  return { title: 'Lip-sync failed', message: `${name}: ${reason}` };
}

/** Shows one notification per job that finished or failed since the last call, never twice. */
export async function notifyFinishedJobs(): Promise<string[]> {
  const due = pendingNotifications(await jobsItem.getValue());
  if (due.length === 0) return [];
  await updateJobs((jobs) =>
    markNotified(
      jobs,
      due.map((t) => t.job.id),
    ),
  );
  const iconUrl = browser.runtime.getURL('/icon/128.png');
  for (const tracked of due) {
    const { title, message } = describe(tracked);
    await browser.notifications.create(notificationIdFor(tracked.job.id), {
      type: 'basic',
      iconUrl,
      title,
      message,
    });
  }
  return due.map((t) => t.job.id);
}
