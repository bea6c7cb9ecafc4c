import { describe, expect, it } from 'vitest';
import {
  ConformError,
  type ConformPlan,
  type ConformRefusal,
  type ConformResult,
  checkMedia,
  errorFromJSON,
  formatClock,
  MEDIA_LIMITS,
  type ProbedMedia,
  type ProbedVideoTrack,
  planConform,
} from '../src/index.js';

const MEDIA_LIMITS_VIDEO = MEDIA_LIMITS.dashscope.video;
const MEDIA_LIMITS_AUDIO = MEDIA_LIMITS.dashscope.audio;
const MEDIA_LIMITS_IMAGE = MEDIA_LIMITS.dashscope.image;

type VideoOverrides = Omit<Partial<ProbedMedia>, 'video'> & {
  video?: Partial<ProbedVideoTrack>;
};

const video = (over: VideoOverrides = {}): ProbedMedia & { video: ProbedVideoTrack } => {
  const { video: v, ...rest } = over;
  return {
    kind: 'video',
    container: 'mp4',
    durationSec: 30,
    sizeBytes: 5e6,
    ...rest,
    video: { codec: 'h264', width: 1280, height: 720, rotation: 0, fps: 25, ...v },
  };
};

const audio = (over: Partial<ProbedMedia> = {}): ProbedMedia => ({
  kind: 'audio',
  container: 'wav',
  durationSec: 10,
  sizeBytes: 1e6,
  audio: { codec: 'pcm_s16', sampleRate: 48_000, channels: 1 },
  ...over,
});

function planned(result: ConformResult): ConformPlan {
  if (!result.ok) throw new Error(`expected a plan, got a refusal: ${result.refusal.message}`);
  return result.plan;
}

function refused(result: ConformResult): ConformRefusal {
  if (result.ok) throw new Error(`expected a refusal, got a plan: ${result.plan.changes.join('; ')}`);
  return result.refusal;
}

const types = (plan: ConformPlan) => plan.steps.map((s) => s.type);

/** The planned output, judged by the same checker the relay and the simulator use. */
function outputProblems(plan: ConformPlan) {
  const o = plan.output;
  return checkMedia(
    {
      kind: plan.kind,
      format: o.container,
      ...(o.codec && plan.kind === 'video' ? { codec: o.codec } : {}),
      ...(o.durationSec !== undefined ? { durationSec: o.durationSec } : {}),
      ...(o.width !== undefined ? { width: o.width, height: o.height } : {}),
      ...(o.fps !== undefined ? { fps: o.fps } : {}),
    },
    'dashscope',
  );
}

