import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExtensionSession, launchExtension, openPopup, screenshot } from './support/harness.js';

// Code passed to worker.evaluate runs in the extension's service worker.
declare const chrome: typeof import('wxt/browser').browser;

const STATUSES = ['succeeded', 'failed', 'canceled', 'running'] as const;

/** `count` jobs as the extension stores them: the 50 newest for the popup, the rest as history. */
function stored(count: number) {
  const now = Date.parse('2026-06-01T12:00:00.000Z');
  const jobs = Array.from({ length: count }, (_, i) => {
    const status = i === 0 ? 'running' : STATUSES[i % 3]!;
    const created = new Date(now - i * 3_600_000).toISOString();
    return {
      relayUrl: 'http://127.0.0.1:9',
      addedAt: now - i * 3_600_000,
      ...(i === 7 && { audioName: 'voice-de.wav' }),
      job: {
        id: `job_${String(i).padStart(4, '0')}`,
        status,
        progress: status === 'running' ? 40 : 100,
        provider: 'dashscope',
        input: {
          video: { uploadId: `up_v${i}` },
          audio: i === 8 ? { url: 'https://cdn.example.com/dubs/voice-fr.mp3' } : { uploadId: `up_a${i}` },
          videoExtension: false,
        },
        title: `Quarterly update take ${i}`,
        sourcePageUrl: `https://videos.example.com/watch/${i}`,
        estimatedSeconds: 4,
        ...(status !== 'running' && { finishedAt: new Date(now - i * 3_600_000 + 60_000).toISOString() }),
        cancelable: false,
        createdAt: created,
        updatedAt: created,
      },
    };
  });
  return { jobs: jobs.slice(0, 50), jobHistory: jobs.slice(50) };
}

describe('job history beyond the popup (finding 13)', () => {
  let session: ExtensionSession;
  beforeAll(async () => {
    session = await launchExtension();
    await session.worker.evaluate((split) => chrome.storage.local.set(split), stored(120));
  });
  afterAll(async () => {
    await session?.close();
  });

  it('opens from the popup, searches every kept job, and clears the finished ones', async () => {
    const { t } = session;
    const popup = await openPopup(session);
    // The popup draws its recent jobs only (20 at most) and offers the whole history.
    await popup.locator('li.job').nth(19).waitFor();
    expect(await popup.locator('li.job').count()).toBe(20);
    const opened = session.context.waitForEvent('page', {
      predicate: (p) => p.url().includes('/history.html'),
    });
    await popup.getByTestId('more-jobs').click();
    const history = await opened;
    await history.getByRole('heading', { name: t('history.title') }).waitFor();
    expect(await history.getByTestId('history-summary').textContent()).toBe('120 jobs');
    // Pages of 50, then more on demand.
    expect(await history.locator('li.job').count()).toBe(50);
    await history.getByRole('button', { name: 'Show 50 more' }).click();
    await history.locator('li.job').nth(99).waitFor();

    // A job from the history (older than the popup's 50), by its title.
    await history.getByLabel(t('history.search')).fill('take 110');
    await history.getByTestId('history-summary').filter({ hasText: '1 job matches' }).waitFor();
    expect(await history.locator('li.job').getAttribute('data-job-id')).toBe('job_0110');
    // By the audio's name, kept or read from its URL; dates show on each card.
    await history.getByLabel(t('history.search')).fill('voice-fr');
    await history.getByTestId('history-summary').filter({ hasText: '1 job matches' }).waitFor();
    expect(await history.getByTestId('job-audio').textContent()).toBe('Audio: voice-fr.mp3');
    await history.getByLabel(t('history.search')).fill('VOICE-DE');
    await history.getByTestId('history-summary').filter({ hasText: '1 job matches' }).waitFor();
    expect(await history.locator('time').getAttribute('datetime')).toBe('2026-06-01T05:00:00.000Z');
    await history.getByLabel(t('history.search')).fill('no such job');
    await history.getByText(t('history.noMatch')).waitFor();
    await history.getByLabel(t('history.search')).fill('');
    await screenshot(history, 'history');

    // "Clear finished" asks first, then keeps only the running job, here and in the popup's list.
    await history.getByRole('button', { name: t('history.clearFinished') }).click();
    const confirm = history.getByTestId('confirm-clear');
    expect(await confirm.textContent()).toContain('Remove 119 finished jobs from this browser?');
    await confirm.getByRole('button', { name: t('history.clearFinished') }).click();
    await history
      .getByTestId('history-summary')
      .filter({ hasText: /^1 job$/ })
      .waitFor();
    expect(await history.locator('li.job').getAttribute('data-status')).toBe('running');
    const left = await session.worker.evaluate(() => chrome.storage.local.get(['jobs', 'jobHistory']));
    expect((left.jobs as unknown[]).length).toBe(1);
    expect(left.jobHistory).toEqual([]);
    await history.close();
    await popup.close();
  });

  it('scrolls a notification’s job into view in the popup, even past the first 20 (finding 15)', async () => {
    await session.worker.evaluate((split) => chrome.storage.local.set(split), stored(60));
    const popup = await session.context.newPage();
    await popup.setViewportSize({ width: 400, height: 600 });
    await popup.goto(`chrome-extension://${session.extensionId}/popup.html?job=job_0045`);
    const card = popup.locator('li.job.highlight[data-job-id="job_0045"]');
    await card.waitFor();
    await popup.waitForFunction(() => {
      const box = document.querySelector('li.job.highlight')!.getBoundingClientRect();
      return box.top >= 0 && box.bottom <= innerHeight;
    });
    await popup.close();
  });
});
