export type { ByteSource, MediaInput } from './byte-source.js';
export { toByteSource } from './byte-source.js';
export type { ExecuteOptions, ExecuteResult } from './execute.js';
export { conversionOptions, executePlan } from './execute.js';
export { IMAGE_HEADER_BYTES, readImageHeader } from './image-header.js';
export type { ProbeOptions } from './probe.js';
export { probeMedia } from './probe.js';
export type { SampleGuardOptions } from './sample-guard.js';
export { DEFAULT_MAX_SAMPLES, guardSamples } from './sample-guard.js';
