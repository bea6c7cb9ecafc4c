import { type Browser, browser } from 'wxt/browser';
import { t } from './i18n.js';
import { openPickerWindow } from './open-picker.js';
import { VIDEO_NEAR_MESSAGE } from './page-video.js';
import { PICKER_WINDOW, type PickRequest } from './pick-request.js';
import type { VideoTarget } from './video-source.js';
import { classifySourceUrl } from './video-source.js';

/** The one context-menu item: on a video, and on a page or frame (a player's overlay hides the video). */
export const MENU_ID = 'retalk-lipsync';
export { PICKER_WINDOW };

/** Pages the item shows on: not the extension's own pages, PDFs or browser pages. */
const DOCUMENT_PATTERNS = ['http://*/*', 'https://*/*', 'file:///*'];

/**
 * Firefox's `menus` API (also reachable as `contextMenus` there): `onShown`/`refresh` and `visible`
 * let the item hide where it cannot help. Chromium has none of these.
 */
export type ShowableMenus = {
  update(id: string, props: { visible: boolean }): Promise<void> | void;
  refresh(): Promise<void> | void;
  onShown: { addListener(listener: (info: MenuShownInfo, tab?: Browser.tabs.Tab) => void): void };
  onHidden: { addListener(listener: () => void): void };
};

/** What Firefox tells `menus.onShown` listeners (the fields used here). */
export type MenuShownInfo = { contexts: string[]; frameId?: number; menuIds?: Array<string | number> };

/** Firefox's `menus` when it can show and hide items as the menu opens; undefined in Chromium. */
export function showableMenus(): ShowableMenus | undefined {
  const api = browser as unknown as { menus?: Partial<ShowableMenus>; contextMenus?: Partial<ShowableMenus> };
  const menus = api.menus ?? api.contextMenus;
  return menus?.onShown && menus.onHidden && menus.refresh && menus.update
    ? (menus as ShowableMenus)
    : undefined;
}

/**
 * The item's contexts (finding 16). One item, so a browser never groups two near-identical entries
 * under "Retalk ▸" (Chrome did on a video in an iframe, where the video item and the page/frame item
 * both matched). Chrome's `page` context also covers frames but never links, selections, images or
 * editable fields (chrome/browser/renderer_context_menu/render_view_context_menu.cc,
 * ExtensionContextAndPatternMatch), so `frame`, which matches everything inside a frame, is left
 * out. Firefox adds `page` only when no other context applies, so a frame's plain area is `frame`
 * alone there: it gets `frame`, and `onShown` hides the item on links, selections and the like.
 */
export function menuContexts(showable: boolean): ['video', ...Array<'page' | 'frame'>] {
  return showable ? ['video', 'page', 'frame'] : ['video', 'page'];
}

/** Menus persist across service-worker restarts: create them on install/update only, after clearing. */
export async function createMenus(options: { showable?: boolean } = {}): Promise<void> {
  const showable = options.showable ?? !!showableMenus();
  await browser.contextMenus.removeAll();
  browser.contextMenus.create({
    id: MENU_ID,
    title: t('menu.video'),
    contexts: menuContexts(showable),
    documentUrlPatterns: DOCUMENT_PATTERNS,
  });
}

/** Contexts where a lip-sync cannot help: the right-click was about something else than a player. */
const NOT_A_PLAYER = ['link', 'selection', 'editable', 'password', 'image', 'audio'];

/**
 * Whether the item helps for this right-click: always on a video; never on a link, selection,
 * image or editable field; elsewhere when the frame has a video, as far as the finder (present
 * after an earlier use in that page) can tell. Without the finder it stays (nothing to ask).
 */
export async function itemHelps(
  info: MenuShownInfo,
  askFinder: () => Promise<boolean | undefined>,
): Promise<boolean> {
  if (info.contexts.includes('video')) return true;
  if (info.contexts.some((context) => NOT_A_PLAYER.includes(context))) return false;
  return (await askFinder()) ?? true;
}

/**
 * Firefox: shows or hides the item as each menu opens (`onShown` → `update` → `refresh`), and
 * makes it visible again once the menu closes, so the next menu starts from the item shown.
 */
export function followMenuShown(menus: ShowableMenus): void {
  let instance = 0;
  menus.onShown.addListener((info, tab) => {
    if (!info.menuIds?.includes(MENU_ID)) return;
    const mine = ++instance;
    const askFinder = async () => {
      if (tab?.id === undefined) return undefined;
      try {
        const answer: unknown = await browser.tabs.sendMessage(
          tab.id,
          { type: VIDEO_NEAR_MESSAGE },
          { frameId: info.frameId ?? 0 },
        );
        return typeof answer === 'boolean' ? answer : undefined;
      } catch {
        return undefined;
      }
    };
    void itemHelps(info, askFinder).then(async (visible) => {
      // The menu may have closed (or another opened) while the finder answered.
      if (visible || mine !== instance) return;
      await menus.update(MENU_ID, { visible: false });
      await menus.refresh();
    });
  });
  menus.onHidden.addListener(() => {
    instance++;
    void menus.update(MENU_ID, { visible: true });
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
  if (info.menuItemId !== MENU_ID) return null;
  if (tab?.id === undefined) return null;
  const frameId = info.frameId ?? 0;
  const pageUrl = info.frameUrl ?? info.pageUrl ?? tab.url ?? '';
  const pageTitle = tab.title ?? '';
  // One item for a video and for a page: the browser names the video (srcUrl) when the click was
  // on one; else the finder looks under the pointer (an overlay, a shadow-DOM player).
  const srcUrl = info.mediaType === 'video' ? info.srcUrl : undefined;
  const asked = await describeVideoInFrame(
    tab.id,
    frameId,
    srcUrl,
    (info as { targetElementId?: number }).targetElementId,
  );
  // Browser pages and stores refuse scripts: the picker works from the menu's srcUrl alone. A
  // frame from another site can be asked again once the member grants its origin in the picker.
  const blockedFrame = 'blocked' in asked && frameId !== 0 ? frameOrigin(info.frameUrl) : undefined;
  const video =
    ('video' in asked ? asked.video : null) ?? (srcUrl ? fallbackTarget(srcUrl, pageUrl, pageTitle) : null);
  return openPickerWindow({
    tabId: tab.id,
    ...(tab.windowId !== undefined && { windowId: tab.windowId }),
    frameId,
    video,
    ...(srcUrl !== undefined && { srcUrl }),
    ...(blockedFrame !== undefined && { blockedFrameOrigin: blockedFrame }),
    pageUrl,
    pageTitle,
  });
}
