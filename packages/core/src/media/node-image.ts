import { writeFile } from 'node:fs/promises';
import type { ConformPlan, ConformStep } from '../conform/plan.js';
import type { ImageOrientation } from '../conform/probed-media.js';
import { AbortError, ConformError } from '../errors.js';

/**
 * Largest picture decoded to conform a reference image, in pixels (about 200 MB of RGBA). A
 * larger one is refused before decoding: no camera takes it, and a small PNG can claim it.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

type Step<T extends ConformStep['type']> = Extract<ConformStep, { type: T }>;

/** JPEG quality (0–1) → FFmpeg's MJPEG quantizer scale (2 = best, 31 = worst). */
function qscaleOf(quality: number): number {
  return Math.min(31, Math.max(2, Math.round((1 - quality) * 30)));
}

/**
 * FFmpeg filters that show a picture as its EXIF orientation asks (transpose: 0 = over the main
 * diagonal, 1 = 90° clockwise, 2 = 90° counter-clockwise, 3 = over the other diagonal).
 */
const ORIENT_FILTERS: Record<ImageOrientation, string> = {
  2: 'hflip',
  3: 'hflip,vflip',
  4: 'vflip',
  5: 'transpose=0',
  6: 'transpose=1',
  7: 'transpose=3',
  8: 'transpose=2',
};

/**
 * The FFmpeg filter chain of an image plan: turn it upright, scale the picture to its content size, centre it on
 * black bars when the plan pads (an aspect over the limit: cropping could cut the face off), and
 * hand full-range 4:2:0 to the JPEG encoder.
 */
export function imageFilter(plan: ConformPlan): string {
  const scale = plan.steps.find((s): s is Step<'scale'> => s.type === 'scale');
  const orient = plan.steps.find((s): s is Step<'orient_image'> => s.type === 'orient_image');
  const parts: string[] = orient ? [ORIENT_FILTERS[orient.orientation]] : [];
  if (scale) {
    parts.push(`scale=${scale.content.width}:${scale.content.height}:flags=lanczos:out_range=full`);
    if (scale.pad) parts.push(`pad=${scale.width}:${scale.height}:(ow-iw)/2:(oh-ih)/2:black`);
  } else {
    parts.push('scale=out_range=full');
  }
  parts.push('format=yuvj420p');
  return parts.join(',');
}

/**
 * Carries out a reference-image plan in Node with FFmpeg's decoders (PNG, JPEG, WebP, BMP, GIF's
 * first frame), scaler and JPEG encoder, through `node-av` (the libraries `@mediabunny/server`
 * already brings). Writes one JPEG to `outputPath`.
 *
 * @throws {ConformError} `undecodable` when the image cannot be decoded, `unsupported_format` when
 *   it is larger than {@link MAX_IMAGE_PIXELS}; {@link AbortError} when `signal` fires.
 */
export async function conformImageFile(
  plan: ConformPlan,
  inputPath: string,
  outputPath: string,
  options: { signal?: AbortSignal | undefined; width: number; height: number },
): Promise<void> {
  const encode = plan.steps.find((s): s is Step<'encode_image'> => s.type === 'encode_image');
  if (plan.kind !== 'image' || !encode) {
    throw new ConformError('unsupported_format', 'conformImageFile takes an image plan that re-encodes.', {
      field: 'image',
    });
  }
  if (options.width * options.height > MAX_IMAGE_PIXELS) {
    throw new ConformError(
      'unsupported_format',
      `The reference image is ${options.width}×${options.height}, too large to convert here; save it at most 4096 px on its longest side (JPEG or PNG) and try again.`,
      { field: 'image', allowed: 'at most 4096 px on the longest side' },
    );
  }
  const signal = options.signal;
  const stopped = () => new AbortError('The conversion was stopped.', { cause: signal?.reason });
  if (signal?.aborted) throw stopped();
  const av = await import('node-av');
  // FFmpeg's own notes (a pixel format's range) would otherwise land on the relay's stderr.
  av.Log.setLevel(av.AV_LOG_ERROR);
  let input: Awaited<ReturnType<typeof av.Demuxer.open>> | undefined;
  const closers: Array<{ close(): void }> = [];
  try {
    input = await av.Demuxer.open(inputPath);
    const stream = input.video();
    if (!stream) throw new Error('no picture in the file');
    const decoder = await av.Decoder.create(stream);
    closers.push(decoder);
    const filter = av.FilterAPI.create(imageFilter(plan));
    closers.push(filter);
    const encoder = await av.Encoder.create(av.FF_ENCODER_MJPEG, {
      configure(context) {
        context.setFlags(av.AV_CODEC_FLAG_QSCALE);
        context.globalQuality = qscaleOf(encode.quality) * av.FF_QP2LAMBDA;
        context.colorRange = av.AVCOL_RANGE_JPEG;
      },
    });
    closers.push(encoder);
    // Node 20 lacks Promise.withResolvers, which node-av's async generators use; the sync ones run
    // in the conform child anyway, off any event loop that serves people.
    // The null after the first packet flushes decoder, filter and encoder in turn.
    const frames = filter.framesSync(decoder.framesSync(firstOf(input.packetsSync(stream.index))));
    let jpeg: Buffer | undefined;
    for (const packet of encoder.packetsSync(frames)) {
      if (packet?.data && !jpeg) jpeg = Buffer.from(packet.data);
    }
    if (signal?.aborted) throw stopped();
    if (!jpeg) throw new Error('no picture could be decoded');
    await writeFile(outputPath, jpeg);
  } catch (error) {
    if (signal?.aborted) throw stopped();
    if (error instanceof ConformError || error instanceof AbortError) throw error;
    throw new ConformError(
      'undecodable',
      `Converting the reference image failed: ${(error as Error).message}. Save it again as a JPEG or PNG and try again.`,
      { field: 'image', cause: error },
    );
  } finally {
    for (const c of closers.reverse()) c.close();
    await input?.close();
  }
}

/** The first packet of a still image (an animated GIF's first frame), then the end. */
function* firstOf<T>(packets: Iterable<T | null>): Generator<T | null> {
  for (const packet of packets) {
    if (packet === null) break;
    yield packet;
    break;
  }
  yield null;
}
