import {
  type ClipRange,
  type ConformRefusal,
  type ConformResult,
  type ProbedMedia,
  planConform,
} from '@retalk/core';
import type { JobInput } from '@retalk/core/relay';
import type { RelayConfig } from './config.js';
import { mediaLimitsOf } from './pool-media.js';

/** A job input's name in the request, as fields are named in errors. */
export type InputName = 'video' | 'audio' | 'refImage';

/** The clip an input asks for, or undefined for the whole file. */
export function clipOf(input: JobInput): ClipRange | undefined {
  if (input.startSec === undefined && input.endSec === undefined) return undefined;
  return {
    ...(input.startSec !== undefined ? { startSec: input.startSec } : {}),
    ...(input.endSec !== undefined ? { endSec: input.endSec } : {}),
    // A piece the browser cut from a longer original: the job says the trim in the original's times.
    ...(input.sourceOffsetSec !== undefined ? { originSec: input.sourceOffsetSec } : {}),
  };
}

/** Core's conform plan for one probed input of a job (a pure decision, cheap on the event loop). */
export function planInput(config: RelayConfig, probe: ProbedMedia, input: JobInput): ConformResult {
  // The limits every upstream of the pool accepts (pool-media.ts), not one provider's.
  return planConform(probe, {
    provider: config.provider,
    limits: mediaLimitsOf(config),
    clip: clipOf(input),
  });
}

/** The request field a refusal names (`clip.endSec` of the video → `video.endSec`). */
export function refusalField(name: InputName, refusal: ConformRefusal, input: JobInput): string {
  if (refusal.field === 'clip.startSec') return `${name}.startSec`;
  if (refusal.field === 'clip.endSec') return `${name}.endSec`;
  if (refusal.field === 'clip') return input.endSec !== undefined ? `${name}.endSec` : `${name}.startSec`;
  return name;
}
