import { browser } from 'wxt/browser';
import { PICKER_WINDOW, type PickRequest, savePickRequest } from './pick-request.js';

/** The video to open the picker for, and where it is: from a menu click or the popup's list. */
export type PickerOpening = Pick<
  PickRequest,
  'tabId' | 'frameId' | 'video' | 'srcUrl' | 'blockedFrameOrigin' | 'pageUrl' | 'pageTitle'
> & {
  /** The tab's window, for the tab capture; without it the picker has no capture to fall back on. */
  windowId?: number;
};

/**
 * Captures the visible tab when the page could not hand over the video's frame (the face pick's
 * fallback), stores the pick request and opens the picker window on it.
 */
export async function openPickerWindow(opening: PickerOpening): Promise<PickRequest> {
  const { video } = opening;
  let tabCapture: string | undefined;
  if (!video?.frame && video?.topFrame && opening.windowId !== undefined) {
    try {
      tabCapture = await browser.tabs.captureVisibleTab(opening.windowId, { format: 'png' });
    } catch {
      // No capture permission (e.g. a browser page): the picker works without a preview frame.
    }
  }
  const request: PickRequest = {
    id: crypto.randomUUID(),
    tabId: opening.tabId,
    frameId: opening.frameId,
    video,
    ...(opening.srcUrl !== undefined && { srcUrl: opening.srcUrl }),
    ...(opening.blockedFrameOrigin !== undefined && { blockedFrameOrigin: opening.blockedFrameOrigin }),
    pageUrl: video?.pageUrl ?? opening.pageUrl,
    pageTitle: video?.pageTitle || opening.pageTitle,
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
