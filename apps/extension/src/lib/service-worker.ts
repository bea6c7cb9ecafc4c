import { type Browser, browser } from 'wxt/browser';
import { toErrorMessage } from './errors.js';
import { t } from './i18n.js';
import { countActive, isActive, jobsItem, type TrackedJob } from './job-store.js';
import { followEvents, refreshActiveJobs } from './job-sync.js';
import { createMenus, followMenuShown, handleMenuClick, showableMenus } from './menu-action.js';
import { jobIdFromNotification, notifyFinishedJobs, showActiveCount } from './notifier.js';
import { loadConnection } from './relay-connection.js';
import { settingsItem } from './settings.js';

export const SYNC_ALARM = 'retalk-sync';
/** Alarm period while jobs run. Packed Chrome allows no less than 30 s. */
export const SYNC_PERIOD_MINUTES = 0.5;
/** How long one alarm tick listens to the relay's events before letting the worker sleep. */
export const EVENT_WINDOW_MS = 20_000;

/** Keeps the alarm running exactly while some job is active; one alarm, never a permanent wake lock. */
export async function scheduleSync(jobs: readonly TrackedJob[]): Promise<void> {
  if (countActive(jobs) === 0) {
    await browser.alarms.clear(SYNC_ALARM);
    return;
  }
  if (!(await browser.alarms.get(SYNC_ALARM))) {
    await browser.alarms.create(SYNC_ALARM, {
      periodInMinutes: SYNC_PERIOD_MINUTES,
      delayInMinutes: SYNC_PERIOD_MINUTES,
    });
  }
}

/** Badge, alarm and notifications follow the stored job list, whoever wrote it. */
export async function onJobsChanged(jobs: readonly TrackedJob[]): Promise<void> {
  await showActiveCount(jobs);
  await scheduleSync(jobs);
  await notifyFinishedJobs();
}

/**
 * One alarm tick: re-read every active job, then follow the event stream for a bounded window
 * (ending early once nothing is active) so a finish between ticks is noticed within seconds.
 */
export async function runSyncTick(options: { eventWindowMs?: number } = {}): Promise<void> {
  const connection = await loadConnection();
  if (!connection) return;
  let jobs: TrackedJob[];
  try {
    jobs = await refreshActiveJobs(connection.feed);
  } catch {
    // The relay is out of reach: each job shows why, and the next alarm tries again.
    return;
  }
  if (!jobs.some(isActive)) return;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.eventWindowMs ?? EVENT_WINDOW_MS);
  try {
    await followEvents(connection.feed, {
      signal: controller.signal,
      onEvent: () => {
        void jobsItem.getValue().then((current) => {
          if (!current.some(isActive)) controller.abort();
        });
      },
    });
  } catch {
    // The next alarm tries again; the popup shows per-job refresh errors.
  } finally {
    clearTimeout(timer);
  }
}

/** Notification click: a finished job opens its result, anything else opens the job list. */
export async function openNotificationTarget(notificationId: string): Promise<void> {
  const jobId = jobIdFromNotification(notificationId);
  if (!jobId) return;
  await browser.notifications.clear(notificationId);
  const tracked = (await jobsItem.getValue()).find((t) => t.job.id === jobId);
  const connection = await loadConnection();
  if (tracked?.job.status === 'succeeded' && connection) {
    try {
      const link = await connection.client.resultUrl(jobId);
      await browser.tabs.create({ url: link.url });
      return;
    } catch {
      // Fall through to the list, which explains what went wrong.
    }
  }
  await browser.tabs.create({ url: browser.runtime.getURL(`/popup.html?job=${encodeURIComponent(jobId)}`) });
}

type TestHooks = {
  handleMenuClick: typeof handleMenuClick;
  runSyncTick: typeof runSyncTick;
};

/** Registers every listener synchronously, so a restarted worker gets the event that woke it. */
export function startServiceWorker(): void {
  browser.runtime.onInstalled.addListener(async ({ reason }) => {
    await createMenus();
    if (reason === 'install' && !(await settingsItem.getValue())) await browser.runtime.openOptionsPage();
  });
  browser.runtime.onStartup.addListener(async () => {
    await onJobsChanged(await jobsItem.getValue());
  });
  browser.contextMenus.onClicked.addListener(
    (info: Browser.contextMenus.OnClickData, tab?: Browser.tabs.Tab) => {
      handleMenuClick(info, tab).catch((error: unknown) =>
        browser.notifications.create({
          type: 'basic',
          iconUrl: browser.runtime.getURL('/icon/128.png'),
          title: t('notify.pickerFailedTitle'),
          message: t('notify.pickerFailedBody', { reason: toErrorMessage(error) }),
        }),
      );
    },
  );
  // Firefox: the item hides where it cannot help (links, selections, frames without a video).
  const menus = showableMenus();
  if (menus) followMenuShown(menus);
  browser.alarms.onAlarm.addListener((alarm) => {
    if (alarm.name === SYNC_ALARM) void runSyncTick();
  });
  browser.notifications.onClicked.addListener((id) => {
    void openNotificationTarget(id);
  });
  jobsItem.watch((jobs) => {
    void onJobsChanged(jobs);
  });
  // Native context menus cannot be clicked by test automation: the end-to-end tests load the
  // build made by `pnpm build:e2e`, the only one with this hook. In the shipped build the flag is
  // `false`, so the bundler drops this block and its names (finding 25).
  if (import.meta.env.RETALK_E2E_HOOKS) {
    (globalThis as typeof globalThis & { __retalkTestHooks?: TestHooks }).__retalkTestHooks = {
      handleMenuClick,
      runSyncTick,
    };
  }
}
