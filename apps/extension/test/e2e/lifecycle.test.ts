import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  type ExtensionSession,
  fixture,
  MENU_ID,
  openPopup,
  type RelayProcess,
  screenshot,
  type startPageServer,
  useConnectedSetup,
} from './support/harness.js';

// Code passed to evaluate runs in the extension's service worker or pages, where `chrome` is the browser API.
declare const chrome: typeof import('wxt/browser').browser;

type RelayJob = { id: string; status: string; cancelable: boolean; progress: number };
type Budget = { reservedSeconds: number; remainingSeconds: number | null };

let relay: RelayProcess;
let pages: Awaited<ReturnType<typeof startPageServer>>;
let session: ExtensionSession;

async function relayGet<T>(path: string): Promise<T> {
  const response = await fetch(`${relay.url}${path}`, {
    headers: { authorization: `Bearer ${relay.token}` },
  });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

const relayJob = (id: string) => relayGet<RelayJob>(`/v1/jobs/${id}`);
const budget = async () => (await relayGet<{ budget: Budget }>('/v1/me')).budget;

/** The extension's newest service worker as Playwright knows it (after a restart, the new one). */
async function worker() {
  const known = session.context
    .serviceWorkers()
    .filter((w) => w.url().startsWith(`chrome-extension://${session.extensionId}/`))
    .at(-1);
  return known ?? (await session.context.waitForEvent('serviceworker', { timeout: 60_000 }));
}

/**
 * An extension page to look through: reading storage, the badge or the notifications from it wakes
 * no service worker (Playwright's handle on a worker does not follow a stopped and restarted one).
 */
let vantage: Page;

function badgeText(): Promise<string> {
  return vantage.evaluate(() => chrome.action.getBadgeText({}));
}

async function notificationIds(): Promise<string[]> {
  return Object.keys(await vantage.evaluate(() => chrome.notifications.getAll()));
}

async function storedStatus(jobId: string): Promise<string | undefined> {
  return vantage.evaluate(async (id) => {
    const { jobs } = (await chrome.storage.local.get('jobs')) as {
      jobs?: Array<{ job: { id: string; status: string } }>;
    };
    return jobs?.find((t) => t.job.id === id)?.job.status;
  }, jobId);
}

/**
 * Right-clicks the test page's video, runs the menu action through the worker's test hook (native
 * menus cannot be clicked by automation) and submits the video by its address with a real audio
 * file. `src` may carry a simulator scenario marker, which the simulator reads off the URL it fetches.
 */
async function submitByAddress(src: string): Promise<string> {
  const before = new Set((await relayGet<{ jobs: RelayJob[] }>('/v1/jobs?limit=100')).jobs.map((j) => j.id));
  const page = await session.context.newPage();
  await page.goto(`${pages.url}/watch?src=${encodeURIComponent(src)}`);
  await page.bringToFront();
  const videoSrc = await page.evaluate(async () => {
    const video = document.querySelector('video')!;
    if (video.readyState < 1)
      await new Promise((done) => video.addEventListener('loadeddata', done, { once: true }));
    return video.currentSrc || video.src;
  });
  const box = (await page.locator('video').boundingBox())!;
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2, { button: 'right' });
  const pickerOpened = session.context.waitForEvent('page', {
    predicate: (p) => p.url().includes('/picker.html'),
  });
  await (await worker()).evaluate(
    async ([pageUrl, itemId, srcUrl]) => {
      const tab = (await chrome.tabs.query({})).find((t) => t.url === pageUrl);
      const hooks = (
        globalThis as unknown as {
          __retalkTestHooks: { handleMenuClick: (...args: unknown[]) => Promise<unknown> };
        }
      ).__retalkTestHooks;
      await hooks.handleMenuClick(
        { menuItemId: itemId, editable: false, pageUrl, frameId: 0, mediaType: 'video', srcUrl },
        tab,
      );
    },
    [page.url(), MENU_ID, videoSrc] as const,
  );
  const picker = await pickerOpened;
  await picker.waitForLoadState();
  await picker.getByRole('heading', { name: 'Lip-sync this video' }).waitFor();
  await picker.getByLabel('By its address (the provider downloads it)').check();
  await picker.setInputFiles('#audio-file', fixture('speech-4s.wav'));
  await picker.getByTestId('audio-status').filter({ hasText: '4.0 s' }).waitFor();
  await picker.getByRole('button', { name: /^Lip-sync/ }).click();
  await picker.getByTestId('submitted').waitFor({ timeout: 30_000 });
  await picker.close();
  await page.close();
  const created = (await relayGet<{ jobs: RelayJob[] }>('/v1/jobs?limit=100')).jobs.filter(
    (j) => !before.has(j.id),
  );
  expect(created).toHaveLength(1);
  return created[0]!.id;
}

