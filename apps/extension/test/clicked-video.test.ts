import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { findClickedVideo } from '../src/lib/clicked-video.js';

type Box = { left: number; top: number; right: number; bottom: number; width: number; height: number };

function box(left: number, top: number, width: number, height: number): Box {
  return { left, top, right: left + width, bottom: top + height, width, height };
}

// Just enough of the DOM for the finder: unit tests run in Node, without a document.
class FakeVideo {
  readonly localName = 'video';
  paused = true;
  ended = false;
  readyState = 4;
  constructor(
    readonly src: string,
    private readonly rect: Box,
  ) {}
  get currentSrc(): string {
    return this.src;
  }
  getBoundingClientRect(): Box {
    return this.rect;
  }
}

class FakeOverlay {
  readonly localName = 'div';
  constructor(private readonly rect: Box) {}
  getBoundingClientRect(): Box {
    return this.rect;
  }
}

function fakeDocument(videos: FakeVideo[], hovered: unknown[] = []): Document {
  return {
    querySelectorAll: (selector: string) => (selector === ':hover' ? hovered : videos),
    elementsFromPoint: (x: number, y: number) =>
      videos.filter((v) => {
        const r = v.getBoundingClientRect();
        return x >= r.left && x <= r.right && y >= r.top && y <= r.bottom;
      }),
  } as unknown as Document;
}

const big = new FakeVideo('https://cdn.example.com/big.mp4', box(0, 0, 560, 420));
const small = new FakeVideo('https://cdn.example.com/small.mp4', box(0, 440, 320, 240));
const doc = fakeDocument([big, small]);

describe('findClickedVideo', () => {
  beforeEach(() => {
    vi.stubGlobal('HTMLVideoElement', FakeVideo);
    vi.stubGlobal('innerWidth', 1000);
    vi.stubGlobal('innerHeight', 800);
  });
  afterEach(() => {
    delete (fakeBrowser as { menus?: unknown }).menus;
    vi.unstubAllGlobals();
  });

  describe('in Firefox, where menus.getTargetElement names the right-clicked element', () => {
    it('takes the right-clicked <video> itself, whatever the last pointer position says', () => {
      const getTargetElement = vi.fn(() => small);
      (fakeBrowser as { menus?: unknown }).menus = { getTargetElement };
      const video = findClickedVideo(doc, { targetElementId: 42, lastPoint: { x: 10, y: 10 } });
      expect(getTargetElement).toHaveBeenCalledWith(42);
      expect(video).toBe(small);
    });

    it('finds the video under a right-clicked overlay from the overlay’s centre, with no pointer seen yet', () => {
      const overlay = new FakeOverlay(box(0, 440, 320, 240));
      (fakeBrowser as { menus?: unknown }).menus = { getTargetElement: vi.fn(() => overlay) };
      // Without the named element the finder would take the bigger video.
      expect(findClickedVideo(doc, { targetElementId: 7, lastPoint: null })).toBe(small);
    });

    it('falls back to the last right-click when Firefox no longer knows the element', () => {
      (fakeBrowser as { menus?: unknown }).menus = { getTargetElement: vi.fn(() => null) };
      expect(findClickedVideo(doc, { targetElementId: 7, lastPoint: { x: 100, y: 500 } })).toBe(small);
    });
  });

  describe('in Chromium, where there is no menus.getTargetElement', () => {
    it('finds the video under the last right-click', () => {
      expect(findClickedVideo(doc, { lastPoint: { x: 100, y: 500 } })).toBe(small);
    });

    it('prefers the video whose source the menu named', () => {
      expect(findClickedVideo(doc, { srcUrl: small.src, lastPoint: { x: 10, y: 10 } })).toBe(small);
    });

    it('ignores a target element id it cannot resolve and takes the biggest video when no click was seen', () => {
      expect(findClickedVideo(doc, { targetElementId: 7, lastPoint: null })).toBe(big);
    });

    it('takes the video under the element still hovered when no right-click was seen (finding 9)', () => {
      // The page keeps :hover on what was right-clicked while the native menu is open.
      const overlay = new FakeOverlay(box(0, 440, 320, 240));
      const hovering = fakeDocument([big, small], [{ localName: 'html' }, overlay]);
      expect(findClickedVideo(hovering, { lastPoint: null })).toBe(small);
    });
  });
});
