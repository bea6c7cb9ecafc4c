import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  type ConnectedSetup,
  makeFragmentedTalk,
  openToolbarPopup,
  screenshot,
  type ToolbarPopup,
  useConnectedSetup,
} from './support/harness.js';

// Code passed to worker.evaluate runs in the extension's service worker, where `chrome` is the browser API.
declare const chrome: typeof import('wxt/browser').browser;

/** Opens a test page. */
async function openPage(setup: ConnectedSetup, path: string): Promise<Page> {
  const page = await setup.session.context.newPage();
  await page.goto(`${setup.pages.url}${path}`);
  return page;
}

async function rowTexts(popup: ToolbarPopup): Promise<string[]> {
  return popup.evaluate<string[]>(
    `[...document.querySelectorAll('[data-testid="page-video"]')].map((row) => row.textContent)`,
  );
}

const PICTURES_SHOWN = `[...document.querySelectorAll('video')].every((video) => video.readyState >= 2)`;

describe('the popup’s list of the videos on the page (finding 9)', () => {
  let setup: ConnectedSetup;
  useConnectedSetup(
    async () => ({ media: { 'talk-fragmented.mp4': await makeFragmentedTalk() } }),
    (s) => {
      setup = s;
    },
  );

  it('lists each video of the tab with its frame, size, length and state, and opens the picker on the one clicked', async () => {
    const { session } = setup;
    const page = await openPage(setup, '/several');
    await page.waitForFunction(PICTURES_SHOWN);
    // The third player plays (muted), the others stand still.
    await page.locator('#c').evaluate((video: HTMLVideoElement) => {
      video.loop = true;
      return video.play();
    });
    const popup = await openToolbarPopup(session, page);
    await popup.waitFor(`document.querySelectorAll('[data-testid="page-video"]').length === 3`);
    const rows = await rowTexts(popup);
    expect(rows[0]).toContain(session.t('popup.pageVideos.video', { number: '1' }));
    expect(rows[0]).toContain('640×480');
    expect(rows[0]).toContain(session.t('units.seconds', { n: '3.0' }));
    expect(rows[0]).not.toContain(session.t('popup.pageVideos.playing'));
    expect(rows[1]).toContain('640×640');
    expect(rows[2]).toContain('320×240');
    expect(rows[2]).toContain(session.t('popup.pageVideos.playing'));
    // Files, not streams; all in the tab's own frame.
    expect(rows.join(' ')).not.toContain(session.t('popup.pageVideos.streamed'));
    expect(
      await popup.evaluate<number>(
        `document.querySelectorAll('.page-video-thumb[src^="data:image/jpeg"]').length`,
      ),
    ).toBe(3);
    await popup.screenshot('popup-page-videos');

    const pickerOpened = session.context.waitForEvent('page', {
      predicate: (p) => p.url().includes('/picker.html'),
    });
    await popup.click('[data-testid="page-video"]', 1);
    const picker = await pickerOpened;
    await picker.setViewportSize({ width: 520, height: 760 });
    // The picker is on the second video: its size and length, and checked in the switcher.
    await picker.getByTestId('video-meta').filter({ hasText: '640×640' }).waitFor();
    expect(await picker.getByTestId('video-meta').textContent()).toContain(
      session.t('units.seconds', { n: '3.0' }),
    );
    const switcher = picker.getByTestId('video-switcher');
    await switcher.getByRole('radio').nth(2).waitFor();
    expect(
      await switcher
        .getByRole('radio', { name: new RegExp(session.t('picker.pageVideo', { number: '2' })) })
        .isChecked(),
    ).toBe(true);
    await screenshot(picker, 'picker-from-popup-list');
    await picker.close();
    await popup.close();
    await page.close();
  });

  it('lists a streamed video inside a frame of the page, marked as streamed and by its frame’s site', async () => {
    const { session } = setup;
    const page = await openPage(setup, `/frame?inner=${encodeURIComponent('/mse')}`);
    const frame = page.frames().find((f) => f.url().includes('/mse'))!;
    await frame.waitForFunction('window.playerReady === true');
    const popup = await openToolbarPopup(session, page);
    await popup.waitFor(`document.querySelectorAll('[data-testid="page-video"]').length === 1`);
    const [row] = await rowTexts(popup);
    expect(row).toContain(session.t('popup.pageVideos.streamed'));
    expect(row).toContain(session.t('popup.pageVideos.inFrame', { host: new URL(setup.pages.url).host }));
    await popup.close();
    await page.close();
  });

  it('says so when the page has no video, and when the browser lets no extension into the page', async () => {
    const { session } = setup;
    const article = await openPage(setup, '/article');
    let popup = await openToolbarPopup(session, article);
    await popup.waitFor(`!!document.querySelector('[data-testid="page-videos-none"]')`);
    expect(
      await popup.evaluate<string>(`document.querySelector('[data-testid="page-videos"]').textContent`),
    ).toContain(session.t('popup.pageVideos.none'));
    await popup.close();
    await article.close();

    const browserPage = await session.context.newPage();
    await browserPage.goto('chrome://version');
    popup = await openToolbarPopup(session, browserPage);
    await popup.waitFor(`!!document.querySelector('[data-testid="page-videos-blocked"]')`);
    expect(
      await popup.evaluate<string>(
        `document.querySelector('[data-testid="page-videos-blocked"]').textContent`,
      ),
    ).toBe(session.t('popup.pageVideos.blocked'));
    await popup.screenshot('popup-page-videos-blocked');
    await popup.close();
    await browserPage.close();
  });

  it('lists the videos before the browser is connected; the picker then asks to connect and carries on', async () => {
    const { session } = setup;
    const saved = await session.worker.evaluate(() => chrome.storage.local.get('settings'));
    await session.worker.evaluate(() => chrome.storage.local.remove('settings'));
    try {
      const page = await openPage(setup, '/several');
      await page.waitForFunction(PICTURES_SHOWN);
      const popup = await openToolbarPopup(session, page);
      await popup.waitFor(`document.querySelectorAll('[data-testid="page-video"]').length === 3`);
      expect(
        await popup.evaluate<string>(
          `document.querySelector('[data-testid="page-videos-not-connected"]').textContent`,
        ),
      ).toBe(session.t('popup.pageVideos.notConnected'));
      const pickerOpened = session.context.waitForEvent('page', {
        predicate: (p) => p.url().includes('/picker.html'),
      });
      await popup.click('[data-testid="page-video"]', 2);
      const picker = await pickerOpened;
      await picker.getByText(session.t('picker.notConnectedBefore')).waitFor();
      await picker.getByTestId('video-meta').filter({ hasText: '320×240' }).waitFor();
      await session.worker.evaluate((settings) => chrome.storage.local.set(settings), saved);
      await picker.getByText(session.t('picker.notConnectedBefore')).waitFor({ state: 'detached' });
      await picker.close();
      await popup.close();
      await page.close();
    } finally {
      await session.worker.evaluate((settings) => chrome.storage.local.set(settings), saved);
    }
  });
});
