import { type Browser, browser } from 'wxt/browser';
import { openPickerWindow } from './open-picker.js';
import { CHOOSE_VIDEO_MESSAGE, type FrameVideos, PAGE_VIDEOS_MESSAGE } from './page-video.js';
import type { VideoTarget } from './video-source.js';

/** One frame of the active tab with its videos, as the popup lists them. */
export type FrameWithVideos = FrameVideos & { frameId: number };

/**
 * The videos of the tab the popup was opened on (finding 9), in every frame the extension may
 * script: `hidden` when the popup is not about a page (opened in a tab of its own, from a
 * notification), `blocked` when the browser lets no extension into the page (its own pages, the
 * extension store), else the frames that hold videos, the tab's own frame first.
 */
export type PageVideos =
  | { state: 'hidden' }
  | { state: 'blocked' }
  | { state: 'found'; tab: Browser.tabs.Tab & { id: number }; frames: FrameWithVideos[] };

/** Pages the browser may let an extension script; anything else (chrome:, about:, view-source:…) never. */
const SCRIPTABLE = /^(https?|file):/;

export async function findPageVideos(): Promise<PageVideos> {
  const [tab] = await browser.tabs.query({ active: true, currentWindow: true });
  if (tab?.id === undefined) return { state: 'blocked' };
  // The popup page opened in a tab (a notification's link) has no page of its own to list.
  if (tab.url?.startsWith(browser.runtime.getURL('/'))) return { state: 'hidden' };
  if (tab.url !== undefined && !SCRIPTABLE.test(tab.url)) return { state: 'blocked' };
  let injected: Array<{ frameId: number }>;
  try {
    // Opening the popup granted activeTab on this tab: the finder goes into each frame of its
    // site (and of any site the member allowed); the browser skips the others.
    injected = await browser.scripting.executeScript({
      target: { tabId: tab.id, allFrames: true },
      files: ['/content-scripts/content.js'],
    });
  } catch {
    // The extension store and pages the browser protects refuse every extension.
    return { state: 'blocked' };
  }
  const tabId = tab.id;
  const frames = await Promise.all(
    injected.map(async ({ frameId }): Promise<FrameWithVideos | null> => {
      const answer = (await browser.tabs
        .sendMessage(tabId, { type: PAGE_VIDEOS_MESSAGE }, { frameId })
        .catch(() => null)) as FrameVideos | null;
      return answer && answer.videos.length > 0 ? { ...answer, frameId } : null;
    }),
  );
  return {
    state: 'found',
    tab: { ...tab, id: tabId },
    frames: frames
      .filter((frame): frame is FrameWithVideos => frame !== null)
      .sort((a, b) => Number(b.topFrame) - Number(a.topFrame) || a.frameId - b.frameId),
  };
}

/**
 * Opens the picker on one video of the list, as a menu click on it would: the finder in its frame
 * takes that video (recordings, previews and thumbnails are then of it) and describes it. False
 * when the video is gone from the page.
 */
export async function openPageVideo(
  tab: Browser.tabs.Tab & { id: number },
  frameId: number,
  index: number,
): Promise<boolean> {
  const video = (await browser.tabs
    .sendMessage(tab.id, { type: CHOOSE_VIDEO_MESSAGE, index }, { frameId })
    .catch(() => null)) as VideoTarget | null;
  if (!video) return false;
  await openPickerWindow({
    tabId: tab.id,
    ...(tab.windowId !== undefined && { windowId: tab.windowId }),
    frameId,
    video,
    pageUrl: video.pageUrl,
    pageTitle: tab.title ?? video.pageTitle,
  });
  return true;
}
