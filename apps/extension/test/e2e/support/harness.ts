import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page, type Worker } from 'playwright-core';
import { afterAll, beforeAll, beforeEach } from 'vitest';

const HERE = fileURLToPath(new URL('.', import.meta.url));
export const EXTENSION_ROOT = resolve(HERE, '../../..');
export const REPO_ROOT = resolve(EXTENSION_ROOT, '../..');
export const FIXTURES = join(REPO_ROOT, 'packages/simulator/fixtures');
/**
 * The production build plus the menu-click hook (`pnpm build:e2e`): byte for byte the shipped
 * build except its background script (build-output.test.ts checks), because a test cannot click a
 * native context menu.
 */
export const EXTENSION_BUILD = join(EXTENSION_ROOT, '.output/chrome-mv3-e2e');
export const SCREENSHOTS = join(EXTENSION_ROOT, 'test-results/screenshots');
const RELAY_MAIN = join(REPO_ROOT, 'apps/relay/dist/main.js');

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** The Chromium to drive; a missing one is a failure with the fix, never a skip. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(
      `Chromium not found at ${path}. The extension's end-to-end tests need it: apt-get install chromium (or set CHROMIUM_PATH).`,
    );
  }
  return path;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new Error(`${what}: aborted`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
  );
}

export type RelayProcess = {
  url: string;
  token: string;
  dataDir: string;
  logs: () => string;
  stop(): Promise<void>;
};

