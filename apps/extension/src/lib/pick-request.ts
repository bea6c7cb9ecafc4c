import { storage } from 'wxt/utils/storage';
import type { VideoTarget } from './video-source.js';

/** The picker window's size, from a menu click or the popup's "New lip-sync". */
export const PICKER_WINDOW = { width: 520, height: 760 } as const;

/** Everything the picker window needs about the video the member right-clicked. */
export type PickRequest = {
  id: string;
  tabId: number;
  frameId: number;
  /** The video as the page described it; null when the page could not be asked. */
  video: VideoTarget | null;
  /** The browser's own idea of the source (`srcUrl` of the menu click), if any. */
  srcUrl?: string;
  /**
   * The origin of the clicked frame when it is another site's (an embedded player) that the
   * extension may not read yet: the picker asks the member for access to exactly that origin.
   */
  blockedFrameOrigin?: string;
  pageUrl: string;
  pageTitle: string;
  /** PNG data URL of the visible tab at the click, for the preview and the face pick. */
  tabCapture?: string;
  createdAtMs: number;
  /** Opened from the popup's "New lip-sync" (finding 14): no page, the member brings a video file. */
  fromFiles?: true;
};

/** The picker without a page: a video file and an audio the member chooses (finding 14). */
export function filesPickRequest(): PickRequest {
  return {
    id: 'files',
    tabId: -1,
    frameId: 0,
    video: null,
    pageUrl: '',
    pageTitle: '',
    createdAtMs: Date.now(),
    fromFiles: true,
  };
}

// Session storage: the request lives only as long as the browser session (it may hold a screenshot).
function key(id: string): `session:${string}` {
  return `session:pick-${id}`;
}

export async function savePickRequest(request: PickRequest): Promise<void> {
  await storage.setItem(key(request.id), request);
}

export async function loadPickRequest(id: string): Promise<PickRequest | null> {
  return storage.getItem<PickRequest>(key(id));
}

export async function removePickRequest(id: string): Promise<void> {
  await storage.removeItem(key(id));
}
