import { beforeEach, describe, expect, it, vi } from 'vitest';
import { browser } from 'wxt/browser';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import {
  createMenus,
  handleMenuClick,
  OVERLAY_MENU_ID,
  PICKER_WINDOW,
  VIDEO_MENU_ID,
} from '../src/lib/menu-action.js';
import { loadPickRequest } from '../src/lib/pick-request.js';
import type { VideoTarget } from '../src/lib/video-source.js';

const TARGET: VideoTarget = {
  src: 'https://cdn.example.com/clip.mp4',
  kind: 'url',
  durationSec: 3,
  width: 640,
  height: 480,
  rect: { x: 10, y: 10, width: 320, height: 240 },
  devicePixelRatio: 1,
  topFrame: true,
  pageUrl: 'https://example.com/watch',
  pageTitle: 'Demo page',
};

const TAB = {
  id: 7,
  windowId: 3,
  index: 0,
  title: 'Demo page',
  url: 'https://example.com/watch',
} as Parameters<typeof handleMenuClick>[1];

describe('context-menu action', () => {
  let executeScript: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    fakeBrowser.reset();
    vi.restoreAllMocks();
    // fake-browser has no scripting API; the finder injection only has to be requested.
    executeScript = vi.fn().mockResolvedValue([]);
    browser.scripting = { executeScript } as never;
  });

  it('asks the page for the video, captures the tab and opens the picker window with the request', async () => {
    const sendMessage = vi.spyOn(browser.tabs, 'sendMessage').mockResolvedValue(TARGET as never);
    vi.spyOn(browser.tabs, 'captureVisibleTab').mockResolvedValue('data:image/png;base64,AAAA' as never);
    const create = vi.spyOn(browser.windows, 'create').mockResolvedValue({} as never);
    const request = await handleMenuClick(
      { menuItemId: VIDEO_MENU_ID, editable: false, pageUrl: TARGET.pageUrl, srcUrl: TARGET.src, frameId: 0 },
      TAB,
    );
    expect(sendMessage).toHaveBeenCalledWith(
      7,
      { type: 'retalk:find-video', srcUrl: TARGET.src },
      { frameId: 0 },
    );
    expect(request).toMatchObject({
      tabId: 7,
      frameId: 0,
      video: TARGET,
      tabCapture: 'data:image/png;base64,AAAA',
    });
    expect(create).toHaveBeenCalledWith(
      expect.objectContaining({
        type: 'popup',
        url: expect.stringContaining(`/picker.html?pick=${request?.id}`),
        ...PICKER_WINDOW,
      }),
    );
    expect(await loadPickRequest(request!.id)).toEqual(request);
  });

  it('finds the video under the pointer when an overlay hid it from the video menu', async () => {
    const sendMessage = vi.spyOn(browser.tabs, 'sendMessage').mockResolvedValue(TARGET as never);
    vi.spyOn(browser.tabs, 'captureVisibleTab').mockResolvedValue('data:image/png;base64,AAAA' as never);
    vi.spyOn(browser.windows, 'create').mockResolvedValue({} as never);
    const request = await handleMenuClick(
      { menuItemId: OVERLAY_MENU_ID, editable: false, pageUrl: TARGET.pageUrl, frameId: 2 },
      TAB,
    );
    expect(sendMessage).toHaveBeenCalledWith(7, { type: 'retalk:find-video' }, { frameId: 2 });
    expect(request?.video?.src).toBe(TARGET.src);
  });

  it('still opens the picker from the browser-given source when the page refuses scripts', async () => {
    executeScript.mockRejectedValue(new Error('Cannot access contents of the page'));
    const capture = vi.spyOn(browser.tabs, 'captureVisibleTab');
    vi.spyOn(browser.windows, 'create').mockResolvedValue({} as never);
    const request = await handleMenuClick(
      {
        menuItemId: VIDEO_MENU_ID,
        editable: false,
        pageUrl: TARGET.pageUrl,
        srcUrl: 'blob:https://example.com/x',
      },
      TAB,
    );
    expect(request?.video).toMatchObject({ src: 'blob:https://example.com/x', kind: 'stream' });
    expect(capture).not.toHaveBeenCalled();
  });

  it('offers the under-the-pointer item on pages and frames, not on every link and image (finding 16)', async () => {
    const created: Array<{ id?: string | number; title?: string; contexts?: string[] }> = [];
    Object.assign(fakeBrowser.contextMenus, {
      removeAll: async () => undefined,
      create: (item: (typeof created)[number]) => created.push(item),
    });
    await createMenus();
    expect(created.map(({ id, title, contexts }) => ({ id, title, contexts }))).toEqual([
      { id: VIDEO_MENU_ID, title: 'Lip-sync this video…', contexts: ['video'] },
      { id: OVERLAY_MENU_ID, title: 'Lip-sync the video under the pointer…', contexts: ['page', 'frame'] },
    ]);
  });

  it('ignores clicks on menu items that are not its own', async () => {
    expect(
      await handleMenuClick({ menuItemId: 'other', editable: false, pageUrl: 'https://x.example' }, TAB),
    ).toBeNull();
  });
});
