import { type ClipRange, estimateOutputSeconds, type MediaMeta, type MediaProblem } from '@retalk/core';
import type { Me } from '@retalk/core/relay';
import { check } from './media-checks.js';
import { chooseVideoIntake, takesClip, type VideoIntake, type VideoTarget } from './video-source.js';

export type PickInputs = {
  target: VideoTarget | null;
  /**
   * The part of the video to use: what gets fetched or recorded from a stream, what the relay cuts
   * from a URL, what is cut from a file before upload. Its length is what is checked and billed.
   */
  clip?: ClipRange;
  /** A video file the member chose instead of the page's video. */
  videoFileMeta?: MediaMeta;
  audioMeta?: MediaMeta;
  /** Several audios for the same clip: one job each (takes precedence over `audioMeta`). */
  audioMetas?: MediaMeta[];
  videoExtension: boolean;
  /** The member's override of how an http(s) video is sent. */
  sendBy?: Exclude<VideoIntake, 'unavailable'> | null;
  me: Me | null;
};

export type PickVerdict = {
  intake: VideoIntake | 'file';
  videoProblems: MediaProblem[];
  audioProblems: MediaProblem[];
  videoSec?: number;
  audioSec?: number;
  /** Output seconds the job (all the jobs, for several audios) will be billed for, once every length is known. */
  outputSec?: number;
  /** Each audio's own verdict, in order (one job each). */
  perAudio: Array<{ problems: MediaProblem[]; outputSec?: number }>;
  remainingSec: number | null;
  overBudget: boolean;
  /** True only when nothing known stands in the way: nothing is spent on input that must fail. */
  ready: boolean;
};

/** Everything the picker checks before anything is uploaded or spent. */
export function evaluatePick(inputs: PickInputs): PickVerdict {
  const provider = inputs.me?.provider ?? 'dashscope';
  const suggested = inputs.target ? chooseVideoIntake(inputs.target) : 'unavailable';
  const intake: PickVerdict['intake'] = inputs.videoFileMeta
    ? 'file'
    : suggested !== 'unavailable' && inputs.target?.kind === 'url' && inputs.sendBy
      ? inputs.sendBy
      : suggested;
  const pageMeta = inputs.target ? videoMetaOf(inputs.target) : undefined;
  // Only the clip is sent (or cut by the relay): its length is what the provider gets and what is checked.
  const clipSec = inputs.clip ? clipLength(inputs.clip) : undefined;
  const wholeMeta = inputs.videoFileMeta ?? pageMeta;
  const videoMeta =
    wholeMeta && clipSec !== undefined && intake !== 'unavailable'
      ? { ...wholeMeta, durationSec: clipSec }
      : wholeMeta;
  const video = videoMeta ? check(videoMeta, provider) : undefined;
  const audioMetas = inputs.audioMetas ?? (inputs.audioMeta ? [inputs.audioMeta] : []);
  const audios = audioMetas.map((meta) => check(meta, provider));
  const videoSec = video?.meta.durationSec;
  const perAudio = audios.map((audio) => {
    const audioSec = audio.meta.durationSec;
    const outputSec =
      videoSec !== undefined && audioSec !== undefined
        ? estimateOutputSeconds({ videoSec, audioSec, videoExtension: inputs.videoExtension })
        : undefined;
    return { problems: audio.problems, ...(outputSec !== undefined && { outputSec }) };
  });
  const audioSec = audios[0]?.meta.durationSec;
  const outputSec =
    perAudio.length > 0 && perAudio.every((a) => a.outputSec !== undefined)
      ? perAudio.reduce((sum, a) => sum + (a.outputSec ?? 0), 0)
      : undefined;
  const remainingSec = inputs.me?.budget.remainingSeconds ?? null;
  const overBudget = outputSec !== undefined && remainingSec !== null && outputSec > remainingSec;
  const videoProblems = (video?.problems ?? []).filter(unfixable);
  for (const audio of perAudio) audio.problems = audio.problems.filter(unfixable);
  const audioProblems = perAudio.flatMap((a) => a.problems);
  return {
    intake,
    videoProblems,
    audioProblems,
    perAudio,
    ...(videoSec !== undefined && { videoSec }),
    ...(audioSec !== undefined && { audioSec }),
    ...(outputSec !== undefined && { outputSec }),
    remainingSec,
    overBudget,
    ready:
      inputs.me !== null &&
      intake !== 'unavailable' &&
      (!takesClip(intake) || clipSec !== undefined) &&
      audios.length > 0 &&
      videoProblems.length === 0 &&
      audioProblems.length === 0 &&
      !overBudget,
  };
}

/**
 * Whether the relay's conform cannot fix a problem (it runs on every job the picker sends): it
 * scales, re-times, re-encodes and re-wraps, and takes larger originals than the provider, but it
 * cannot make a clip or an audio longer or shorter than the member chose.
 */
function unfixable(problem: MediaProblem): boolean {
  return problem.field === 'duration';
}

/** What the page told us about the video, as checkMedia input (fps and codec are checked by the relay). */
export function videoMetaOf(target: VideoTarget): MediaMeta {
  return {
    kind: 'video',
    ...(target.durationSec !== undefined && { durationSec: target.durationSec }),
    ...(target.width !== undefined &&
      target.height !== undefined && { width: target.width, height: target.height }),
  };
}

/** Seconds between a clip's start and end (0 when either is missing or the end is first). */
export function clipLength(clip: ClipRange): number {
  return Math.max(0, (clip.endSec ?? 0) - (clip.startSec ?? 0));
}

/** The clip's limits for a video: the provider's 2–120 s, inside the video's own length when known. */
export const CLIP_MIN_SEC = 2;
export const CLIP_MAX_SEC = 120;

/**
 * The clip the picker proposes: from where the page's playback stood at the right-click, as long
 * as the audio (or 10 s before one is chosen), kept within the video and the 2–120 s limits.
 */
export function defaultClip(input: { durationSec?: number; currentSec?: number; audioSec?: number }): {
  startSec: number;
  endSec: number;
} {
  const duration = input.durationSec ?? Number.POSITIVE_INFINITY;
  const wanted = Math.min(CLIP_MAX_SEC, Math.max(CLIP_MIN_SEC, input.audioSec ?? 10));
  const length = Math.min(wanted, duration);
  const start = Math.max(0, Math.min(input.currentSec ?? 0, duration - length));
  return { startSec: round1(start), endSec: round1(start + length) };
}

function round1(sec: number): number {
  return Math.round(sec * 10) / 10;
}

/**
 * The part of a voice track the picker proposes: none (all of it) when it fits the 2–120 s limit,
 * else its first 2 min, shown to the member to move before anything is sent.
 */
export function defaultAudioRange(
  durationSec: number | undefined,
): { startSec: number; endSec: number } | undefined {
  if (durationSec === undefined || durationSec <= CLIP_MAX_SEC) return undefined;
  return { startSec: 0, endSec: CLIP_MAX_SEC };
}

/** True when a range leaves out some of a file `durationSec` long (a whole-file range is no range). */
export function isPartOf(
  range: { startSec: number; endSec: number },
  durationSec: number | undefined,
): boolean {
  if (durationSec === undefined) return true;
  return range.startSec > 0.05 || range.endSec < durationSec - 0.05;
}

/** An audio's measured facts as the job will use them: its chosen part's length in place of its own. */
export function withRange(
  meta: MediaMeta,
  range: { startSec: number; endSec: number } | undefined,
): MediaMeta {
  if (!range) return meta;
  return { ...meta, durationSec: clipLength(range) };
}
