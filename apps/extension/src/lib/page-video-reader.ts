import { browser } from 'wxt/browser';
import { createExtensionError } from './errors.js';
import { FETCH_VIDEO_PORT, type FetchVideoMessage } from './page-video.js';

function fromBase64(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Has the page read its own video (with its cookies, or its `blob:` file) and hands back the
 * bytes. Progress counts bytes read by the page.
 */
export function readVideoFromPage(
  target: { tabId: number; frameId: number; src: string },
  options: { onProgress?: (loadedBytes: number, totalBytes: number) => void; signal?: AbortSignal } = {},
): Promise<Blob> {
  return new Promise((resolve, reject) => {
    const port = browser.tabs.connect(target.tabId, { name: FETCH_VIDEO_PORT, frameId: target.frameId });
    const parts: Uint8Array<ArrayBuffer>[] = [];
    let contentType = 'video/mp4';
    let total = 0;
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      port.disconnect();
      reject(createExtensionError('video_fetch_failed', message, { field: 'video' }));
    };
    options.signal?.addEventListener('abort', () => fail('Reading the video was stopped.'), { once: true });
    port.onDisconnect.addListener(() =>
      fail(
        'The page with the video was closed or reloaded. Keep it open while the video is read, then try again.',
      ),
    );
    port.onMessage.addListener((raw: unknown) => {
      const message = raw as FetchVideoMessage;
      if (message.type === 'start') {
        total = message.totalBytes;
        contentType = message.contentType.split(';')[0] || contentType;
      } else if (message.type === 'chunk') {
        parts.push(fromBase64(message.base64));
        options.onProgress?.(message.loadedBytes, total);
      } else if (message.type === 'done') {
        settled = true;
        port.disconnect();
        resolve(new Blob(parts, { type: contentType }));
      } else if (message.type === 'error') {
        fail(message.message);
      }
    });
    port.postMessage({ src: target.src });
  });
}
