import {
  ALL_FORMATS,
  Conversion,
  ConversionCanceledError,
  type ConversionOptions,
  type ConversionVideoOptions,
  Input,
  Mp4OutputFormat,
  Output,
  type Target,
  WavOutputFormat,
} from 'mediabunny';
import type { ConformPlan, ConformStep } from '../conform/plan.js';
import { AbortError, ConformError, isRetalkError } from '../errors.js';
import { type MediaInput, toByteSource } from './byte-source.js';

/** Options of {@link executePlan}. */
export interface ExecuteOptions {
  /** Where the result is written: a mediabunny `Target` (`BufferTarget`, `StreamTarget`, `FilePathTarget`). */
  target: Target;
  /** Called as the work advances, with the fraction done (0–1). */
  onProgress?: ((fraction: number) => void) | undefined;
  /** Stops the work; {@link executePlan} then throws an `AbortError` and the target is left unfinished. */
  signal?: AbortSignal | undefined;
}

type Step<T extends ConformStep['type']> = Extract<ConformStep, { type: T }>;

function step<T extends ConformStep['type']>(plan: ConformPlan, type: T): Step<T> | undefined {
  return plan.steps.find((s): s is Step<T> => s.type === type);
}

/** The mediabunny conversion that carries out a video or audio plan. */
export function conversionOptions(plan: ConformPlan): Omit<ConversionOptions, 'input' | 'output'> {
  const trim = step(plan, 'trim');
  const options: Omit<ConversionOptions, 'input' | 'output'> = {
    tracks: 'primary',
    showWarnings: false,
    ...(trim ? { trim: { start: trim.startSec, end: trim.endSec } } : {}),
  };
  if (plan.kind === 'audio') {
    const encode = step(plan, 'encode_audio');
    options.video = { discard: true };
    options.audio = encode
      ? {
          codec: 'pcm-s16',
          sampleRate: encode.sampleRate,
          numberOfChannels: encode.channels,
          forceTranscode: true,
        }
      : {};
    return options;
  }
  const encode = step(plan, 'encode_video');
  const scale = step(plan, 'scale');
  const fps = step(plan, 'fps');
  const video: ConversionVideoOptions = {};
  if (encode) {
    video.codec = 'avc';
    video.forceTranscode = true;
    video.bitrate = encode.bitrate;
    // Bake any rotation into the pixels: players and the provider see an upright picture.
    video.allowTransformationMetadata = false;
    video.width = plan.output.width ?? 0;
    video.height = plan.output.height ?? 0;
    video.fit = scale?.pad ? 'contain' : 'fill';
    if (fps) video.frameRate = fps.fps;
    // Exact cut points: a copied stream would start at the key frame before the clip.
    options.copy = false;
  }
  options.video = video;
  options.audio = { discard: true };
  return options;
}

/** What {@link executePlan} produced. */
export interface ExecuteResult {
  /** True when the plan was a passthrough: nothing was written, the source is used as it is. */
  passthrough: boolean;
}

/**
 * Carries out a video or audio {@link ConformPlan} with mediabunny's `Conversion` (trim, resize
 * with fit, frame rate, H.264 or WAV) and writes the result to `target`. The same code runs in
 * browsers (WebCodecs) and in Node (after `useNodeCodecs()` from `@retalk/core/media/node`). A
 * passthrough plan writes nothing: use the source as it is. Images are not handled here.
 *
 * @throws {ConformError} `undecodable` when the file cannot be decoded or encoded here;
 *   {@link AbortError} when `signal` fires.
 * @example
 * const target = new BufferTarget();
 * await executePlan(plan, file, { target, onProgress: (f) => bar.set(f) });
 * const mp4 = new Blob([target.buffer!], { type: 'video/mp4' });
 */
export async function executePlan(
  plan: ConformPlan,
  source: MediaInput,
  options: ExecuteOptions,
): Promise<ExecuteResult> {
  if (plan.passthrough) return { passthrough: true };
  if (plan.kind === 'image') {
    throw new ConformError(
      'unsupported_format',
      'Reference images are converted by conformImage, not executePlan.',
      {
        field: 'image',
      },
    );
  }
  const { signal } = options;
  if (signal?.aborted) throw new AbortError('The conversion was stopped.', { cause: signal.reason });
  const input = new Input({ source: toByteSource(source).toSource(), formats: ALL_FORMATS });
  const output = new Output({
    format: plan.kind === 'audio' ? new WavOutputFormat() : new Mp4OutputFormat(),
    target: options.target,
  });
  const stop = () => {
    void conversion?.cancel();
  };
  let conversion: Conversion | undefined;
  try {
    conversion = await Conversion.init({ input, output, ...conversionOptions(plan) });
    if (!conversion.isValid) {
      const reasons = conversion.discardedTracks.map((t) => `${t.track.type}: ${t.reason}`).join(', ');
      throw new ConformError(
        'undecodable',
        `This ${plan.kind} cannot be converted here (${reasons}); export it as MP4 (H.264) or WAV and try again.`,
        { field: plan.kind },
      );
    }
    const onProgress = options.onProgress;
    if (onProgress) conversion.onProgress = (fraction) => onProgress(Math.min(1, Math.max(0, fraction)));
    signal?.addEventListener('abort', stop, { once: true });
    await conversion.execute();
    onProgress?.(1);
    return { passthrough: false };
  } catch (error) {
    if (signal?.aborted || error instanceof ConversionCanceledError) {
      throw new AbortError('The conversion was stopped.', { cause: signal?.reason ?? error });
    }
    if (isRetalkError(error)) throw error;
    throw new ConformError(
      'undecodable',
      `Converting the ${plan.kind} failed: ${(error as Error).message}. The file may be damaged; export it again or choose another.`,
      { field: plan.kind, cause: error },
    );
  } finally {
    signal?.removeEventListener('abort', stop);
    input.dispose();
  }
}
