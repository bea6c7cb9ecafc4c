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
  return findVideoAt(doc, click.lastPoint ?? hoverPoint(doc), click.srcUrl);
}

/**
 * Where the pointer stood at the right-click, on the first use in a page (our `contextmenu`
 * listener did not exist yet, and Chromium tells no position): the page keeps its `:hover` state
 * while the native menu is open, so the deepest hovered element is what was right-clicked, and
 * its centre lies on that video even under an overlay (finding 9). Null over no element.
 */
function hoverPoint(doc: Document): PagePoint | null {
  let root: Document | ShadowRoot = doc;
  let deepest: Element | null = null;
  for (;;) {
    const hovered: NodeListOf<Element> | undefined = root.querySelectorAll?.(':hover');
    const last: Element | undefined = hovered?.[hovered.length - 1];
    if (!last) break;
    deepest = last;
    if (!last.shadowRoot) break;
    root = last.shadowRoot;
  }
  if (!deepest || deepest === doc.documentElement || deepest === doc.body) return null;
  const box = deepest.getBoundingClientRect();
  return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
}
