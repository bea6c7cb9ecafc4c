import { browser } from 'wxt/browser';
import { createExtensionError } from './errors.js';
import { t } from './i18n.js';
import { FETCH_HLS_PORT, type FetchHlsRequest } from './page-hls.js';
import { RECORD_VIDEO_PORT, type RecordVideoMessage } from './page-recorder.js';
import { FETCH_VIDEO_PORT, type FetchVideoMessage } from './page-video.js';

function fromBase64(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export type PageTarget = { tabId: number; frameId: number };

/**
 * Why the page's end of a port went away, told apart by asking the browser: the tab is gone, the
 * extension may not script that frame (another site's embedded player), or the page moved on.
 */
async function explainDisconnect(target: PageTarget, during: string): Promise<string> {
  try {
    await browser.tabs.get(target.tabId);
  } catch {
    return t('page.closed', { doing: during });
  }
  try {
    await browser.scripting.executeScript({
      target: { tabId: target.tabId, frameIds: [target.frameId] },
      func: () => true,
    });
  } catch {
    return t('page.frameBlocked');
  }
  return t('page.reloaded', { doing: during });
}

/**
 * Opens a port to the clicked frame, sends one request and gathers base64 chunks into a Blob.
 * `handle` sees every other message; it returns the content type on `start`.
 */
function collectFromPage<M extends { type: string }>(
  target: PageTarget,
  port: { name: string; request: unknown /** Said when stopped. */; doing: string; closed: string },
  handle: (
    message: M,
    finish: { resolve(): void; fail(message: string): void; setType(type: string): void },
  ) => void,
  signal?: AbortSignal,
): Promise<Blob> {
  return new Promise((resolve, reject) => {
    const channel = browser.tabs.connect(target.tabId, { name: port.name, frameId: target.frameId });
    const parts: Uint8Array<ArrayBuffer>[] = [];
    let contentType = 'video/mp4';
    let settled = false;
    const fail = (message: string, code: 'video_fetch_failed' | 'canceled' = 'video_fetch_failed') => {
      if (settled) return;
      settled = true;
      channel.disconnect();
      reject(createExtensionError(code, message, { field: 'video' }));
    };
    signal?.addEventListener('abort', () => fail(port.doing, 'canceled'), { once: true });
    channel.onDisconnect.addListener(() => {
      if (!settled) void explainDisconnect(target, port.closed).then((message) => fail(message));
    });
    channel.onMessage.addListener((raw: unknown) => {
      const message = raw as M & { base64?: string };
      if (message.type === 'chunk' && message.base64 !== undefined) parts.push(fromBase64(message.base64));
      handle(message, {
        resolve() {
          settled = true;
          channel.disconnect();
          resolve(new Blob(parts, { type: contentType }));
        },
        fail: (text) => fail(text),
        setType(type) {
          contentType = type.split(';')[0] || contentType;
        },
      });
    });
    channel.postMessage(port.request);
  });
}

/**
 * Has the page read its own video (with its cookies, or its `blob:` file) and hands back the
 * bytes. Progress counts bytes read by the page.
 */
export function readVideoFromPage(
  target: PageTarget & { src: string },
  options: { onProgress?: (loadedBytes: number, totalBytes: number) => void; signal?: AbortSignal } = {},
): Promise<Blob> {
  let total = 0;
  return collectFromPage<FetchVideoMessage>(
    target,
    {
      name: FETCH_VIDEO_PORT,
      request: { src: target.src },
      doing: t('page.stoppedRead'),
      closed: t('page.doingRead'),
    },
    (message, finish) => {
      if (message.type === 'start') {
        total = message.totalBytes;
        finish.setType(message.contentType);
      } else if (message.type === 'chunk') options.onProgress?.(message.loadedBytes, total);
      else if (message.type === 'done') finish.resolve();
      else if (message.type === 'error') finish.fail(message.message);
    },
    options.signal,
  );
}

/**
 * Has the page record `[startSec, endSec)` of its own video element in real time (streams: MSE,
 * DASH, HLS players) and hands back the recording. Progress is in seconds of video recorded;
 * aborting the signal stops the recording in the page.
 */
export function recordVideoFromPage(
  target: PageTarget,
  range: { startSec: number; endSec: number },
  options: { onProgress?: (recordedSec: number, totalSec: number) => void; signal?: AbortSignal } = {},
): Promise<Blob> {
  return collectFromPage<RecordVideoMessage>(
    target,
    {
      name: RECORD_VIDEO_PORT,
      request: { type: 'record', ...range },
      doing: t('page.stoppedRecord'),
      closed: t('page.doingRecord'),
    },
    (message, finish) => {
      if (message.type === 'start') finish.setType(message.mimeType);
      else if (message.type === 'progress') options.onProgress?.(message.recordedSec, message.totalSec);
      else if (message.type === 'done') finish.resolve();
      else if (message.type === 'error') finish.fail(message.message);
    },
    options.signal,
  );
}

/**
 * Has the page fetch the segments of `[startSec, endSec)` from the HLS stream it plays (with its
 * cookies) and hands back the init segment and those segments as one fragmented MP4, with where on
 * the stream's timeline it begins. Progress counts bytes fetched; aborting stops the fetches.
 */
export async function fetchHlsClipFromPage(
  target: PageTarget,
  request: Omit<FetchHlsRequest, 'type'>,
  options: { onProgress?: (loadedBytes: number) => void; signal?: AbortSignal } = {},
): Promise<{ blob: Blob; startSec: number }> {
  let startSec = 0;
  const blob = await collectFromPage<FetchVideoMessage>(
    target,
    {
      name: FETCH_HLS_PORT,
      request: { type: 'fetch-hls', ...request },
      doing: t('page.stoppedFetch'),
      closed: t('page.doingFetch'),
    },
    (message, finish) => {
      if (message.type === 'start') {
        startSec = message.startSec ?? 0;
        finish.setType(message.contentType);
      } else if (message.type === 'chunk') options.onProgress?.(message.loadedBytes);
      else if (message.type === 'done') finish.resolve();
      else if (message.type === 'error') finish.fail(message.message);
    },
    options.signal,
  );
  return { blob, startSec };
}
