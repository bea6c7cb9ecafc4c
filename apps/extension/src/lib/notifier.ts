import { browser } from 'wxt/browser';
import { jobAdvice } from './errors.js';
import { t } from './i18n.js';
import {
  countActive,
  jobsItem,
  markNotified,
  pendingNotifications,
  type TrackedJob,
  updateJobs,
} from './job-store.js';
import { formatNumber } from './time-format.js';

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
    title: active > 0 ? t('badge.running', active, [formatNumber(active)]) : t('badge.idle'),
  });
}

function describe(tracked: TrackedJob): { title: string; message: string } {
  const name = tracked.job.title || t('notify.yourVideo');
  if (tracked.job.status === 'succeeded') {
    return { title: t('notify.finishedTitle'), message: t('notify.finishedBody', { name }) };
  }
  const { error } = tracked.job;
  const reason = error ? (jobAdvice(error.code) ?? error.message) : t('notify.noReason');
  return { title: t('notify.failedTitle'), message: t('notify.failedBody', { name, reason }) };
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
