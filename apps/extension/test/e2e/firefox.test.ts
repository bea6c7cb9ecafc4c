import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSION_ROOT, fixture, type RelayProcess, relayJobs, startRelay } from './support/harness.js';
import { startPageServer } from './support/test-pages.mjs';

// The core flow in Firefox (issue 10): Debian's firefox-esr driven by puppeteer-core over WebDriver
// BiDi, with the Firefox (MV2) build plus the menu-click hook (`.output/firefox-mv2-e2e`).
// BiDi refuses to *navigate* to moz-extension:// pages, but the extension opens its own options tab
// on install, BiDi can script that tab (its reported URL stays about:blank, so tabs are told apart
// by their location), and an extension page may open the others itself.

const FIREFOX_BUILD = join(EXTENSION_ROOT, '.output/firefox-mv2-e2e');
const MENU_ID = 'retalk-lipsync';

function firefoxPath(): string {
  const path = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
  if (!existsSync(path)) {
    throw new Error(
      `Firefox not found at ${path}. The Firefox end-to-end test needs it: apt-get install firefox-esr (or set FIREFOX_PATH).`,
    );
  }
  return path;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** The tab showing one of the extension's pages (BiDi reports their URL as about:blank). */
async function extensionPage(browser: Browser, file: string): Promise<Page> {
  return until(`the extension's ${file}`, async () => {
    for (const page of await browser.pages()) {
      const href = await page.evaluate(() => location.href).catch(() => '');
      if (href.startsWith('moz-extension://') && new URL(href).pathname === `/${file}`) return page;
    }
    return undefined;
  });
}

describe('Firefox: the core flow in firefox-esr over WebDriver BiDi', () => {
  let relay: RelayProcess;
  let pages: { url: string; close(): Promise<void> };
  let browser: Browser;
  let buildCopy: string;

  beforeAll(async () => {
    relay = await startRelay();
    pages = await startPageServer();
    // What a member grants by hand (the relay's and the page's site, here both 127.0.0.1),
    // written into a copy of the manifest: headless Firefox shows no permission prompt.
    buildCopy = await mkdtemp(join(tmpdir(), 'retalk-ff-build-'));
    await cp(FIREFOX_BUILD, buildCopy, { recursive: true });
    const manifestPath = join(buildCopy, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { permissions: string[] };
    manifest.permissions.push('http://127.0.0.1/*');
    await writeFile(manifestPath, JSON.stringify(manifest));
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: firefoxPath(),
      headless: true,
      protocol: 'webDriverBiDi',
      extraPrefsFirefox: { 'intl.locale.requested': 'en-US' },
    });
    await browser.installExtension(buildCopy);
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await relay?.stop();
    if (buildCopy) await rm(buildCopy, { recursive: true, force: true });
  });

  it('connects in the options tab it opens on install, lip-syncs a right-clicked video and shows it done in the popup', async () => {
    const options = await extensionPage(browser, 'options.html');
    await options.locator('#relay-url').fill(relay.url);
    await options.locator('#token').fill(relay.token);
    await options.locator('form:has(#relay-url) button[type="submit"]').click();
    await options.waitForSelector('[data-testid="connection-ok"]');

    const page = await browser.newPage();
    const pageUrl = `${pages.url}/watch?title=Firefox%20demo`;
    await page.goto(pageUrl);
    const src = await page.evaluate(async () => {
      const video = document.querySelector('video')!;
      if (video.readyState < 2)
        await new Promise((done) => video.addEventListener('loadeddata', done, { once: true }));
      return video.currentSrc;
    });
    // What Firefox runs for a click on "Lip-sync this video…" (a native menu cannot be clicked),
    // called in the background page from the options tab, which may reach it.
    await options.evaluate(
      async (pageUrl, src, menuItemId) => {
        const api = (globalThis as unknown as { browser: typeof import('wxt/browser').browser }).browser;
        const background = (await api.runtime.getBackgroundPage()) as unknown as {
          __retalkTestHooks: { handleMenuClick: (...args: unknown[]) => Promise<unknown> };
        };
        const tab = (await api.tabs.query({})).find((t) => t.url === pageUrl);
        await background.__retalkTestHooks.handleMenuClick(
          { menuItemId, editable: false, pageUrl, frameId: 0, mediaType: 'video', srcUrl: src },
          tab,
        );
      },
      pageUrl,
      src,
      MENU_ID,
    );

    const picker = await extensionPage(browser, 'picker.html');
    await picker.waitForSelector('[data-testid="video-meta"]');
    await until('the video described', async () => {
      const meta = await picker.$eval('[data-testid="video-meta"]', (el) => el.textContent ?? '');
      return meta.includes('640×640') ? meta : undefined;
    });
    const audio = (await picker.waitForSelector('#audio-file')) as ElementHandle<HTMLInputElement>;
    await audio.uploadFile(fixture('speech-4s.wav'));
    await picker.waitForFunction(() =>
      document.querySelector('[data-testid="audio-status"]')?.textContent?.includes('4.0 s'),
    );
    const before = (await relayJobs(relay)).length;
    await picker.locator('button.primary.big:not([disabled])').click();
    await picker.waitForSelector('[data-testid="submitted"]', { timeout: 120_000 });
    const jobs = await relayJobs(relay);
    expect(jobs).toHaveLength(before + 1);
    const id = jobs[0]!.id;

    // The popup, opened by the extension itself in the options tab (BiDi may not navigate there).
    await options.evaluate(() => {
      location.href = '/popup.html';
    });
    const popup = await extensionPage(browser, 'popup.html');
    await popup.waitForSelector(`li[data-job-id="${id}"][data-status="succeeded"]`, { timeout: 120_000 });
    expect((await relayJobs(relay))[0]).toMatchObject({ id, status: 'succeeded' });
  });
});
