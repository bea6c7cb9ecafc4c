import { browser } from 'wxt/browser';
import { findVideoAt, type PagePoint } from './page-video.js';

type TargetElementLookup = (targetElementId: number) => Element | null;

/** Firefox's `menus.getTargetElement`, available in content scripts only there; undefined elsewhere. */
function targetElementLookup(): TargetElementLookup | undefined {
  const menus = (browser as unknown as { menus?: { getTargetElement?: TargetElementLookup } }).menus;
  const lookup = menus?.getTargetElement;
  return typeof lookup === 'function' ? (id) => lookup.call(menus, id) : undefined;
}

function isVideo(element: Element): element is HTMLVideoElement {
  return element.localName === 'video';
}

/**
 * The video a context-menu click was about. Firefox names the exact right-clicked element
 * (`menus.getTargetElement`): a `<video>` is taken as is, and an overlay's centre is the click
 * point even on the first use, before our `contextmenu` listener existed. Otherwise (Chromium,
 * or an element Firefox no longer knows) the last seen right-click and the menu's `srcUrl` decide.
 */
export function findClickedVideo(
  doc: Document,
  click: { targetElementId?: number; srcUrl?: string; lastPoint: PagePoint | null },
): HTMLVideoElement | null {
  const lookup = click.targetElementId === undefined ? undefined : targetElementLookup();
  const element = lookup && click.targetElementId !== undefined ? lookup(click.targetElementId) : null;
  if (element && isVideo(element)) return element;
  if (element) {
    const box = element.getBoundingClientRect();
    const centre = { x: box.left + box.width / 2, y: box.top + box.height / 2 };
    return findVideoAt(doc, centre, click.srcUrl);
  }
  return findVideoAt(doc, click.lastPoint, click.srcUrl);
}
