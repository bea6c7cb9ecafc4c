import { beforeEach, describe, expect, it, vi } from 'vitest';
import { browser } from 'wxt/browser';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import {
  createMenus,
  followMenuShown,
  handleMenuClick,
  MENU_ID,
  type MenuShownInfo,
  PICKER_WINDOW,
  type ShowableMenus,
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
      {
        menuItemId: MENU_ID,
        editable: false,
        pageUrl: TARGET.pageUrl,
        mediaType: 'video',
        srcUrl: TARGET.src,
        frameId: 0,
      },
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

  it('finds the video under the pointer when the click was on the page (an overlay hid the video)', async () => {
    const sendMessage = vi.spyOn(browser.tabs, 'sendMessage').mockResolvedValue(TARGET as never);
    vi.spyOn(browser.tabs, 'captureVisibleTab').mockResolvedValue('data:image/png;base64,AAAA' as never);
    vi.spyOn(browser.windows, 'create').mockResolvedValue({} as never);
    const request = await handleMenuClick(
      { menuItemId: MENU_ID, editable: false, pageUrl: TARGET.pageUrl, frameId: 2 },
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
        menuItemId: MENU_ID,
        editable: false,
        pageUrl: TARGET.pageUrl,
        mediaType: 'video',
        srcUrl: 'blob:https://example.com/x',
      },
      TAB,
    );
    expect(request?.video).toMatchObject({ src: 'blob:https://example.com/x', kind: 'stream' });
    expect(capture).not.toHaveBeenCalled();
  });

  it('ignores clicks on menu items that are not its own', async () => {
    expect(
      await handleMenuClick({ menuItemId: 'other', editable: false, pageUrl: 'https://x.example' }, TAB),
    ).toBeNull();
  });
});

type Item = { id?: string | number; title?: string; contexts?: string[]; documentUrlPatterns?: string[] };

async function registeredItems(showable: boolean): Promise<Item[]> {
  const created: Item[] = [];
  Object.assign(fakeBrowser.contextMenus, {
    removeAll: async () => undefined,
    create: (item: Item) => created.push(item),
  });
  await createMenus({ showable });
  return created;
}

/** A right-click as Chromium describes it to its menu (content::ContextMenuParams). */
type ChromeClick = {
  isSubframe: boolean;
  frameUrl: string;
  mediaType: 'none' | 'video' | 'image' | 'audio';
  linkUrl?: string;
  selectionText?: string;
  isEditable?: boolean;
};

/**
 * Chromium's rule for which extension items a right-click shows, transcribed from
 * chrome/browser/renderer_context_menu/render_view_context_menu.cc (ExtensionContextAndPatternMatch
 * and MenuItemMatchesParams; no targetUrlPatterns here). `frame` matches anything inside a frame;
 * `page` matches only where no link, selection, editable field or media is, in frames too.
 */
