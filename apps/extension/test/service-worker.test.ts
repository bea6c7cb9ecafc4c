import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { jobsItem, mergeJobs, updateJobs } from '../src/lib/job-store.js';
import { notificationIdFor } from '../src/lib/notifier.js';
import {
  onJobsChanged,
  openNotificationTarget,
  runSyncTick,
  SYNC_ALARM,
  SYNC_PERIOD_MINUTES,
} from '../src/lib/service-worker.js';
import { settingsItem } from '../src/lib/settings.js';
import { makeJob } from './support/jobs.js';

const RELAY = 'http://127.0.0.1:9999';

async function seed(...jobs: ReturnType<typeof makeJob>[]) {
  return updateJobs((current) => mergeJobs(current, jobs, { relayUrl: RELAY, nowMs: 0 }));
}

describe('service worker', () => {
  beforeEach(() => {
    fakeBrowser.reset();
    vi.restoreAllMocks();
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('shows the number of active jobs on the badge, and nothing when none run', async () => {
    await onJobsChanged(
      await seed(
        makeJob({ status: 'running' }),
        makeJob({ status: 'received' }),
        makeJob({ status: 'failed' }),
      ),
    );
    expect(await fakeBrowser.action.getBadgeText({})).toBe('2');
    await onJobsChanged([]);
    expect(await fakeBrowser.action.getBadgeText({})).toBe('');
  });

  it('keeps the sync alarm only while a job is active', async () => {
    const running = makeJob({ status: 'running' });
    await onJobsChanged(await seed(running));
    const alarm = await fakeBrowser.alarms.get(SYNC_ALARM);
    expect(alarm?.periodInMinutes).toBe(SYNC_PERIOD_MINUTES);
    await onJobsChanged(
      await seed({ ...running, status: 'succeeded', updatedAt: '2026-01-01T10:05:00.000Z' }),
    );
    expect(await fakeBrowser.alarms.get(SYNC_ALARM)).toBeUndefined();
  });

  it('notifies once when a job finishes or fails, with the job id in the notification id', async () => {
    const done = makeJob({ status: 'running', title: 'Launch video' });
    const failed = makeJob({ status: 'running' });
    await onJobsChanged(await seed(done, failed));
    const later = { updatedAt: '2026-01-01T10:05:00.000Z' };
    await onJobsChanged(
      await seed(
        { ...done, ...later, status: 'succeeded' },
        {
          ...failed,
          ...later,
          status: 'failed',
          error: { code: 'InvalidFile.FPS', message: 'fps too low', retryable: false },
        },
      ),
    );
    await onJobsChanged(await jobsItem.getValue());
    const shown = await fakeBrowser.notifications.getAll();
    expect(Object.keys(shown).sort()).toEqual(
      [notificationIdFor(done.id), notificationIdFor(failed.id)].sort(),
    );
    const stored = await jobsItem.getValue();
    expect(stored.every((t) => t.notifiedStatus === t.job.status)).toBe(true);
  });

  it('on an alarm tick, refreshes active jobs from the relay and stops listening once none is active', async () => {
    const running = makeJob({ status: 'running', progress: 20 });
    await seed(running);
    await settingsItem.setValue({ relayUrl: RELAY, token: 'rtk_testtoken123' });
    const finished = {
      ...running,
      status: 'succeeded',
      progress: 100,
      updatedAt: '2026-01-01T10:09:00.000Z',
    };
    const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      expect(new Headers(init?.headers).get('authorization')).toBe('Bearer rtk_testtoken123');
      if (url === `${RELAY}/v1/jobs/${running.id}`) return Response.json(finished);
      return new Response('unexpected', { status: 500 });
    });
    vi.stubGlobal('fetch', fetchMock);
    await runSyncTick({ eventWindowMs: 50 });
    expect((await jobsItem.getValue())[0]?.job.status).toBe('succeeded');
    // Nothing active after the refresh: no event stream is opened.
    expect(fetchMock.mock.calls.map((call) => String(call[0]))).toEqual([`${RELAY}/v1/jobs/${running.id}`]);
  });

  it('does nothing on an alarm tick before the member has connected', async () => {
    await seed(makeJob({ status: 'running' }));
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    await runSyncTick({ eventWindowMs: 10 });
    expect(fetchMock).not.toHaveBeenCalled();
  });
});

describe('notification click', () => {
  beforeEach(() => {
    fakeBrowser.reset();
    vi.restoreAllMocks();
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('opens the result of a finished job through a fresh signed link', async () => {
    const done = makeJob({ status: 'succeeded' });
    await seed(done);
    await settingsItem.setValue({ relayUrl: RELAY, token: 'rtk_testtoken123' });
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        expect(String(input)).toBe(`${RELAY}/v1/jobs/${done.id}/result-link`);
        expect(init?.method).toBe('POST');
        return Response.json({ url: '/v1/files/result?sig=abc', expiresAt: '2026-01-01T11:00:00.000Z' });
      }),
    );
    const create = vi.spyOn(fakeBrowser.tabs, 'create');
    await openNotificationTarget(notificationIdFor(done.id));
    expect(create).toHaveBeenCalledWith({ url: `${RELAY}/v1/files/result?sig=abc` });
  });

  it('opens the job list at a failed job', async () => {
    const failed = makeJob({ status: 'failed' });
    await seed(failed);
    const create = vi.spyOn(fakeBrowser.tabs, 'create');
    await openNotificationTarget(notificationIdFor(failed.id));
    expect(create).toHaveBeenCalledWith({ url: expect.stringContaining(`/popup.html?job=${failed.id}`) });
  });

  it('ignores notifications that are not about a job', async () => {
    const create = vi.spyOn(fakeBrowser.tabs, 'create');
    await openNotificationTarget('something-else');
    expect(create).not.toHaveBeenCalled();
  });
});
