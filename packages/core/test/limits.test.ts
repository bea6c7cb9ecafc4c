import { describe, expect, it } from 'vitest';
import { checkMedia, estimateOutputSeconds, MEDIA_LIMITS } from '../src/limits.js';

describe('checkMedia', () => {
  it('finds nothing wrong with media inside every limit', () => {
    const video = {
      kind: 'video',
      durationSec: 30,
      sizeBytes: 5e6,
      width: 1280,
      height: 720,
      fps: 25,
      format: 'mp4',
      codec: 'avc1',
    } as const;
    expect(checkMedia(video, 'dashscope')).toEqual([]);
    expect(
      checkMedia({ kind: 'audio', durationSec: 10, sizeBytes: 1e6, format: 'audio/mpeg' }, 'evolink'),
    ).toEqual([]);
    expect(
      checkMedia({ kind: 'image', width: 800, height: 1000, sizeBytes: 1e6, format: 'png' }, 'dashscope'),
    ).toEqual([]);
  });

  it('reports each broken video limit by field with what to do', () => {
    const problems = checkMedia(
      {
        kind: 'video',
        durationSec: 150,
        sizeBytes: 400 * 1024 * 1024,
        width: 320,
        height: 240,
        fps: 10,
        format: 'webm',
        codec: 'vp9',
      },
      'dashscope',
    );
    expect(problems.map((p) => p.field).sort()).toEqual([
      'codec',
      'duration',
      'format',
      'fps',
      'resolution',
      'size',
    ]);
    const duration = problems.find((p) => p.field === 'duration');
    expect(duration?.allowed).toBe('2–120 s');
    expect(duration?.message).toMatch(/trim it to at most 120 s/);
    expect(problems.find((p) => p.field === 'fps')?.message).toMatch(/between 15 and 60 fps/);
    expect(problems.find((p) => p.field === 'resolution')?.message).toMatch(/Upscale/);
  });

  it('applies the 640 px minimum to each side by default: 640×640 passes, 640×480 and 480×640 do not', () => {
    expect(checkMedia({ kind: 'video', width: 640, height: 640 }, 'dashscope')).toEqual([]);
    for (const [width, height] of [
      [640, 480],
      [480, 640],
    ]) {
      expect(checkMedia({ kind: 'video', width, height }, 'evolink')).toEqual([
        {
          field: 'resolution',
          message: `The video is ${width}×${height}; each side 640–2048 px is required. Upscale it first.`,
          allowed: 'each side 640–2048 px',
        },
      ]);
    }
    expect(checkMedia({ kind: 'video', width: 2560, height: 1440 }, 'dashscope')[0]?.message).toMatch(
      /Downscale/,
    );
    expect(MEDIA_LIMITS.dashscope.video.minSideRule).toBe('each');
  });

  it("accepts 640×480 with minSideRule: 'longer', which still refuses 480×360 and sides over 2048 px", () => {
    const longer = { minSideRule: 'longer' } as const;
    expect(checkMedia({ kind: 'video', width: 640, height: 480 }, 'dashscope', longer)).toEqual([]);
    expect(checkMedia({ kind: 'video', width: 480, height: 360 }, 'dashscope', longer)[0]).toMatchObject({
      field: 'resolution',
      allowed: 'longer side at least 640 px, no side over 2048 px',
    });
    expect(checkMedia({ kind: 'video', width: 2560, height: 1440 }, 'dashscope', longer)[0]?.field).toBe(
      'resolution',
    );
  });

  it('reports audio that is too short and images that are too elongated', () => {
    expect(checkMedia({ kind: 'audio', durationSec: 1 }, 'evolink')[0]).toMatchObject({
      field: 'duration',
      allowed: '2–120 s',
    });
    expect(checkMedia({ kind: 'image', width: 3000, height: 1000 }, 'dashscope')[0]).toMatchObject({
      field: 'aspectRatio',
    });
  });

  it('publishes the limits as data', () => {
    expect(MEDIA_LIMITS.dashscope.video).toMatchObject({
      minDurationSec: 2,
      maxDurationSec: 120,
      minFps: 15,
      maxFps: 60,
    });
    expect(MEDIA_LIMITS.evolink.audio.maxSizeBytes).toBe(30 * 1024 * 1024);
  });
});

describe('estimateOutputSeconds', () => {
  it('is the shorter input by default and the audio length with extension', () => {
    expect(estimateOutputSeconds({ videoSec: 3, audioSec: 4 })).toBe(3);
    expect(estimateOutputSeconds({ videoSec: 3, audioSec: 4, videoExtension: true })).toBe(4);
    expect(estimateOutputSeconds({ videoSec: 10, audioSec: 4, videoExtension: false })).toBe(4);
  });
});