function chromeShows(item: Item, click: ChromeClick): boolean {
  const contexts = item.contexts ?? ['page'];
  const hasLink = !!click.linkUrl;
  const hasSelection = !!click.selectionText;
  const editable = !!click.isEditable;
  const documentMatches =
    !item.documentUrlPatterns ||
    item.documentUrlPatterns.some((pattern) =>
      new RegExp(`^${pattern.replace(/[.?+^$()[\]{}|\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(
        click.frameUrl,
      ),
    );
  if (!documentMatches) return false;
  if (
    contexts.includes('all') ||
    (hasSelection && contexts.includes('selection')) ||
    (editable && contexts.includes('editable')) ||
    (click.isSubframe && contexts.includes('frame'))
  )
    return true;
  if (hasLink && contexts.includes('link')) return true;
  if (click.mediaType !== 'none' && contexts.includes(click.mediaType)) return true;
  return !hasLink && !hasSelection && !editable && click.mediaType === 'none' && contexts.includes('page');
}

const TOP = { isSubframe: false, frameUrl: 'https://example.com/watch' };
const IFRAME = { isSubframe: true, frameUrl: 'https://player.example.net/embed/1' };

describe('the context-menu item (finding 16)', () => {
  beforeEach(() => fakeBrowser.reset());

  it('is one item in Chrome, so a video in an iframe gets one top-level entry, not "Retalk ▸" with two', async () => {
    const items = await registeredItems(false);
    const shown = (click: ChromeClick) =>
      items.filter((item) => chromeShows(item, click)).map((i) => i.title);
    // On the video itself and on a player's overlay (a plain element: the page), in the page and in frames.
    for (const where of [TOP, IFRAME]) {
      expect(shown({ ...where, mediaType: 'video' })).toEqual(['Lip-sync this video…']);
      expect(shown({ ...where, mediaType: 'none' })).toEqual(['Lip-sync this video…']);
    }
  });

  it('is not offered on links, selections, images, audio or editable fields, in the page or in a frame', async () => {
    const items = await registeredItems(false);
    const clutter: ChromeClick[] = [TOP, IFRAME].flatMap((where) => [
      { ...where, mediaType: 'none', linkUrl: 'https://example.com/next' },
      { ...where, mediaType: 'none', selectionText: 'some words' },
      { ...where, mediaType: 'image' },
      { ...where, mediaType: 'audio' },
      { ...where, mediaType: 'none', isEditable: true },
    ]);
    for (const click of clutter)
      expect(
        items.filter((item) => chromeShows(item, click)),
        JSON.stringify(click),
      ).toEqual([]);
  });

  it("is not offered on the extension's own pages or browser pages", async () => {
    const [item] = await registeredItems(false);
    expect(
      chromeShows(item!, {
        isSubframe: false,
        frameUrl: 'chrome-extension://abc/picker.html',
        mediaType: 'video',
      }),
    ).toBe(false);
  });

  describe('in Firefox (menus.onShown, visible, refresh)', () => {
    function fakeMenus() {
      const shown: Array<(info: MenuShownInfo, tab?: { id?: number }) => void> = [];
      const hidden: Array<() => void> = [];
      const calls: string[] = [];
      const menus: ShowableMenus = {
        update: (id, props) => {
          calls.push(`update ${id} visible=${props.visible}`);
        },
        refresh: () => {
          calls.push('refresh');
        },
        onShown: { addListener: (listener) => shown.push(listener as (typeof shown)[number]) },
        onHidden: { addListener: (listener) => hidden.push(listener) },
      };
      return {
        menus,
        calls,
        show: (info: MenuShownInfo) => {
          for (const listener of shown) listener(info, { id: 7 });
        },
        hide: () => {
          for (const listener of hidden) listener();
        },
      };
    }
    const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

    it('registers for frames too, since Firefox adds "page" only where nothing else applies', async () => {
      const [item] = await registeredItems(true);
      expect(item?.contexts).toEqual(['video', 'page', 'frame']);
    });

    it('hides the item on a link or selection inside a frame and shows it again once the menu closes', async () => {
      const fake = fakeMenus();
      followMenuShown(fake.menus);
      fake.show({ contexts: ['frame', 'link', 'all'], frameId: 3, menuIds: [MENU_ID] });
      await vi.waitFor(() => expect(fake.calls).toEqual([`update ${MENU_ID} visible=false`, 'refresh']));
      fake.hide();
      expect(fake.calls.at(-1)).toBe(`update ${MENU_ID} visible=true`);
    });

    it('keeps it on a video, and on a page where the finder sees a video near the pointer', async () => {
      const fake = fakeMenus();
      const sendMessage = vi.spyOn(browser.tabs, 'sendMessage').mockResolvedValue(true as never);
      followMenuShown(fake.menus);
      fake.show({ contexts: ['video', 'frame', 'all'], frameId: 3, menuIds: [MENU_ID] });
      fake.show({ contexts: ['page', 'all'], frameId: 0, menuIds: [MENU_ID] });
      await settled();
      expect(sendMessage).toHaveBeenCalledWith(7, { type: 'retalk:video-near' }, { frameId: 0 });
      expect(fake.calls).toEqual([]);
    });

    it('hides it where the finder sees no video, and keeps it where no finder can be asked yet', async () => {
      const fake = fakeMenus();
      const sendMessage = vi.spyOn(browser.tabs, 'sendMessage').mockResolvedValueOnce(false as never);
      followMenuShown(fake.menus);
      fake.show({ contexts: ['page', 'all'], frameId: 0, menuIds: [MENU_ID] });
      await vi.waitFor(() => expect(fake.calls).toEqual([`update ${MENU_ID} visible=false`, 'refresh']));
      fake.hide();
      fake.calls.length = 0;
      sendMessage.mockRejectedValueOnce(
        new Error('Could not establish connection. Receiving end does not exist.'),
      );
      fake.show({ contexts: ['page', 'all'], frameId: 0, menuIds: [MENU_ID] });
      await settled();
      await settled();
      expect(fake.calls).toEqual([]);
    });
  });
});
