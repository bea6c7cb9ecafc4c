// Runs inside web pages (the injected content script) and in the picker: keep it free of heavy imports.
import { grabFrame } from './page-video.js';
import { loadHiddenVideo, unloadVideo, waitFor } from './thumbnails.js';

/** Picker → page: the described video's frame at `{ timeSec }`. The page answers a JPEG data URL or null. */
export const FRAME_AT_MESSAGE = 'retalk:frame-at';

/** Frames of one video file at any time, for the face pick (finding 11). */
export type FrameSeeker = {
  readonly src: string;
  /**
   * The frame at `timeSec` at the video's own resolution (longest side at most 1920 px), as a JPEG
   * data URL; undefined when it cannot be read, or when a later call superseded this one before
   * its turn (seeks run one at a time, and a slider dragged fast only needs the last).
   */
  at(timeSec: number): Promise<string | undefined>;
  close(): void;
};

/** Seeks a hidden copy of the video (`loadHiddenVideo`), as the track's thumbnails do. */
export function createFrameSeeker(src: string, options: { crossOrigin?: string | null } = {}): FrameSeeker {
  const { video, loaded: ready } = loadHiddenVideo(src, options.crossOrigin);
  let latest = 0;
  let turn: Promise<unknown> = ready;
  return {
    src,
    async at(timeSec) {
      const ticket = ++latest;
      const previous = turn;
      let done!: () => void;
      turn = new Promise<void>((resolve) => {
        done = resolve;
      });
      try {
        await previous;
        if (ticket !== latest || !(await ready) || !Number.isFinite(video.duration)) return undefined;
        const seeked = waitFor(video, 'seeked');
        // The very end has no frame to show in some files: stay a hair before it.
        video.currentTime = Math.min(Math.max(0, timeSec), Math.max(0, video.duration - 0.001));
        if (!(await seeked)) return undefined;
        return grabFrame(video);
      } finally {
        done();
      }
    },
    close() {
      latest++;
      unloadVideo(video);
    },
  };
}