describe('planConform: video', () => {
  it('passes an H.264 MP4 inside every limit through untouched', () => {
    const plan = planned(planConform(video(), { provider: 'dashscope' }));
    expect(plan).toMatchObject({ passthrough: true, steps: [], changes: [] });
    expect(plan.output).toEqual({
      durationSec: 30,
      width: 1280,
      height: 720,
      fps: 25,
      container: 'mp4',
      codec: 'h264',
    });
  });

  it('keeps an HEVC stream as it is when nothing else needs changing (MOV too)', () => {
    const plan = planned(
      planConform(video({ container: 'mov', video: { codec: 'hevc' } }), { provider: 'evolink' }),
    );
    expect(plan.passthrough).toBe(true);
    expect(plan.output).toMatchObject({ codec: 'hevc', container: 'mov' });
  });

  it('passes an MP4 that fits through with its own sound: the provider ignores it, so nothing is rewritten', () => {
    const plan = planned(
      planConform(video({ audio: { codec: 'aac', sampleRate: 44_100, channels: 2 } }), {
        provider: 'dashscope',
      }),
    );
    expect(plan).toMatchObject({ passthrough: true, steps: [], changes: [] });
    expect(plan.output).toMatchObject({ container: 'mp4', codec: 'h264', width: 1280, height: 720 });
  });

  it('passes a MOV (HEVC) with sound through too, for either provider', () => {
    for (const provider of ['dashscope', 'evolink'] as const) {
      const plan = planned(
        planConform(
          video({
            container: 'mov',
            video: { codec: 'hevc' },
            audio: { codec: 'aac', sampleRate: 48_000, channels: 2 },
          }),
          { provider },
        ),
      );
      expect(plan.passthrough).toBe(true);
      expect(plan.steps).toEqual([]);
    }
  });

  it("leaves the video's own sound out only when the file is written anew anyway (a remux)", () => {
    const plan = planned(
      planConform(video({ container: 'mkv', audio: { codec: 'opus', sampleRate: 48_000, channels: 2 } }), {
        provider: 'dashscope',
      }),
    );
    expect(types(plan)).toEqual(['container', 'drop_audio']);
    expect(plan.changes).toEqual([
      'repackaged MKV → MP4',
      "removed the video's own sound (the new audio replaces it)",
    ]);
  });

  it("leaves the video's own sound out of a re-encode (a trim)", () => {
    const plan = planned(
      planConform(video({ audio: { codec: 'aac', sampleRate: 48_000, channels: 2 } }), {
        provider: 'dashscope',
        clip: { startSec: 2, endSec: 12 },
      }),
    );
    expect(types(plan)).toEqual(['trim', 'encode_video', 'drop_audio']);
    expect(plan.changes.at(-1)).toBe("removed the video's own sound (the new audio replaces it)");
  });

  it('never plans drop_audio on its own', () => {
    const cases: ProbedMedia[] = [
      video({ audio: { codec: 'aac', sampleRate: 48_000, channels: 2 } }),
      video({ container: 'mov', audio: { codec: 'pcm_s16', sampleRate: 48_000, channels: 1 } }),
      video({
        container: 'avi',
        video: { codec: 'hevc', fps: 60 },
        audio: { codec: 'mp3', sampleRate: 44_100, channels: 2 },
      }),
      video({ durationSec: 2.5, audio: { codec: 'aac', sampleRate: 48_000, channels: 2 } }),
    ];
    for (const media of cases) {
      const plan = planned(planConform(media, { provider: 'dashscope' }));
      expect(plan.passthrough).toBe(true);
      expect(types(plan)).not.toContain('drop_audio');
    }
  });

  it('upscales a 360p video keeping its aspect, to even sides', () => {
    const plan = planned(
      planConform(video({ video: { width: 640, height: 360 } }), { provider: 'dashscope' }),
    );
    expect(plan.changes).toContain('scaled 640×360 → 1138×640');
    expect(plan.steps).toContainEqual({
      type: 'scale',
      from: { width: 640, height: 360 },
      width: 1138,
      height: 640,
      content: { width: 1138, height: 640 },
      pad: false,
    });
    expect(types(plan)).toEqual(['scale', 'encode_video']);
    expect(plan.changes).toContain('re-encoded as H.264');
    expect(outputProblems(plan)).toEqual([]);
  });

  it('downscales a 4K video to 2048 on the long side', () => {
    const plan = planned(
      planConform(video({ video: { width: 3840, height: 2160, codec: 'hevc', fps: 30 } }), {
        provider: 'dashscope',
      }),
    );
    expect(plan.changes).toEqual(['scaled 3840×2160 → 2048×1152', 'converted HEVC → H.264']);
    expect(plan.output).toMatchObject({ width: 2048, height: 1152, codec: 'h264', fps: 30 });
    expect(outputProblems(plan)).toEqual([]);
  });

  it('pads only when no scale satisfies both sides (4000×500)', () => {
    const plan = planned(
      planConform(video({ video: { width: 4000, height: 500 } }), { provider: 'dashscope' }),
    );
    const scale = plan.steps.find((s) => s.type === 'scale');
    expect(scale).toEqual({
      type: 'scale',
      from: { width: 4000, height: 500 },
      width: 2048,
      height: 640,
      content: { width: 2048, height: 256 },
      pad: true,
    });
    expect(plan.changes[0]).toMatch(/^scaled 4000×500 → 2048×256 and padded to 2048×640/);
    expect(outputProblems(plan)).toEqual([]);
  });

  it('pads a tall strip the other way (300×2400)', () => {
    const plan = planned(
      planConform(video({ video: { width: 300, height: 2400 } }), { provider: 'dashscope' }),
    );
    expect(plan.output).toMatchObject({ width: 640, height: 2048 });
    expect(outputProblems(plan)).toEqual([]);
  });

  it('does not pad a 3:1 video that a scale can fit (2400×800 → 2048×682)', () => {
    const plan = planned(
      planConform(video({ video: { width: 2400, height: 800 } }), { provider: 'dashscope' }),
    );
    expect(plan.steps.find((s) => s.type === 'scale')).toMatchObject({
      pad: false,
      width: 2048,
      height: 682,
    });
    expect(outputProblems(plan)).toEqual([]);
  });

  it('re-times a 10 fps screen recording to 25 fps', () => {
    const plan = planned(planConform(video({ video: { fps: 10 } }), { provider: 'dashscope' }));
    expect(plan.steps).toContainEqual({ type: 'fps', from: 10, fps: 25 });
    expect(plan.changes).toContain('frame rate 10 → 25 fps');
    expect(plan.output.fps).toBe(25);
  });

  it('brings 120 fps down to 60', () => {
    const plan = planned(planConform(video({ video: { fps: 120 } }), { provider: 'dashscope' }));
    expect(plan.output.fps).toBe(60);
    expect(plan.changes).toContain('frame rate 120 → 60 fps');
  });

  it('keeps 29.97 fps as it is', () => {
    expect(planConform(video({ video: { fps: 29.97 } }), { provider: 'dashscope' })).toMatchObject({
      ok: true,
      plan: { passthrough: true },
    });
  });

  it('converts a 360p VP9 WebM with sound: scale, H.264, MP4, sound dropped', () => {
    const plan = planned(
      planConform(
        video({
          container: 'webm',
          video: { codec: 'vp9', width: 640, height: 360, fps: 30 },
          audio: { codec: 'opus', sampleRate: 48_000, channels: 2 },
        }),
        { provider: 'dashscope' },
      ),
    );
    expect(types(plan)).toEqual(['scale', 'encode_video', 'container', 'drop_audio']);
    expect(plan.changes).toEqual([
      'scaled 640×360 → 1138×640',
      'converted VP9 → H.264',
      'repackaged WebM → MP4',
      "removed the video's own sound (the new audio replaces it)",
    ]);
    expect(plan.output).toMatchObject({ container: 'mp4', codec: 'h264', width: 1138, height: 640 });
    expect(outputProblems(plan)).toEqual([]);
  });

  it('copies an H.264 MKV into MP4 without re-encoding', () => {
    const plan = planned(planConform(video({ container: 'mkv' }), { provider: 'dashscope' }));
    expect(types(plan)).toEqual(['container']);
    expect(plan.changes).toEqual(['repackaged MKV → MP4']);
  });

  it('keeps a 9:16 portrait video upright and scales its short side', () => {
    const plan = planned(
      planConform(video({ video: { width: 360, height: 640 } }), { provider: 'dashscope' }),
    );
    expect(plan.output).toMatchObject({ width: 640, height: 1138 });
    expect(outputProblems(plan)).toEqual([]);
  });

  it('bakes in the rotation of a phone clip and sizes by what is seen', () => {
    // A phone stores 1920×1080 landscape frames with "rotate 90": people see 1080×1920.
    const plan = planned(
      planConform(video({ video: { width: 1920, height: 1080, rotation: 90 } }), { provider: 'dashscope' }),
    );
    expect(types(plan)).toEqual(['rotate', 'encode_video']);
    expect(plan.changes[0]).toBe('turned upright (the file asked for a 90° rotation): 1080×1920');
    expect(plan.output).toMatchObject({ width: 1080, height: 1920 });
    expect(outputProblems(plan)).toEqual([]);
    // A 4K phone clip: turned, then scaled by its upright size.
    const big = planned(
      planConform(video({ video: { width: 3840, height: 2160, rotation: 270 } }), { provider: 'dashscope' }),
    );
    expect(big.changes[1]).toBe('scaled 2160×3840 → 1152×2048');
  });

  it('trims a 3-minute source to the chosen 30 s and re-encodes to cut exactly', () => {
    const plan = planned(
      planConform(video({ durationSec: 180 }), { provider: 'dashscope', clip: { startSec: 12, endSec: 42 } }),
    );
    expect(plan.steps[0]).toEqual({ type: 'trim', startSec: 12, endSec: 42 });
    expect(plan.changes).toEqual([
      'trimmed to 0:12–0:42 (30 s)',
      're-encoded as H.264 to cut on the exact frames',
    ]);
    expect(plan.output.durationSec).toBe(30);
  });

  it("names the trim of a piece cut from a longer original in the original's times", () => {
    // The browser uploaded 1:34.0–2:05.6 of a 4-minute file; the member chose 1:35.3–2:05.3.
    const plan = planned(
      planConform(video({ durationSec: 31.6 }), {
        provider: 'dashscope',
        clip: { startSec: 1.3, endSec: 31.3, originSec: 94 },
      }),
    );
    expect(plan.steps[0]).toEqual({ type: 'trim', startSec: 1.3, endSec: 31.3 });
    expect(plan.changes[0]).toBe('trimmed to 1:35.3–2:05.3 (30 s)');
  });

  it('takes a clip with only a start (to the end) or only an end (from 0)', () => {
    const fromStart = planned(
      planConform(video({ durationSec: 180 }), { provider: 'dashscope', clip: { startSec: 100 } }),
    );
    expect(fromStart.steps[0]).toEqual({ type: 'trim', startSec: 100, endSec: 180 });
    const toEnd = planned(
      planConform(video({ durationSec: 180 }), { provider: 'dashscope', clip: { endSec: 20.5 } }),
    );
    expect(toEnd.changes[0]).toBe('trimmed to 0:00–0:20.5 (20.5 s)');
  });

  it('treats a clip that covers the whole file as no trim', () => {
    const plan = planned(
      planConform(video(), { provider: 'dashscope', clip: { startSec: 0, endSec: 30.02 } }),
    );
    expect(plan.passthrough).toBe(true);
  });

  it('sets an unknown frame rate to 25 fps', () => {
    const plan = planned(planConform(video({ video: { fps: 0 } }), { provider: 'dashscope' }));
    expect(plan.changes).toContain('frame rate set to 25 fps (the file did not say)');
  });

  it('makes odd sides even when it re-encodes anyway', () => {
    const plan = planned(
      planConform(video({ video: { codec: 'vp9', width: 1001, height: 701 } }), { provider: 'dashscope' }),
    );
    expect(plan.output.width! % 2).toBe(0);
    expect(plan.output.height! % 2).toBe(0);
  });

  it('re-encodes an over-size H.264 file at a bitrate that fits', () => {
    const plan = planned(
      planConform(video({ sizeBytes: 400 * 2 ** 20, durationSec: 100 }), { provider: 'dashscope' }),
    );
    const encode = plan.steps.find((s) => s.type === 'encode_video');
    expect(encode).toBeDefined();
    expect(((encode as { bitrate: number }).bitrate * 100) / 8).toBeLessThan(300 * 2 ** 20);
    expect(plan.changes).toContain('re-encoded as H.264 to fit under 300 MB');
  });

  it("applies the 'longer side' rule when the limits ask for it", () => {
    const plan = planned(
      planConform(video({ video: { width: 640, height: 480 } }), {
        provider: 'dashscope',
        limits: {
          video: { ...MEDIA_LIMITS_VIDEO, minSideRule: 'longer' },
          audio: MEDIA_LIMITS_AUDIO,
          image: MEDIA_LIMITS_IMAGE,
        },
      }),
    );
    expect(plan.passthrough).toBe(true);
  });
});

