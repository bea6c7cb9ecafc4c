import { type Browser, browser } from 'wxt/browser';
import { type PickRequest, savePickRequest } from './pick-request.js';
import type { VideoTarget } from './video-source.js';
import { classifySourceUrl } from './video-source.js';

export const VIDEO_MENU_ID = 'retalk-lipsync-video';
export const OVERLAY_MENU_ID = 'retalk-lipsync-under-pointer';
export const PICKER_WINDOW = { width: 520, height: 760 } as const;

/** Menus persist across service-worker restarts: create them on install/update only, after clearing. */
export async function createMenus(): Promise<void> {
  await browser.contextMenus.removeAll();
  browser.contextMenus.create({ id: VIDEO_MENU_ID, title: 'Lip-sync this video…', contexts: ['video'] });
  // Custom players cover the <video> with their own layer, and then the browser offers no video menu.
  browser.contextMenus.create({
    id: OVERLAY_MENU_ID,
    title: 'Lip-sync the video under the pointer…',
    contexts: ['page', 'frame', 'image', 'link'],
    documentUrlPatterns: ['http://*/*', 'https://*/*', 'file:///*'],
  });
}

async function askPage(
  tabId: number,
  frameId: number,
  srcUrl?: string,
  targetElementId?: number,
): Promise<VideoTarget | null> {
  const message = {
    type: 'retalk:find-video',
    ...(srcUrl !== undefined && { srcUrl }),
    ...(targetElementId !== undefined && { targetElementId }),
  };
  try {
    // The menu click's activeTab grant lets us inject the finder into exactly the clicked frame.
    await browser.scripting.executeScript({
      target: { tabId, frameIds: [frameId] },
      files: ['/content-scripts/content.js'],
    });
    return ((await browser.tabs.sendMessage(tabId, message, { frameId })) as VideoTarget | null) ?? null;
  } catch {
    // Browser pages and stores refuse scripts: the picker works from the menu's srcUrl alone.
    return null;
  }
}

function fallbackTarget(srcUrl: string, pageUrl: string, pageTitle: string): VideoTarget {
  const kind = classifySourceUrl(srcUrl);
  return {
    src: srcUrl,
    kind: kind === 'probe-blob' ? 'stream' : kind,
    rect: { x: 0, y: 0, width: 0, height: 0 },
    devicePixelRatio: 1,
    topFrame: false,
    pageUrl,
    pageTitle,
  };
}

/** Context-menu click → describe the video, capture the tab, open the picker window. */
export async function handleMenuClick(
  info: Browser.contextMenus.OnClickData,
  tab: Browser.tabs.Tab | undefined,
): Promise<PickRequest | null> {
  if (info.menuItemId !== VIDEO_MENU_ID && info.menuItemId !== OVERLAY_MENU_ID) return null;
  if (tab?.id === undefined) return null;
  const frameId = info.frameId ?? 0;
  const pageUrl = info.frameUrl ?? info.pageUrl ?? tab.url ?? '';
  const pageTitle = tab.title ?? '';
  const video =
    (await askPage(tab.id, frameId, info.srcUrl, (info as { targetElementId?: number }).targetElementId)) ??
    (info.srcUrl ? fallbackTarget(info.srcUrl, pageUrl, pageTitle) : null);
  let tabCapture: string | undefined;
  // The tab capture is the fallback for the face pick when the page could not hand over its frame.
  if (!video?.frame && video?.topFrame && tab.windowId !== undefined) {
    try {
      tabCapture = await browser.tabs.captureVisibleTab(tab.windowId, { format: 'png' });
    } catch {
      // No capture permission (e.g. a browser page): the picker works without a preview frame.
    }
  }
  const request: PickRequest = {
    id: crypto.randomUUID(),
    tabId: tab.id,
    frameId,
    video,
    ...(info.srcUrl !== undefined && { srcUrl: info.srcUrl }),
    pageUrl: video?.pageUrl ?? pageUrl,
    pageTitle: video?.pageTitle || pageTitle,
    ...(tabCapture !== undefined && { tabCapture }),
    createdAtMs: Date.now(),
  };
  await savePickRequest(request);
  await browser.windows.create({
    url: browser.runtime.getURL(`/picker.html?pick=${request.id}`),
    type: 'popup',
    ...PICKER_WINDOW,
  });
  return request;
}
