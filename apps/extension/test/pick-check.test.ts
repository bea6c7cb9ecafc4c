import type { Me } from '@retalk/core/relay';
import { describe, expect, it } from 'vitest';
import { defaultAudioRange, defaultClip, evaluatePick, isPartOf, withRange } from '../src/lib/pick-check.js';
import type { VideoTarget } from '../src/lib/video-source.js';

const ME: Me = {
  member: { id: 'm1', name: 'Alice', createdAt: '2026-01-01T00:00:00.000Z', maxConcurrentJobs: null },
  budget: { period: 'day', limitSeconds: 60, usedSeconds: 50, reservedSeconds: 5, remainingSeconds: 5 },
  provider: 'dashscope',
  simulator: true,
  activeJobs: 0,
  limits: { video: {}, audio: {}, image: {} },
  uploadMaxBytes: { video: 1, audio: 1, image: 1 },
  canCancel: true,
  relayVersion: '0.1.0',
};

const PAGE_VIDEO: VideoTarget = {
  src: 'https://cdn.example.com/talk.mp4',
  kind: 'url',
  durationSec: 3,
  width: 1280,
  height: 720,
  rect: { x: 0, y: 0, width: 640, height: 360 },
  devicePixelRatio: 1,
  topFrame: true,
  pageUrl: 'https://example.com/watch',
  pageTitle: 'Talk',
};

describe('pick checks', () => {
  it('is ready for a video and audio inside the limits and the budget, and prices the shorter input', () => {
    const verdict = evaluatePick({
      target: PAGE_VIDEO,
      audioMeta: { kind: 'audio', durationSec: 4, format: 'wav', sizeBytes: 128_000 },
      videoExtension: false,
      me: ME,
    });
    expect(verdict).toMatchObject({ intake: 'by-url', outputSec: 3, overBudget: false, ready: true });
  });

  it('prices the audio length when the video is extended to it, and refuses what the budget cannot pay', () => {
    const verdict = evaluatePick({
      target: PAGE_VIDEO,
      audioMeta: { kind: 'audio', durationSec: 8, format: 'mp3' },
      videoExtension: true,
      me: ME,
    });
    expect(verdict).toMatchObject({ outputSec: 8, remainingSec: 5, overBudget: true, ready: false });
  });

  it('refuses a 1 s audio with the limit it breaks, before anything is spent', () => {
    const verdict = evaluatePick({
      target: PAGE_VIDEO,
      audioMeta: { kind: 'audio', durationSec: 1, format: 'wav' },
      videoExtension: false,
      me: { ...ME, budget: { ...ME.budget, remainingSeconds: null, limitSeconds: null } },
    });
    expect(verdict.ready).toBe(false);
    expect(verdict.audioProblems).toEqual([
      expect.objectContaining({
        field: 'duration',
        allowed: '2–120 s',
        message: expect.stringContaining('at least 2 s'),
      }),
    ]);
  });

  it('leaves a page video below the resolution limit to the relay, which scales it, but refuses a clip over 2 min', () => {
    const small = { ...PAGE_VIDEO, width: 320, height: 240, durationSec: 600 };
    const audioMeta = { kind: 'audio', durationSec: 4, format: 'wav' } as const;
    const verdict = evaluatePick({
      target: small,
      clip: { startSec: 10, endSec: 40 },
      audioMeta,
      videoExtension: false,
      me: ME,
    });
    expect(verdict).toMatchObject({ ready: true, videoSec: 30, outputSec: 4, videoProblems: [] });
    const tooLong = evaluatePick({
      target: small,
      clip: { startSec: 10, endSec: 140 },
      audioMeta,
      videoExtension: false,
      me: ME,
    });
    expect(tooLong.ready).toBe(false);
    expect(tooLong.videoProblems).toEqual([
      expect.objectContaining({ field: 'duration', allowed: '2–120 s' }),
    ]);
  });

  it('checks each of several audios for the same clip and costs them together', () => {
    const verdict = evaluatePick({
      target: { ...PAGE_VIDEO, durationSec: 240 },
      clip: { startSec: 60, endSec: 90 },
      audioMetas: [
        { kind: 'audio', durationSec: 30, format: 'wav' },
        { kind: 'audio', durationSec: 4, format: 'wav' },
        { kind: 'audio', durationSec: 1, format: 'wav' },
      ],
      videoExtension: false,
      me: ME,
    });
    expect(verdict.perAudio.map((a) => [a.outputSec, a.problems.map((p) => p.field)])).toEqual([
      [30, []],
      [4, []],
      [1, ['duration']],
    ]);
    expect(verdict.outputSec).toBe(35);
    expect(verdict.ready).toBe(false);
  });

  it('is not ready without a sendable video: a protected stream, until the member chooses a file', () => {
    const stream: VideoTarget = {
      ...PAGE_VIDEO,
      src: 'blob:https://example.com/1',
      kind: 'stream',
      protection: 'encrypted',
    };
    const audioMeta = { kind: 'audio', durationSec: 4, format: 'wav' } as const;
    expect(evaluatePick({ target: stream, audioMeta, videoExtension: false, me: ME })).toMatchObject({
      intake: 'unavailable',
      ready: false,
    });
    const withFile = evaluatePick({
      target: stream,
      videoFileMeta: {
        kind: 'video',
        durationSec: 3,
        width: 1280,
        height: 720,
        fps: 25,
        format: 'mp4',
        codec: 'avc1',
      },
      audioMeta,
      videoExtension: false,
      me: ME,
    });
    expect(withFile).toMatchObject({ intake: 'file', ready: true });
  });

  it('lets the member upload a public video instead of sending its address', () => {
    const verdict = evaluatePick({
      target: PAGE_VIDEO,
      audioMeta: { kind: 'audio', durationSec: 4, format: 'wav' },
      videoExtension: false,
      sendBy: 'upload-from-page',
      me: ME,
    });
    expect(verdict.intake).toBe('upload-from-page');
  });

  it('is never ready before the relay has answered who the member is', () => {
    const verdict = evaluatePick({
      target: PAGE_VIDEO,
      audioMeta: { kind: 'audio', durationSec: 4, format: 'wav' },
      videoExtension: false,
      me: null,
    });
    expect(verdict.ready).toBe(false);
  });

  it('checks and prices a streamed video by its clip: 2–120 s, before anything is recorded', () => {
    const stream: VideoTarget = {
      ...PAGE_VIDEO,
      src: 'blob:https://example.com/1',
      kind: 'stream',
      durationSec: 600,
    };
    const unlimited = { ...ME, budget: { ...ME.budget, remainingSeconds: null, limitSeconds: null } };
    const audioMeta = { kind: 'audio', durationSec: 30, format: 'wav' } as const;
    const withClip = (startSec: number, endSec: number) =>
      evaluatePick({
        target: stream,
        clip: { startSec, endSec },
        audioMeta,
        videoExtension: false,
        me: unlimited,
      });
    expect(withClip(100, 130)).toMatchObject({
      intake: 'record-from-page',
      videoSec: 30,
      outputSec: 30,
      ready: true,
    });
    const tooLong = withClip(0, 150);
    expect(tooLong.ready).toBe(false);
    expect(tooLong.videoProblems.map((p) => p.field)).toContain('duration');
    expect(withClip(10, 11).ready).toBe(false);
    // No clip yet: nothing to record.
    expect(evaluatePick({ target: stream, audioMeta, videoExtension: false, me: unlimited }).ready).toBe(
      false,
    );
  });

  it('proposes a clip from the current position as long as the audio, inside the video and 2–120 s', () => {
    expect(defaultClip({ durationSec: 600, currentSec: 42, audioSec: 20 })).toEqual({
      startSec: 42,
      endSec: 62,
    });
    // Near the end: the clip moves back so it still lasts as long as the audio.
    expect(defaultClip({ durationSec: 60, currentSec: 55, audioSec: 20 })).toEqual({
      startSec: 40,
      endSec: 60,
    });
    // Audio over 2 min: the clip stops at 2 min; a 1 s audio still gets the 2 s minimum.
    expect(defaultClip({ durationSec: 600, currentSec: 0, audioSec: 300 })).toEqual({
      startSec: 0,
      endSec: 120,
    });
    expect(defaultClip({ durationSec: 600, currentSec: 0, audioSec: 1 })).toEqual({ startSec: 0, endSec: 2 });
    // Before the audio is chosen: 10 s; a live stream (no duration) from where it stands.
    expect(defaultClip({ currentSec: 3600 })).toEqual({ startSec: 3600, endSec: 3610 });
  });
});