describe('planConform: refusals say why and what to do', () => {
  it('refuses a source over 2 min without a clip instead of cutting it', () => {
    const refusal = refused(planConform(video({ durationSec: 180 }), { provider: 'dashscope' }));
    expect(refusal).toMatchObject({ code: 'clip_too_long', field: 'clip' });
    expect(refusal.message).toBe(
      'The video is 3:00 long; choose a clip of at most 2 min (a start and an end).',
    );
  });

  it('refuses a clip over 120 s', () => {
    const refusal = refused(
      planConform(video({ durationSec: 600 }), {
        provider: 'dashscope',
        clip: { startSec: 10, endSec: 140 },
      }),
    );
    expect(refusal.code).toBe('clip_too_long');
    expect(refusal.message).toMatch(/choose at most 2 min/);
  });

  it('accepts a clip of exactly 120 s', () => {
    expect(
      planConform(video({ durationSec: 600 }), { provider: 'dashscope', clip: { startSec: 10, endSec: 130 } })
        .ok,
    ).toBe(true);
  });

  it('refuses a clip under 2 s and a source under 2 s', () => {
    expect(
      refused(planConform(video(), { provider: 'dashscope', clip: { startSec: 1, endSec: 2.5 } })),
    ).toMatchObject({ code: 'clip_too_short', field: 'clip' });
    expect(refused(planConform(video({ durationSec: 1.2 }), { provider: 'dashscope' }))).toMatchObject({
      code: 'clip_too_short',
      field: 'video',
    });
  });

  it('refuses a clip outside the source, naming the range', () => {
    const late = refused(planConform(video(), { provider: 'dashscope', clip: { startSec: 40, endSec: 50 } }));
    expect(late).toMatchObject({ code: 'clip_out_of_range', field: 'clip.startSec', allowed: '0:00–0:30' });
    expect(late.message).toBe('The video is 0:30 long; choose a clip within 0:00–0:30.');
    const long = refused(planConform(video(), { provider: 'dashscope', clip: { startSec: 10, endSec: 31 } }));
    expect(long).toMatchObject({ code: 'clip_out_of_range', field: 'clip.endSec' });
  });

  it('refuses start ≥ end, negative and non-numeric bounds', () => {
    expect(
      refused(planConform(video(), { provider: 'dashscope', clip: { startSec: 20, endSec: 20 } })),
    ).toMatchObject({
      code: 'clip_invalid',
      field: 'clip.endSec',
    });
    expect(
      refused(planConform(video(), { provider: 'dashscope', clip: { startSec: 20, endSec: 5 } })).message,
    ).toBe('The clip ends (0:05) before it starts (0:20); choose an end after the start.');
    expect(refused(planConform(video(), { provider: 'dashscope', clip: { startSec: -1 } }))).toMatchObject({
      code: 'clip_invalid',
      field: 'clip.startSec',
    });
    expect(
      refused(planConform(video(), { provider: 'dashscope', clip: { endSec: Number.NaN } })),
    ).toMatchObject({
      code: 'clip_invalid',
      field: 'clip.endSec',
    });
  });

  it('refuses a video without a video track', () => {
    const { video: _, ...noTrack } = video({ audio: { codec: 'aac', sampleRate: 44_100, channels: 2 } });
    expect(refused(planConform(noTrack, { provider: 'dashscope' }))).toMatchObject({
      code: 'no_video_track',
      field: 'video',
    });
  });

  it('refuses an audio file without sound and media of unknown length or codec', () => {
    expect(
      refused(planConform({ kind: 'audio', container: 'mp4', durationSec: 5 }, { provider: 'dashscope' }))
        .code,
    ).toBe('no_audio_track');
    expect(refused(planConform(video({ durationSec: undefined }), { provider: 'dashscope' })).code).toBe(
      'undecodable',
    );
    expect(refused(planConform(video({ video: { codec: 'unknown' } }), { provider: 'dashscope' })).code).toBe(
      'undecodable',
    );
    expect(refused(planConform({ kind: 'image', container: 'png' }, { provider: 'dashscope' })).code).toBe(
      'undecodable',
    );
  });
});

