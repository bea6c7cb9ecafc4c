import { estimateOutputSeconds, type MediaMeta, type MediaProblem } from '@retalk/core';
import type { Me } from '@retalk/core/relay';
import { check } from './media-checks.js';
import { chooseVideoIntake, type VideoIntake, type VideoTarget } from './video-source.js';

export type PickInputs = {
  target: VideoTarget | null;
  /** A video file the member chose instead of the page's video. */
  videoFileMeta?: MediaMeta;
  audioMeta?: MediaMeta;
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
  /** Output seconds the job will be billed for, once both durations are known. */
  outputSec?: number;
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
  const videoMeta = inputs.videoFileMeta ?? (inputs.target ? videoMetaOf(inputs.target) : undefined);
  const video = videoMeta ? check(videoMeta, provider) : undefined;
  const audio = inputs.audioMeta ? check(inputs.audioMeta, provider) : undefined;
  const videoSec = video?.meta.durationSec;
  const audioSec = audio?.meta.durationSec;
  const outputSec =
    videoSec !== undefined && audioSec !== undefined
      ? estimateOutputSeconds({ videoSec, audioSec, videoExtension: inputs.videoExtension })
      : undefined;
  const remainingSec = inputs.me?.budget.remainingSeconds ?? null;
  const overBudget = outputSec !== undefined && remainingSec !== null && outputSec > remainingSec;
  const videoProblems = video?.problems ?? [];
  const audioProblems = audio?.problems ?? [];
  return {
    intake,
    videoProblems,
    audioProblems,
    ...(videoSec !== undefined && { videoSec }),
    ...(audioSec !== undefined && { audioSec }),
    ...(outputSec !== undefined && { outputSec }),
    remainingSec,
    overBudget,
    ready:
      inputs.me !== null &&
      intake !== 'unavailable' &&
      audio !== undefined &&
      videoProblems.length === 0 &&
      audioProblems.length === 0 &&
      !overBudget,
  };
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
