import { type Browser, browser } from 'wxt/browser';
import { t } from './i18n.js';
import { PICKER_WINDOW, type PickRequest, savePickRequest } from './pick-request.js';
import type { VideoTarget } from './video-source.js';
import { classifySourceUrl } from './video-source.js';

export const VIDEO_MENU_ID = 'retalk-lipsync-video';
export const OVERLAY_MENU_ID = 'retalk-lipsync-under-pointer';
export { PICKER_WINDOW };

/** Menus persist across service-worker restarts: create them on install/update only, after clearing. */
export async function createMenus(): Promise<void> {
  await browser.contextMenus.removeAll();
  browser.contextMenus.create({ id: VIDEO_MENU_ID, title: t('menu.video'), contexts: ['video'] });
  // Custom players cover the <video> with their own layer, and then the browser offers no video menu.
  browser.contextMenus.create({
    id: OVERLAY_MENU_ID,
    title: t('menu.underPointer'),
    // Not on links and images (finding 16): there the item was clutter on every page, and a
    // player's overlay is a plain element, which is the `page` (or `frame`) context.
    contexts: ['page', 'frame'],
    documentUrlPatterns: ['http://*/*', 'https://*/*', 'file:///*'],
  });
}

/**
 * Injects the finder into one frame and asks it for the video: `blocked` when the extension may
 * not script that frame (an embedded player from another site, without access to its origin).
 */
export async function describeVideoInFrame(
  tabId: number,
  frameId: number,
  srcUrl?: string,
  targetElementId?: number,
): Promise<{ video: VideoTarget | null } | { blocked: true }> {
  const message = {
    type: 'retalk:find-video',
    ...(srcUrl !== undefined && { srcUrl }),
    ...(targetElementId !== undefined && { targetElementId }),
  };
  try {
    // The menu click's activeTab grant lets us inject the finder into the clicked frame of the
    // tab's own site; a frame from another site needs access to that site's origin.
    await browser.scripting.executeScript({
      target: { tabId, frameIds: [frameId] },
      files: ['/content-scripts/content.js'],
    });
  } catch {
    return { blocked: true };
  }
  try {
    return {
      video: ((await browser.tabs.sendMessage(tabId, message, { frameId })) as VideoTarget | null) ?? null,
    };
  } catch {
    return { video: null };
  }
}

/** The origin of an http(s) frame address, for a host-permission request; undefined otherwise. */
export function frameOrigin(frameUrl: string | undefined): string | undefined {
  if (!frameUrl) return undefined;
  try {
    const url = new URL(frameUrl);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
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
  const asked = await describeVideoInFrame(
    tab.id,
    frameId,
    info.srcUrl,
    (info as { targetElementId?: number }).targetElementId,
  );
  // Browser pages and stores refuse scripts: the picker works from the menu's srcUrl alone. A
  // frame from another site can be asked again once the member grants its origin in the picker.
  const blockedFrame = 'blocked' in asked && frameId !== 0 ? frameOrigin(info.frameUrl) : undefined;
  const video =
    ('video' in asked ? asked.video : null) ??
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
    ...(blockedFrame !== undefined && { blockedFrameOrigin: blockedFrame }),
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