describe('planConform: audio', () => {
  it('passes WAV, MP3 and ADTS AAC through', () => {
    for (const [container, codec] of [
      ['wav', 'pcm_s16'],
      ['mp3', 'mp3'],
      ['aac', 'aac'],
    ] as const) {
      const plan = planned(
        planConform(audio({ container, audio: { codec, sampleRate: 44_100, channels: 2 } }), {
          provider: 'dashscope',
        }),
      );
      expect(plan.passthrough).toBe(true);
      expect(plan.output).toMatchObject({ container, durationSec: 10 });
    }
  });

  it.each([
    ['m4a', 'aac', 'converted M4A (AAC) → WAV'],
    ['ogg', 'opus', 'converted Ogg (Opus) → WAV'],
    ['ogg', 'vorbis', 'converted Ogg (Vorbis) → WAV'],
    ['flac', 'flac', 'converted FLAC → WAV'],
    ['webm', 'opus', 'converted WebM (Opus) → WAV'],
  ])('converts %s (%s) to WAV', (container, codec, sentence) => {
    const plan = planned(
      planConform(audio({ container, audio: { codec, sampleRate: 96_000, channels: 6 } }), {
        provider: 'dashscope',
      }),
    );
    expect(plan.changes).toEqual([sentence]);
    expect(plan.steps).toEqual([
      {
        type: 'encode_audio',
        from: codec,
        container: 'wav',
        codec: 'pcm_s16',
        sampleRate: 48_000,
        channels: 2,
      },
    ]);
    expect(plan.output).toEqual({
      durationSec: 10,
      container: 'wav',
      codec: 'pcm_s16',
      sampleRate: 48_000,
      channels: 2,
    });
  });

  it('clips a 150 s recording to the chosen part', () => {
    const long = audio({
      durationSec: 150,
      container: 'mp3',
      audio: { codec: 'mp3', sampleRate: 44_100, channels: 1 },
    });
    expect(refused(planConform(long, { provider: 'dashscope' })).code).toBe('clip_too_long');
    const plan = planned(planConform(long, { provider: 'dashscope', clip: { startSec: 30, endSec: 130 } }));
    expect(plan.changes).toEqual([
      'trimmed to 0:30–2:10 (1:40)',
      'converted MP3 → WAV (to cut on the exact sample)',
    ]);
    expect(plan.output).toMatchObject({
      durationSec: 100,
      container: 'wav',
      sampleRate: 44_100,
      channels: 1,
    });
  });

  it('re-encodes an over-size WAV as 16-bit', () => {
    const plan = planned(
      planConform(
        audio({ sizeBytes: 40 * 2 ** 20, audio: { codec: 'pcm_f32', sampleRate: 96_000, channels: 2 } }),
        { provider: 'dashscope' },
      ),
    );
    expect(plan.changes).toEqual(['converted WAV (PCM_F32) → 16-bit WAV to fit under 30 MB']);
  });
});