/** The real relay as a child process, simulator mode (no provider key), on a free loopback port. */
export async function startRelay(
  options: {
    simJobMs?: number;
    /** More of the relay's configuration (e.g. `RETALK_ALLOW_PRIVATE_URLS: 'false'`). */
    env?: Record<string, string>;
  } = {},
): Promise<RelayProcess> {
  if (!existsSync(RELAY_MAIN)) {
    throw new Error(
      `The relay is not built (${RELAY_MAIN} is missing). Run \`pnpm build\` at the repository root first.`,
    );
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'retalk-ext-e2e-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    PORT: '0',
    RETALK_DATA_DIR: dataDir,
    RETALK_SIM_JOB_MS: String(options.simJobMs ?? 1500),
    RETALK_POLL_INTERVAL_MS: '200',
    RETALK_LOG_LEVEL: 'info',
    ...options.env,
  };
  const child: ChildProcess = spawn(process.execPath, [RELAY_MAIN], {
    env,
    cwd: dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let url: string;
  try {
    url = await waitFor(
      'the relay to listen',
      async () => {
        if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}:\n${output}`);
        return /(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      },
      20_000,
    );
    await waitFor(
      'the relay /healthz',
      async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined),
      10_000,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${String(error)}\nRelay output:\n${output}`);
  }
  const token = await waitFor(
    'the demo member token',
    async () => {
      const text = await readFile(join(dataDir, 'demo-token.txt'), 'utf8').catch(() => '');
      return /rtk_[A-Za-z0-9_-]+/.exec(text)?.[0];
    },
    10_000,
  );
  return {
    url,
    token,
    dataDir,
    logs: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

import { startPageServer } from './test-pages.mjs';

export { makeFragmentedTalk, makeHlsStream, startPageServer } from './test-pages.mjs';

/** The UI languages the extension ships (src/locales), as Chromium's `--lang` names them. */
export type UiLanguage = 'en' | 'zh-CN';

/**
 * A message of the built extension in one language, with its `{named}` placeholders filled, so a
 * test finds a label in whichever language the browser runs.
 */
export type Messages = (key: string, named?: Record<string, string>) => string;

async function loadMessages(language: UiLanguage): Promise<Messages> {
  const file = join(EXTENSION_BUILD, '_locales', language.replace('-', '_'), 'messages.json');
  const messages = JSON.parse(await readFile(file, 'utf8')) as Record<string, { message: string }>;
  return (key, named = {}) => {
    const message = messages[key.replaceAll('.', '_')]?.message;
    if (message === undefined) throw new Error(`No message ${key} in ${file}`);
    return message.replace(/\{(\w+)\}/g, (whole, name: string) => named[name] ?? whole);
  };
}

export type ExtensionSession = {
  context: BrowserContext;
  /** The language the browser's UI (and so the extension) runs in. */
  language: UiLanguage;
  /** The extension's messages in that language. */
  t: Messages;
  worker: Worker;
  extensionId: string;
  /**
   * The options tab the extension opens by itself on install, once it has drawn its form. The
   * session hands it over instead of letting tests race it: `runtime.openOptionsPage()` reuses an
   * options tab that is already open, so a test that opened its own options page before the
   * install-time one arrived saw its navigation interrupted by the extension's.
   */
  firstRunOptions: Page;
  close(): Promise<void>;
};

/**
 * Headless Chromium with the production build of the extension loaded, with access to every site
 * unless `sites` says otherwise: `granted` sites are allowed up front, `withheld` ones are left for
 * the member to allow at runtime (Site access "On specific sites"), see `setSiteAccess`.
 */
export async function launchExtension(
  options: {
    sites?: { granted: string[]; withheld: string[] };
    language?: UiLanguage;
    /** More Chromium switches (e.g. `--host-resolver-rules=…` for a host name only this "network" knows). */
    args?: string[];
  } = {},
): Promise<ExtensionSession> {
  const language = options.language ?? 'en';
  const executablePath = chromiumPath();
  if (!existsSync(join(EXTENSION_BUILD, 'manifest.json'))) {
    throw new Error(
      `No extension build at ${EXTENSION_BUILD}: run \`pnpm build\` (or \`pnpm build:e2e\`) in apps/extension first.`,
    );
  }
  await mkdir(SCREENSHOTS, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), 'retalk-ext-profile-'));
  // Headless Chromium cannot show permission prompts (permissions.request() would wait forever)
  // and a test cannot make a real menu click. The test loads a copy of the production build whose
  // manifest already holds what a member grants by hand: the relay origin (the options page's
  // "Allow") and the activeTab grant of a right-click (page access + tab capture, which Chrome
  // ties to activeTab or <all_urls>). No code in the copy differs.
  const extension = join(profile, 'extension');
  await cp(EXTENSION_BUILD, extension, { recursive: true });
  const manifest = JSON.parse(await readFile(join(extension, 'manifest.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  manifest.host_permissions = options.sites
    ? [...options.sites.granted, ...options.sites.withheld]
    : ['<all_urls>'];
  await writeFile(join(extension, 'manifest.json'), JSON.stringify(manifest));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1000, height: 720 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // A fake microphone (a beep) that needs no prompt, for recording the voice in the picker.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--disable-extensions-except=${extension}`,
      `--load-extension=${extension}`,
      // Extensions take their messages from the browser's UI language; headless Chromium on
      // Linux follows --lang for that (the LANGUAGE variable alone does not change it).
      `--lang=${language}`,
      ...(options.args ?? []),
    ],
  });
  const worker =
    context.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://')) ??
    (await context.waitForEvent('serviceworker', { timeout: 15_000 }));
  const extensionId = new URL(worker.url()).host;
  const t = await loadMessages(language);
  const firstRunOptions = await firstRunOptionsPage(context, extensionId, t);
  if (options.sites) {
    await changeSiteAccess(context, extensionId, { onlySpecificSites: true, allow: options.sites.granted });
  }
  return {
    context,
    language,
    t,
    worker,
    extensionId,
    firstRunOptions,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Waits for the options page the extension opens on install (in a new tab or in the start tab) to
 * finish loading and draw its heading.
 */
async function firstRunOptionsPage(context: BrowserContext, extensionId: string, t: Messages): Promise<Page> {
  const url = `chrome-extension://${extensionId}/options.html`;
  const page = await waitFor(
    'the options page the extension opens on install',
    async () => context.pages().find((p) => p.url() === url),
    60_000,
  );
  await page.waitForLoadState('load');
  await page.getByRole('heading', { name: t('options.title') }).waitFor({ timeout: 30_000 });
  return page;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The context-menu item's id, as the background registers it (one item for videos and pages). */
export const MENU_ID = 'retalk-lipsync';
/** Where the right-click landed: on the `<video>` (the browser names it), or on the page over it (an overlay). */
export const ON_VIDEO = 'video';
export const ON_PAGE = 'page';
export type ClickedOn = typeof ON_VIDEO | typeof ON_PAGE;

/** A relay, the test pages and a browser whose extension is connected to the relay, for one test file. */
export type ConnectedSetup = {
  relay: RelayProcess;
  pages: Awaited<ReturnType<typeof startPageServer>>;
  session: ExtensionSession;
  /** The install-time options tab, left open after connecting (a page to run DevTools sessions from). */
  options: Page;
  close(): Promise<void>;
};

/** Starts the relay (simulator mode), the test pages and the browser, and connects through the options page. */
export async function startConnectedSetup(
  options: {
    simJobMs?: number;
    media?: Record<string, Uint8Array>;
    sites?: { granted: string[]; withheld: string[] };
    language?: UiLanguage;
    /** The relay's extra configuration, which may name the test pages' address. */
    relayEnv?: (pages: { url: string }) => Record<string, string>;
    browserArgs?: string[];
  } = {},
): Promise<ConnectedSetup> {
  const pages = await startPageServer(options.media ? { media: options.media } : {});
  const relay = await startRelay({
    ...(options.simJobMs !== undefined && { simJobMs: options.simJobMs }),
    ...(options.relayEnv && { env: options.relayEnv(pages) }),
  }).catch(async (error) => {
    await pages.close();
    throw error;
  });
  const session = await launchExtension({
    ...(options.sites && { sites: options.sites }),
    ...(options.language && { language: options.language }),
    ...(options.browserArgs && { args: options.browserArgs }),
  });
  const { t } = session;
  // The tab the extension opened on install: a second options tab would race it.
  const page = session.firstRunOptions;
  await page.getByLabel(t('options.relayUrl')).fill(relay.url);
  await page.getByLabel(t('options.token')).fill(relay.token);
  await page.getByRole('button', { name: t('options.save') }).click();
  await page.getByTestId('connection-ok').waitFor();
  return {
    relay,
    pages,
    session,
    options: page,
    async close() {
      await session.close();
      await pages.close();
      await relay.stop();
    },
  };
}

/**
 * One connected setup for a whole test file: started before its tests (a failed start fails every
 * test with its message, never skips them), handed to `ready`, closed after.
 */
/** How long one test file's relay, pages, media and browser may take to start. */
const SETUP_TIMEOUT_MS = 300_000;

export function useConnectedSetup(
  options: () => Promise<Parameters<typeof startConnectedSetup>[0]>,
  ready: (setup: ConnectedSetup) => void | Promise<void>,
): void {
  let setup: ConnectedSetup | undefined;
  let setupError: unknown;
  // Making a file's media (minutes of H.264 for clips.test.ts), the relay and the browser took
  // over 2 min at a load average of 22 on the shared 2-core machine.
  beforeAll(async () => {
    try {
      setup = await startConnectedSetup(await options());
      await ready(setup);
    } catch (error) {
      setupError = error;
    }
  }, SETUP_TIMEOUT_MS);
  beforeEach(() => {
    if (setupError) throw setupError;
  });
  afterAll(async () => {
    await setup?.close();
  });
}

// Code passed to worker.evaluate runs in the extension's service worker, where `chrome` is the browser API.
declare const chrome: typeof import('wxt/browser').browser;

/** What the browser runs when the member picks one of our menu items (native menus cannot be clicked). */
export async function runMenuAction(
  session: ExtensionSession,
  pageUrl: string,
  clickedOn: ClickedOn,
  srcUrl?: string,
  frameUrl?: string,
  knownFrameId?: number,
): Promise<void> {
  await session.worker.evaluate(
    async ([pageUrl, menuItemId, onVideo, srcUrl, frameUrl, knownFrameId]) => {
      const tabs = await chrome.tabs.query({});
      const tab = tabs.find((t) => t.url === pageUrl);
      // A click inside a frame: the browser names that frame (its id, as scripting reports it).
      let frameId = knownFrameId;
      if (frameId < 0 && frameUrl && tab?.id !== undefined) {
        const frames = await chrome.scripting.executeScript({
          target: { tabId: tab.id, allFrames: true },
          func: () => location.href,
        });
        frameId = frames.find((f) => f.result === frameUrl)?.frameId ?? 0;
      }
      frameId = Math.max(0, frameId);
      const hooks = (
        globalThis as unknown as {
          __retalkTestHooks: { handleMenuClick: (...args: unknown[]) => Promise<unknown> };
        }
      ).__retalkTestHooks;
      await hooks.handleMenuClick(
        {
          menuItemId,
          editable: false,
          pageUrl,
          frameId,
          ...(frameUrl ? { frameUrl } : {}),
          // On a video the browser names it; on the page (an overlay) it names nothing.
          ...(onVideo && srcUrl ? { mediaType: 'video', srcUrl } : {}),
        },
        tab,
      );
    },
    [pageUrl, MENU_ID, clickedOn === ON_VIDEO, srcUrl ?? '', frameUrl ?? '', knownFrameId ?? -1] as const,
  );
}

/**
 * Opens a test page, right-clicks its video and runs the menu action the browser would run; returns
 * the picker window once it has drawn. `ready` is a page expression to wait for first (a player
 * script that is still buffering).
 */
export async function openPicker(
  session: ExtensionSession,
  pageUrl: string,
  clickedOn: ClickedOn,
  options: {
    ready?: string;
    inFrame?: boolean;
    /** The clicked frame's id when the extension may not script it to find out (another site's player). */
    frameId?: (page: Page) => Promise<number>;
    /** The player to right-click (default: the first video; `#v` on the overlay page). */
    selector?: string;
  } = {},
): Promise<Page> {
  const page = await session.context.newPage();
  await page.goto(pageUrl);
  await page.bringToFront();
  // `inFrame`: the player is in the page's first iframe.
  const frame = options.inFrame
    ? await (await page.locator('iframe').first().elementHandle())!.contentFrame()
    : null;
  if (options.ready) await (frame ?? page).waitForFunction(options.ready);
  // Locators see into open shadow roots, as a member's pointer does.
  const selector = options.selector ?? (new URL(pageUrl).pathname.startsWith('/overlay') ? '#v' : 'video');
  const target = (
    frame ? page.frameLocator('iframe').first().locator(selector) : page.locator(selector)
  ).first();
  const src = await target.evaluate(async (video: HTMLVideoElement) => {
    if (video.readyState < 1 && !video.src.startsWith('blob:')) {
      await new Promise((done) => video.addEventListener('loadeddata', done, { once: true }));
    }
    return video.currentSrc || video.src;
  });
  // A real right-click in the middle of the player; the pointer stays there, as it does while a
  // member picks the menu item.
  const box = (await target.boundingBox())!;
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2, { button: 'right' });
  const pickerOpened = session.context.waitForEvent('page', {
    predicate: (p) => p.url().includes('/picker.html'),
  });
  const frameId = options.frameId ? await options.frameId(page) : undefined;
  await runMenuAction(session, page.url(), clickedOn, src, frame?.url(), frameId);
  const picker = await pickerOpened;
  await picker.waitForLoadState();
  await picker.setViewportSize({ width: 520, height: 760 });
  await picker.getByRole('heading', { name: session.t('picker.title') }).waitFor();
  return picker;
}

/** Jobs at the relay, newest first, as the member sees them. */
export async function relayJobs(
  relay: RelayProcess,
): Promise<Array<{ id: string; status: string; estimatedSeconds: number; createdAt: string }>> {
  const response = await fetch(`${relay.url}/v1/jobs?limit=100`, {
    headers: { authorization: `Bearer ${relay.token}` },
  });
  return (
    (await response.json()) as {
      jobs: Array<{ id: string; status: string; estimatedSeconds: number; createdAt: string }>;
    }
  ).jobs;
}

/** Opens the toolbar popup's page in a tab at the popup's size. */
export async function openPopup(session: ExtensionSession): Promise<Page> {
  const popup = await session.context.newPage();
  await popup.setViewportSize({ width: 400, height: 600 });
  await popup.goto(`chrome-extension://${session.extensionId}/popup.html`);
  return popup;
}

/** A change of the extension's site access, as the member makes it on chrome://extensions. */
type SiteAccessChange = { onlySpecificSites?: boolean; allow?: string[]; withdraw?: string[] };

async function changeSiteAccess(context: BrowserContext, extensionId: string, change: SiteAccessChange) {
  const page = await context.newPage();
  try {
    await page.goto('chrome://extensions');
    await page.evaluate(
      async ([id, change]) => {
        const api = (
          globalThis as unknown as {
            chrome: {
              developerPrivate: {
                updateExtensionConfiguration(update: {
                  extensionId: string;
                  hostAccess: string;
                }): Promise<void>;
                addHostPermission(id: string, host: string): Promise<void>;
                removeHostPermission(id: string, host: string): Promise<void>;
              };
            };
          }
        ).chrome.developerPrivate;
        if (change.onlySpecificSites) {
          await api.updateExtensionConfiguration({ extensionId: id, hostAccess: 'ON_SPECIFIC_SITES' });
        }
        for (const host of change.allow ?? []) await api.addHostPermission(id, host);
        for (const host of change.withdraw ?? []) await api.removeHostPermission(id, host);
      },
      [extensionId, change] as const,
    );
  } finally {
    await page.close();
  }
}

/**
 * Allows or withdraws a withheld site the way the member does (the permission prompt's "Allow",
 * or Site access in the browser's menu): headless Chromium shows no prompt.
 */
export async function setSiteAccess(
  session: ExtensionSession,
  host: string,
  granted: boolean,
): Promise<void> {
  await changeSiteAccess(
    session.context,
    session.extensionId,
    granted ? { allow: [host] } : { withdraw: [host] },
  );
}

/** The extension's id for a frame of a tab, asked while the extension may script that frame. */
export async function frameIdOf(
  session: ExtensionSession,
  pageUrl: string,
  frameUrl: string,
): Promise<number> {
  return session.worker.evaluate(
    async ([pageUrl, frameUrl]) => {
      const tab = (await chrome.tabs.query({})).find((t) => t.url === pageUrl);
      const frames = await chrome.scripting.executeScript({
        target: { tabId: tab!.id!, allFrames: true },
        func: () => location.href,
      });
      const found = frames.find((f) => f.result === frameUrl);
      if (!found) throw new Error(`no frame at ${frameUrl} in ${pageUrl}`);
      return found.frameId;
    },
    [pageUrl, frameUrl] as const,
  );
}

/**
 * The real toolbar popup of the extension, opened on a tab as a click on the Retalk button opens
 * it, driven through DevTools: Playwright does not attach to action popups, so the popup's page
 * is reached over the browser's own DevTools session (`Target.attachToTarget`).
 */
export type ToolbarPopup = {
  /** Evaluates an expression in the popup (a promise is awaited) and returns its value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Waits until an expression is true in the popup (checked on every animation frame). */
  waitFor(expression: string, timeoutMs?: number): Promise<void>;
  /** A real mouse click in the middle of the `nth` element matching a selector. */
  click(selector: string, nth?: number): Promise<void>;
  /** Presses a key (`Tab`, `Enter`) where the focus is. */
  press(key: 'Tab' | 'Enter'): Promise<void>;
  /** Draws the popup in the light or dark scheme (`prefers-color-scheme`). */
  colorScheme(scheme: 'light' | 'dark'): Promise<void>;
  /** Saves a screenshot under test-results/screenshots. */
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
};

/** Opens the toolbar popup on `page`'s tab (brought to the front first), as the member's click does. */
export async function openToolbarPopup(session: ExtensionSession, page: Page): Promise<ToolbarPopup> {
  await page.bringToFront();
  const browser = session.context.browser();
  if (!browser) throw new Error('No browser behind the extension session');
  const cdp = await browser.newBrowserCDPSession();
  const popupUrl = `chrome-extension://${session.extensionId}/popup.html`;
  const known = new Set(
    (
      (await cdp.send('Target.getTargets')) as {
        targetInfos: Array<{ targetId: string; url: string }>;
      }
    ).targetInfos
      .filter((target) => target.url.startsWith(popupUrl))
      .map((target) => target.targetId),
  );
  await session.worker.evaluate(() => chrome.action.openPopup());
  const target = await waitFor(
    'the toolbar popup',
    async () =>
      (
        (await cdp.send('Target.getTargets')) as {
          targetInfos: Array<{ targetId: string; url: string; type: string }>;
        }
      ).targetInfos.find(
        (info) => info.type === 'page' && info.url.startsWith(popupUrl) && !known.has(info.targetId),
      ),
    15_000,
  );
  const { sessionId } = (await cdp.send('Target.attachToTarget', {
    targetId: target.targetId,
    flatten: false,
  })) as { sessionId: string };
  let lastId = 0;
  const waiting = new Map<number, (message: { result?: unknown; error?: { message: string } }) => void>();
  // The popup closed: what it never answered fails as a message to a gone session does.
  cdp.on('Target.detachedFromTarget', (event) => {
    if (event.sessionId !== sessionId) return;
    for (const answer of [...waiting.values()])
      answer({ error: { message: 'No session: the popup closed' } });
  });
  cdp.on('Target.receivedMessageFromTarget', (event) => {
    const message = JSON.parse(event.message) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    if (message.id !== undefined) waiting.get(message.id)?.(message);
  });
  const send = (method: string, params: object = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++lastId;
      waiting.set(id, (message) => {
        waiting.delete(id);
        if (message.error) reject(new Error(`${method}: ${message.error.message}`));
        else resolve(message.result as Record<string, unknown>);
      });
      cdp
        .send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) })
        .catch(reject);
    });
  // A click or key that opens the picker closes the popup (window.close()), and with it this
  // session, before the event's own answer may arrive: only that error is expected.
  const closedByIt = (error: Error) => {
    if (!/No session/.test(error.message)) throw error;
  };
  const evaluate = async <T>(expression: string): Promise<T> => {
    const { result, exceptionDetails } = (await send('Runtime.evaluate', {
      expression,
      awaitPromise: true,
      returnByValue: true,
    })) as { result: { value: T }; exceptionDetails?: { exception?: { description?: string } } };
    if (exceptionDetails) throw new Error(exceptionDetails.exception?.description ?? 'evaluation failed');
    return result.value;
  };
  const popup: ToolbarPopup = {
    evaluate,
    async waitFor(expression, timeoutMs = 30_000) {
      const met = await evaluate<boolean>(`new Promise((done) => {
        const until = performance.now() + ${timeoutMs};
        const check = () => {
          if (${expression}) done(true);
          else if (performance.now() > until) done(false);
          else requestAnimationFrame(check);
        };
        check();
      })`);
      if (!met) throw new Error(`The popup never showed: ${expression}`);
    },
    async click(selector, nth = 0) {
      const box = await evaluate<{ x: number; y: number } | null>(`(() => {
        const element = document.querySelectorAll(${JSON.stringify(selector)})[${nth}];
        if (!element) return null;
        element.scrollIntoView({ block: 'nearest' });
        const r = element.getBoundingClientRect();
        return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
      })()`);
      if (!box) throw new Error(`No ${selector} #${nth} in the popup`);
      await send('Input.dispatchMouseEvent', { type: 'mouseMoved', ...box });
      await send('Input.dispatchMouseEvent', { type: 'mousePressed', ...box, button: 'left', clickCount: 1 });
      await send('Input.dispatchMouseEvent', {
        type: 'mouseReleased',
        ...box,
        button: 'left',
        clickCount: 1,
      }).catch(closedByIt);
    },
    async press(key) {
      const code = key === 'Tab' ? 9 : 13;
      const text = key === 'Enter' ? { text: '\r' } : {};
      await send('Input.dispatchKeyEvent', {
        type: 'keyDown',
        key,
        code: key,
        windowsVirtualKeyCode: code,
        ...text,
      }).catch(closedByIt);
      await send('Input.dispatchKeyEvent', {
        type: 'keyUp',
        key,
        code: key,
        windowsVirtualKeyCode: code,
      }).catch(closedByIt);
    },
    async colorScheme(scheme) {
      await send('Emulation.setEmulatedMedia', {
        features: [{ name: 'prefers-color-scheme', value: scheme }],
      });
    },
    async screenshot(name) {
      const { data } = (await send('Page.captureScreenshot', { format: 'png' })) as { data: string };
      await writeFile(join(SCREENSHOTS, `${name}.png`), Buffer.from(data, 'base64'));
    },
    async close() {
      await evaluate('window.close()').catch(() => undefined);
      await cdp.detach().catch(() => undefined);
    },
  };
  await popup.waitFor("document.readyState === 'complete' && !!document.querySelector('main')");
  return popup;
}