describe('the part of a voice track', () => {
  it('proposes the first 2 min of an audio longer than a job, and nothing (all of it) otherwise', () => {
    expect(defaultAudioRange(180)).toEqual({ startSec: 0, endSec: 120 });
    expect(defaultAudioRange(120)).toBeUndefined();
    expect(defaultAudioRange(30)).toBeUndefined();
    expect(defaultAudioRange(undefined)).toBeUndefined();
  });

  it('treats a range over the whole file as no range', () => {
    expect(isPartOf({ startSec: 0, endSec: 30 }, 30)).toBe(false);
    expect(isPartOf({ startSec: 0.02, endSec: 29.97 }, 30)).toBe(false);
    expect(isPartOf({ startSec: 1, endSec: 30 }, 30)).toBe(true);
    expect(isPartOf({ startSec: 0, endSec: 20 }, 30)).toBe(true);
  });

  it('checks and prices the chosen part, not the whole track: 3 min with 1:00–1:30 chosen is a 30 s job', () => {
    const audio = withRange({ kind: 'audio', durationSec: 180, format: 'wav' }, { startSec: 60, endSec: 90 });
    expect(audio.durationSec).toBe(30);
    const verdict = evaluatePick({
      target: PAGE_VIDEO,
      clip: { startSec: 0, endSec: 30 },
      audioMetas: [audio],
      videoExtension: false,
      me: { ...ME, budget: { ...ME.budget, remainingSeconds: 100 } },
    });
    expect(verdict.audioProblems).toEqual([]);
    expect(verdict.outputSec).toBe(30);
    expect(verdict.ready).toBe(true);
  });
});