describe('planConform: reference image', () => {
  it('passes a PNG inside the limits through', () => {
    const plan = planned(
      planConform(
        { kind: 'image', container: 'png', sizeBytes: 1e6, image: { width: 800, height: 1000 } },
        { provider: 'dashscope' },
      ),
    );
    expect(plan).toMatchObject({ passthrough: true, output: { width: 800, height: 1000, container: 'png' } });
  });

  it('brings 5000×2000 within 4096 px and 2:1 by padding, not cropping the face', () => {
    const plan = planned(
      planConform(
        { kind: 'image', container: 'png', image: { width: 5000, height: 2000 } },
        { provider: 'dashscope' },
      ),
    );
    expect(plan.steps[0]).toEqual({
      type: 'scale',
      from: { width: 5000, height: 2000 },
      width: 4096,
      height: 2048,
      content: { width: 4096, height: 1638 },
      pad: true,
    });
    expect(plan.changes).toEqual([
      'padded 5000×2000 with bars to an aspect ratio of 2:1 and scaled it to 4096×2048',
      'converted PNG → JPEG',
    ]);
    expect(plan.output).toEqual({ width: 4096, height: 2048, container: 'jpeg' });
    expect(outputProblems(plan)).toEqual([]);
  });

  it('scales a 6000×4000 JPEG and converts a GIF', () => {
    const big = planned(
      planConform(
        { kind: 'image', container: 'jpeg', image: { width: 6000, height: 4000 } },
        { provider: 'dashscope' },
      ),
    );
    expect(big.changes).toEqual(['scaled 6000×4000 → 4096×2731']);
    const gif = planned(
      planConform(
        { kind: 'image', container: 'gif', image: { width: 400, height: 400 } },
        { provider: 'dashscope' },
      ),
    );
    expect(gif.changes).toEqual(['converted GIF → JPEG']);
  });
});

