import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ExtensionSession,
  launchExtension,
  openPopup,
  type RelayProcess,
  screenshot,
  startRelay,
} from './support/harness.js';

// Code passed to evaluate runs in the extension's pages or service worker, where `chrome` is the browser API.
declare const chrome: typeof import('wxt/browser').browser;

let relay: RelayProcess;
let session: ExtensionSession;

/** A connect link for the demo member, as "Connect another browser" or `members link` makes one. */
async function newConnectLink(): Promise<string> {
  const response = await fetch(`${relay.url}/v1/me/connect-links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${relay.token}` },
  });
  if (response.status !== 201) throw new Error(`connect link: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { url: string }).url;
}

type Settings = { relayUrl: string; token: string };

async function storedSettings(page: Page): Promise<Settings | undefined> {
  const stored = await page.evaluate(() => chrome.storage.local.get('settings'));
  return stored.settings as Settings | undefined;
}

async function memberOf(token: string): Promise<string> {
  const response = await fetch(`${relay.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  return ((await response.json()) as { member: { name: string } }).member.name;
}

describe('connect a browser with a link instead of a token', () => {
  let setupError: unknown;
  beforeAll(async () => {
    try {
      relay = await startRelay();
      session = await launchExtension();
    } catch (error) {
      setupError = error;
    }
  });
  beforeEach(() => {
    if (setupError) throw setupError;
  });
  afterAll(async () => {
    await session?.close();
    await relay?.stop();
  });

  it('the popup opened over a connect link connects with one click, and the link is spent', async () => {
    const link = await newConnectLink();
    const tab = await session.context.newPage();
    await tab.goto(link);
    await tab.getByRole('heading', { name: /Connect this browser/ }).waitFor();
    await tab.bringToFront();
    // The toolbar popup belongs to the window of the tab it was opened over; here it opens in a
    // window of its own, which leaves the connect page's window the last focused one.
    const opened = session.context.waitForEvent('page', {
      predicate: (p) => p.url().endsWith('/popup.html'),
    });
    await session.firstRunOptions.evaluate(() =>
      chrome.windows.create({ url: chrome.runtime.getURL('/popup.html'), type: 'popup', focused: false }),
    );
    const popup = await opened;
    await popup.getByTestId('connect-offer').waitFor();
    expect(await popup.getByTestId('connect-offer').textContent()).toContain(new URL(relay.url).host);
    // One way to connect on offer, not two.
    expect(await popup.getByText('Connect to your team’s relay to start lip-syncing.').count()).toBe(0);
    await screenshot(popup, 'popup-connect-offer');
    await popup.getByRole('button', { name: 'Connect this browser' }).click();
    await popup.getByTestId('connect-offer-done').waitFor();
    expect(await popup.getByTestId('connect-offer-done').textContent()).toContain('as demo');
    // Connected: the popup goes live on its own.
    await popup.getByText('Live', { exact: true }).waitFor();

    const settings = await storedSettings(popup);
    expect(settings?.relayUrl).toBe(relay.url);
    expect(settings?.token).toMatch(/^rtk_/);
    expect(settings?.token).not.toBe(relay.token);
    expect(await memberOf(settings?.token as string)).toBe('demo');
    await popup.close();

    // Opened again over the same (spent) link, the popup offers nothing.
    const again = await openPopup(session);
    await again.getByText('Live', { exact: true }).waitFor();
    expect(await again.getByTestId('connect-offer').count()).toBe(0);
    await again.close();
    await tab.close();
  });

  it('the options page takes a pasted link, and says plainly when a link was used already', async () => {
    const options = session.firstRunOptions;
    const link = await newConnectLink();
    await options.getByLabel('Connect link').fill(link);
    await options.getByRole('button', { name: 'Connect', exact: true }).click();
    await options.getByTestId('connection-ok').waitFor();
    expect(await options.getByTestId('connection-ok').textContent()).toContain('Connected as demo');
    const token = (await storedSettings(options))?.token as string;
    expect(await memberOf(token)).toBe('demo');

    await options.getByLabel('Connect link').fill(link);
    await options.getByRole('button', { name: 'Connect', exact: true }).click();
    await options.getByTestId('connection-error').waitFor();
    expect(await options.getByTestId('connection-error').textContent()).toContain('used already');
    await options.getByLabel('Connect link').fill(`${relay.url}/connect#code=rtc_cut`);
    await options.getByRole('button', { name: 'Connect', exact: true }).click();
    await options.getByTestId('connection-error').filter({ hasText: 'not a whole connect link' }).waitFor();
    expect(await options.getByLabel('Connect link').getAttribute('aria-invalid')).toBe('true');
    await screenshot(options, 'options-connect-link-error');
    // A failed link leaves the working connection alone.
    expect((await storedSettings(options))?.token).toBe(token);
  });
});
