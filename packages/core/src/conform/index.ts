export type {
  ClipRange,
  ConformOptions,
  ConformOutput,
  ConformPlan,
  ConformResult,
  ConformStep,
  PixelSize,
} from './plan.js';
export {
  CONFORM_JPEG_QUALITY,
  CONFORM_LOW_FPS_TARGET,
  CONFORM_MAX_SAMPLE_RATE,
  formatClock,
  planConform,
} from './plan.js';
export type {
  ImageOrientation,
  MediaKind,
  ProbedAudioTrack,
  ProbedImage,
  ProbedMedia,
  ProbedVideoTrack,
  Rotation,
} from './probed-media.js';
export { displaySize, imageDisplaySize } from './probed-media.js';
export type { ConformRefusal, ConformRefusalCode } from './refusal.js';
export { CONFORM_REFUSAL_CODES } from './refusal.js';
