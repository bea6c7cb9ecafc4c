import { browser } from 'wxt/browser';
import { defineContentScript } from 'wxt/utils/define-content-script';
import { findClickedVideo } from '../lib/clicked-video.js';
import { createFrameSeeker, FRAME_AT_MESSAGE, type FrameSeeker } from '../lib/frame-seeker.js';
import { t } from '../lib/i18n.js';
import { FETCH_HLS_PORT, type FetchHlsRequest, streamHlsRange } from '../lib/page-hls.js';
import { RECORD_VIDEO_PORT, type RecordVideoRequest, recordVideoRange } from '../lib/page-recorder.js';
import {
  allVideos,
  CHOOSE_VIDEO_MESSAGE,
  describeVideo,
  FETCH_VIDEO_PORT,
  type FrameVideos,
  LIST_VIDEOS_MESSAGE,
  listVideos,
  PAGE_VIDEOS_MESSAGE,
  type PagePoint,
  sourceOf,
  streamVideoBytes,
  VIDEO_NEAR_MESSAGE,
  videoNear,
} from '../lib/page-video.js';
import { grabThumbnails, PREVIEW_MESSAGE, playRange, THUMBNAILS_MESSAGE } from '../lib/thumbnails.js';

/**
 * Finds the video under a right-click (also beneath overlays) and reads it for upload when asked.
 * Not declared in the manifest: the background injects it into the clicked frame through the
 * `activeTab` grant of the menu click, so the extension needs no access to every site.
 */
export default defineContentScript({
  matches: ['<all_urls>'],
  registration: 'runtime',
  main() {
    // Injected again on every menu click: register the listeners once per page.
    const marker = globalThis as typeof globalThis & { __retalkVideoFinder?: boolean };
    if (marker.__retalkVideoFinder) return;
    marker.__retalkVideoFinder = true;
    let lastPoint: PagePoint | null = null;
    // The video the last menu click described: the one a recording is asked for.
    let described: HTMLVideoElement | null = null;
    // A hidden copy of the described video's file, seeked for the face pick's frames.
    let seeker: FrameSeeker | null = null;

    document.addEventListener(
      'contextmenu',
      (event) => {
        lastPoint = { x: event.clientX, y: event.clientY };
      },
      { capture: true },
    );

    browser.runtime.onMessage.addListener((message: unknown, _sender, sendResponse) => {
      const type =
        typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : '';
      if (type === THUMBNAILS_MESSAGE) {
        // Only a file has an address another element can load; a stream's blob: holds no file.
        const src = described && !described.srcObject ? sourceOf(described) : '';
        if (!src) sendResponse([]);
        else
          grabThumbnails(src, { crossOrigin: described?.crossOrigin ?? null }).then(sendResponse, () =>
            sendResponse([]),
          );
        return !!src;
      }
      if (type === PREVIEW_MESSAGE) {
        const { startSec, endSec } = message as { startSec?: unknown; endSec?: unknown };
        if (!described?.isConnected || typeof startSec !== 'number' || typeof endSec !== 'number') {
          sendResponse({ ok: false });
          return false;
        }
        playRange(described, { startSec, endSec }).then(
          () => sendResponse({ ok: true }),
          () => sendResponse({ ok: false }),
        );
        return true;
      }
      if (type === FRAME_AT_MESSAGE) {
        // Only a file has an address a second element can load and seek; the player stays put.
        const src = described && !described.srcObject ? sourceOf(described) : '';
        const timeSec = Number((message as { timeSec?: unknown }).timeSec);
        if (!src || !Number.isFinite(timeSec)) {
          sendResponse(null);
          return false;
        }
        if (seeker?.src !== src) {
          seeker?.close();
          seeker = createFrameSeeker(src, { crossOrigin: described?.crossOrigin ?? null });
        }
        seeker.at(timeSec).then(
          (frame) => sendResponse(frame ?? null),
          () => sendResponse(null),
        );
        return true;
      }
      if (type === VIDEO_NEAR_MESSAGE) {
        sendResponse(videoNear(document, lastPoint));
        return false;
      }
      if (type === LIST_VIDEOS_MESSAGE) {
        listVideos(document, described).then(sendResponse, () => sendResponse([]));
        return true;
      }
      if (type === PAGE_VIDEOS_MESSAGE) {
        // The popup's list of the page's videos: each frame says where it is.
        listVideos(document, described).then(
          (videos) =>
            sendResponse({
              frameUrl: location.href,
              topFrame: window.top === window,
              videos,
            } satisfies FrameVideos),
          () => sendResponse(null),
        );
        return true;
      }
      if (type === CHOOSE_VIDEO_MESSAGE) {
        // The member switched videos in the picker: from now on recordings, previews and
        // thumbnails are of this one.
        const chosen = allVideos(document)[Number((message as { index?: unknown }).index)];
        if (!chosen) {
          sendResponse(null);
          return false;
        }
        described = chosen;
        describeVideo(chosen).then(sendResponse, () => sendResponse(null));
        return true;
      }
      if (type !== 'retalk:find-video') return false;
      const { srcUrl, targetElementId } = message as { srcUrl?: string; targetElementId?: number };
      const video = findClickedVideo(document, {
        ...(targetElementId !== undefined && { targetElementId }),
        ...(srcUrl !== undefined && { srcUrl }),
        lastPoint,
      });
      if (!video) {
        sendResponse(null);
        return false;
      }
      described = video;
      describeVideo(video).then(sendResponse, () => sendResponse(null));
      return true;
    });

    browser.runtime.onConnect.addListener((port) => {
      if (port.name === FETCH_HLS_PORT) {
        // Closing the port (Cancel, or the picker window closed) stops the fetches.
        const controller = new AbortController();
        port.onDisconnect.addListener(() => controller.abort(new Error('canceled')));
        port.onMessage.addListener((message: unknown) => {
          const request = message as FetchHlsRequest;
          if (request.type !== 'fetch-hls' || !Array.isArray(request.manifests)) return;
          void streamHlsRange(
            {
              manifests: request.manifests.filter((m): m is string => typeof m === 'string'),
              startSec: Number(request.startSec),
              endSec: Number(request.endSec),
              ...(request.smallest === true && { smallest: true }),
              ...(described?.videoHeight && { pictureHeight: described.videoHeight }),
            },
            (out) => port.postMessage(out),
            controller.signal,
          );
        });
        return;
      }
      if (port.name === RECORD_VIDEO_PORT) {
        // Closing the port (Cancel, or the picker window closed) stops the recording.
        const controller = new AbortController();
        port.onDisconnect.addListener(() => controller.abort(new Error('canceled')));
        port.onMessage.addListener((message: unknown) => {
          const request = message as RecordVideoRequest;
          if (request.type !== 'record') return;
          if (!described?.isConnected) {
            port.postMessage({
              type: 'error',
              message: t('page.gone'),
            });
            return;
          }
          void recordVideoRange(described, request, (out) => port.postMessage(out), controller.signal);
        });
        return;
      }
      if (port.name !== FETCH_VIDEO_PORT) return;
      port.onMessage.addListener((message: unknown) => {
        const src = (message as { src?: unknown }).src;
        if (typeof src !== 'string') return;
        streamVideoBytes(src, (out) => port.postMessage(out)).catch((error: unknown) => {
          port.postMessage({ type: 'error', message: t('page.readFailed', { reason: String(error) }) });
        });
      });
    });
  },
});