describe('extension job lifecycle in headless Chromium against the relay', () => {
  // A failed setup (e.g. no Chromium) must fail every test with its message, not skip them.
  useConnectedSetup(
    async () => ({ simJobMs: 1500 }),
    (setup) => {
      ({ relay, pages, session, options: vantage } = setup);
    },
  );

  it('draws a running job from storage at once after its service worker was stopped, and the restarted worker follows it to done', async () => {
    // `slow` makes the simulator take 10× longer, so the job is still running across the restart.
    const id = await submitByAddress('talking-640x640-25fps-3s.mp4?sim=slow');
    await expect
      .poll(() => storedStatus(id), { timeout: 20_000 })
      .toMatch(/^(received|preparing|submitted|queued|running)$/);
    await expect.poll(badgeText, { timeout: 10_000 }).toBe('1');

    // Stop the worker (DevTools' Stop, what Chromium does to an idle worker) and follow its state.
    const cdp = await session.context.newCDPSession(vantage);
    const states: string[] = [];
    cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
      for (const version of versions) {
        if (version.scriptURL.startsWith(`chrome-extension://${session.extensionId}/`)) {
          states.push(version.runningStatus);
        }
      }
    });
    await cdp.send('ServiceWorker.enable');
    await expect.poll(() => states.at(-1), { timeout: 5_000 }).toBe('running');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await expect.poll(() => states.at(-1), { timeout: 10_000 }).toBe('stopped');
    const stoppedAt = states.length;

    // The popup needs no worker: it draws the stored job on its first paint.
    const popup = await openPopup(session);
    const card = popup.locator(`li[data-job-id="${id}"]`);
    await card.waitFor({ timeout: 2_000 });
    expect(await card.getAttribute('data-status')).toMatch(/^(received|preparing|submitted|queued|running)$/);
    await screenshot(popup, 'popup-after-worker-stop');
    await popup.close();

    // Chromium starts the worker again for an event (the popup's storage write, or its alarm). With
    // the popup closed only the worker keeps the list in sync: its alarm tick re-reads the job,
    // and it clears the badge and notifies.
    await expect.poll(() => states.slice(stoppedAt).includes('running'), { timeout: 60_000 }).toBe(true);
    await expect.poll(() => storedStatus(id), { timeout: 60_000, interval: 500 }).toBe('succeeded');
    expect((await relayJob(id)).status).toBe('succeeded');
    await expect.poll(badgeText, { timeout: 10_000 }).toBe('');
    await expect.poll(notificationIds, { timeout: 10_000 }).toContain(`retalk-job:${id}`);
    await cdp.detach();
    const again = await openPopup(session);
    await again.locator(`li[data-job-id="${id}"][data-status="succeeded"]`).waitFor({ timeout: 5_000 });
    await again.close();
  });

  // Last: the stuck job holds the simulator's only task slot until the relay stops.
  it('offers Cancel only on a cancelable job, cancels it from the popup and releases its budget', async () => {
    // DashScope runs one task at a time: a stuck job takes the slot and the next waits in the relay.
    const running = await submitByAddress('talking-640x640-25fps-3s.mp4?sim=stuck');
    await expect.poll(async () => (await relayJob(running)).status, { timeout: 20_000 }).toBe('running');
    const waiting = await submitByAddress('talking-640x640-25fps-3s.mp4');
    // Given by address, its inputs are first fetched into the relay and measured (what is measured
    // is what is billed); then the job waits its turn, still `preparing`, reserving the measured length.
    await expect
      .poll(
        async () => {
          const job = await relayJob(waiting);
          return `${job.status} ${job.progress}`;
        },
        { timeout: 30_000 },
      )
      .toBe('preparing 100');
    expect(await relayJob(running)).toMatchObject({ status: 'running', cancelable: false });
    expect(await relayJob(waiting)).toMatchObject({ status: 'preparing', cancelable: true });
    const { estimatedSeconds } = await relayGet<{ estimatedSeconds: number }>(`/v1/jobs/${waiting}`);
    expect(estimatedSeconds).toBeGreaterThan(0);
    const reservedBefore = (await budget()).reservedSeconds;
    await expect.poll(badgeText, { timeout: 10_000 }).toBe('2');

    const popup = await openPopup(session);
    const runningCard = popup.locator(`li[data-job-id="${running}"][data-status="running"]`);
    const waitingCard = popup.locator(`li[data-job-id="${waiting}"]`);
    await runningCard.waitFor({ timeout: 20_000 });
    await waitingCard.getByRole('button', { name: 'Cancel' }).waitFor();
    expect(await waitingCard.textContent()).toContain('inputs ready, waiting for its turn');
    expect(await runningCard.getByRole('button', { name: 'Cancel' }).count()).toBe(0);

    await waitingCard.getByRole('button', { name: 'Cancel' }).click();
    await popup.locator(`li[data-job-id="${waiting}"][data-status="canceled"]`).waitFor({ timeout: 10_000 });
    expect(await waitingCard.textContent()).toContain('Canceled');
    expect(await waitingCard.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    expect(await relayJob(waiting)).toMatchObject({ status: 'canceled', cancelable: false });
    expect((await relayJob(running)).status).toBe('running');
    await expect.poll(badgeText, { timeout: 10_000 }).toBe('1');
    expect((await budget()).reservedSeconds).toBeCloseTo(reservedBefore - estimatedSeconds, 3);
    await screenshot(popup, 'popup-canceled');
    await popup.close();
  });
});