describe('planConform: a photo with an EXIF orientation', () => {
  it('turns a phone portrait stored sideways upright before scaling it, and never passes it through', () => {
    const plan = planned(
      planConform(
        {
          kind: 'image',
          container: 'jpeg',
          sizeBytes: 3e6,
          image: { width: 6000, height: 4000, orientation: 6 },
        },
        { provider: 'dashscope' },
      ),
    );
    expect(plan.passthrough).toBe(false);
    expect(plan.steps.map((s) => s.type)).toEqual(['orient_image', 'scale', 'encode_image']);
    expect(plan.steps[0]).toEqual({ type: 'orient_image', orientation: 6 });
    expect(plan.changes).toEqual([
      'turned upright (the photo asked its viewer to turn it 90° clockwise): 4000×6000',
      'scaled 4000×6000 → 2731×4096',
    ]);
    expect(plan.output).toEqual({ width: 2731, height: 4096, container: 'jpeg' });
  });

  it('re-encodes a small mirrored photo that otherwise fits, keeping its size', () => {
    const plan = planned(
      planConform(
        {
          kind: 'image',
          container: 'jpeg',
          sizeBytes: 2e5,
          image: { width: 800, height: 600, orientation: 2 },
        },
        { provider: 'dashscope' },
      ),
    );
    expect(plan.steps.map((s) => s.type)).toEqual(['orient_image', 'encode_image']);
    expect(plan.output).toEqual({ width: 800, height: 600, container: 'jpeg' });
  });
});

describe('ConformError', () => {
  it('carries the reason, field and allowed range across JSON', () => {
    const error = new ConformError('clip_too_long', 'choose a clip of at most 2 min', {
      field: 'clip',
      allowed: '2–120 s',
    });
    const back = errorFromJSON(JSON.parse(JSON.stringify(error)));
    expect(back).toBeInstanceOf(ConformError);
    expect(back).toMatchObject({
      code: 'conform',
      reason: 'clip_too_long',
      field: 'clip',
      allowed: '2–120 s',
    });
  });
});

describe('formatClock', () => {
  it('writes minutes and seconds, tenths when there are any', () => {
    expect(formatClock(0)).toBe('0:00');
    expect(formatClock(42)).toBe('0:42');
    expect(formatClock(75.5)).toBe('1:15.5');
    expect(formatClock(59.96)).toBe('1:00');
  });
});
