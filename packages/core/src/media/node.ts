import { copyFile, open, rename, stat, unlink } from 'node:fs/promises';
import { FilePathSource, FilePathTarget } from 'mediabunny';
import type * as NodeAv from 'node-av';
import type { ConformOptions, ConformPlan } from '../conform/plan.js';
import { planConform } from '../conform/plan.js';
import type { MediaKind, ProbedMedia } from '../conform/probed-media.js';
import { ConformError, InvalidRequestError } from '../errors.js';
import { checkMedia, MEDIA_LIMITS } from '../limits.js';
import type { ByteSource } from './byte-source.js';
import { executePlan } from './execute.js';
import { conformImageFile } from './node-image.js';

export { conformImageFile, MAX_IMAGE_PIXELS } from './node-image.js';

import { type ProbeOptions, probeMedia } from './probe.js';

let codecs: Promise<void> | undefined;

/** Options of {@link useNodeCodecs}. */
export interface NodeCodecsOptions {
  /**
   * Look for GPU encoders and decoders (CUDA, VAAPI, Vulkan, …). Default `false`: software codecs
   * only, which is what a server without a GPU has anyway, and the probing for hardware writes
   * a page of "cannot load libcuda" lines to stderr.
   */
  hardware?: boolean | undefined;
}

/**
 * Gives mediabunny FFmpeg's decoders, encoders and scaler in Node, through `@mediabunny/server`
 * (prebuilt FFmpeg libraries from npm: no system ffmpeg, no apt step). Loaded on the first call
 * only (about a second on an idle machine, several on a loaded one), so a process that only
 * probes never pays for them; idempotent, the first call decides the options. {@link conformFile}
 * calls it itself; {@link probeFile} needs no codecs.
 */
export function useNodeCodecs(options: NodeCodecsOptions = {}): Promise<void> {
  codecs ??= Promise.all([import('@mediabunny/server'), import('node-av')]).then(([server, av]) => {
    if (!options.hardware) tuneSoftwareH264(av);
    server.registerMediabunnyServer(options.hardware ? {} : { hardwareContext: null });
  });
  return codecs;
}

/**
 * The x264 settings every H.264 encode in Node starts from. `@mediabunny/server` opens libx264 with
 * its defaults (preset `medium`, 40 frames of look-ahead, B-frames): at 1080p that peaks at about
 * 630 MB and 3 CPU-seconds per second of video. `veryfast` + `zerolatency` (no look-ahead, no
 * B-frames) peaks at about 250 MB and 1 CPU-second, and the file is within 3 % of the size at the
 * same bitrate; the provider re-encodes its result anyway. Measured with `pnpm bench` in
 * packages/core (bench/conform.mjs).
 */
export const H264_ENCODER_OPTIONS: Readonly<Record<string, string>> = {
  preset: 'veryfast',
  tune: 'zerolatency',
};

/**
 * mediabunny passes no encoder options through its `Conversion`, so the software H.264 encoder's
 * context is given {@link H264_ENCODER_OPTIONS} as it opens. Only the video encoder opens its
 * context without arguments (decoders and audio encoders pass the codec), which is how it is told
 * apart.
 */
function tuneSoftwareH264({ AV_CODEC_ID_H264, CodecContext }: typeof NodeAv): void {
  const open2 = CodecContext.prototype.open2;
  CodecContext.prototype.open2 = function (this: NodeAv.CodecContext, ...args: Parameters<typeof open2>) {
    if (args.length === 0 && this.codecId === AV_CODEC_ID_H264) {
      for (const [name, value] of Object.entries(H264_ENCODER_OPTIONS)) this.setOption(name, value);
    }
    return open2.apply(this, args);
  };
}

/** A {@link ByteSource} over a file on disk (reads through one handle per read, no whole-file buffer). */
export async function fileByteSource(path: string): Promise<ByteSource> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a file');
    size = info.size;
  } catch (cause) {
    throw new InvalidRequestError(`Cannot read ${path}: ${(cause as Error).message}`, {
      field: 'path',
      allowed: 'a readable local file',
      cause,
    });
  }
  return {
    size,
    async read(offset, length) {
      const handle = await open(path, 'r');
      try {
        const buffer = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
        const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, offset);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
    toSource: () => new FilePathSource(path),
  };
}

/**
 * Probes a file on disk (see `probeMedia`): container, length, tracks; refuses absurd sample
 * counts and files cut short before parsing them.
 *
 * @throws {ConformError} `undecodable`, `too_many_samples`, `no_video_track`, `no_audio_track`, …
 */
export async function probeFile(
  path: string,
  kind: MediaKind,
  options: ProbeOptions = {},
): Promise<ProbedMedia> {
  return probeMedia(await fileByteSource(path), kind, options);
}

/** Options of {@link conformFile}. */
export interface ConformFileOptions extends ConformOptions, ProbeOptions {
  /** Called as the conversion advances, with the fraction done (0–1). */
  onProgress?: ((fraction: number) => void) | undefined;
}

/** What {@link conformFile} did. */
export interface ConformFileResult {
  plan: ConformPlan;
  /** A probe of the written file. */
  output: ProbedMedia;
  sizeBytes: number;
  /** True when the file was copied as it was. */
  passthrough: boolean;
}

/** What {@link planFile} found and decided. */
export interface PlannedFile {
  media: ProbedMedia;
  plan: ConformPlan;
}

/**
 * Probes a file on disk and plans its conform, without writing anything: show `plan.changes`
 * before spending time on them, and skip {@link conformFile} when `plan.passthrough`.
 *
 * @throws {ConformError} the refusal (with `reason`, `field` and what to do), or a probe failure.
 */
export async function planFile(
  path: string,
  kind: MediaKind,
  options: ConformOptions & ProbeOptions,
): Promise<PlannedFile> {
  const media = await probeFile(path, kind, options);
  const result = planConform(media, options);
  if (!result.ok) {
    const { code, message, field, allowed } = result.refusal;
    throw new ConformError(code, message, { field, allowed });
  }
  return { media, plan: result.plan };
}

/** Slack between the planned and the measured length of a result, in seconds. */
const LENGTH_SLACK_SEC = 0.3;

/**
 * Probes `inputPath`, plans (see `planConform`), and writes a file that fits the provider's
 * limits to `outputPath` (a copy when nothing needs changing). Video and audio go through
 * {@link executePlan}; a reference image becomes a JPEG through FFmpeg (see `conformImageFile`).
 * The result is probed again and checked against the limits and the planned length, so a file
 * cut short inside cannot pass.
 *
 * @throws {ConformError} with the refusal's `reason`, `field` and message when the file cannot be
 *   made to fit; `AbortError` when `signal` fires (nothing is left at `outputPath`).
 * @example
 * const { plan } = await conformFile('talk.webm', 'talk.mp4', 'video', {
 *   provider: 'dashscope',
 *   clip: { startSec: 12, endSec: 42 },
 *   onProgress: (f) => console.log(`${Math.round(f * 100)}%`),
 * });
 * console.log(plan.changes.join('\n'));
 */
export async function conformFile(
  inputPath: string,
  outputPath: string,
  kind: MediaKind,
  options: ConformFileOptions,
): Promise<ConformFileResult> {
  const { media, plan } = await planFile(inputPath, kind, options);
  if (plan.passthrough) {
    await copyFile(inputPath, outputPath);
    options.onProgress?.(1);
    return {
      plan,
      output: media,
      sizeBytes: media.sizeBytes ?? (await stat(outputPath)).size,
      passthrough: true,
    };
  }
  const partial = `${outputPath}.part`;
  try {
    if (plan.kind === 'image') {
      await conformImageFile(plan, inputPath, partial, {
        signal: options.signal,
        width: media.image?.width ?? 0,
        height: media.image?.height ?? 0,
      });
      options.onProgress?.(1);
    } else {
      await useNodeCodecs();
      await executePlan(plan, await fileByteSource(inputPath), {
        target: new FilePathTarget(partial),
        onProgress: options.onProgress,
        signal: options.signal,
      });
    }
    const output = await probeFile(partial, kind, options);
    verifyOutput(plan, output, options);
    await rename(partial, outputPath);
    return { plan, output, sizeBytes: output.sizeBytes ?? 0, passthrough: false };
  } catch (error) {
    await unlink(partial).catch(() => {});
    throw error;
  }
}

/** The written file must be what the plan promised and inside every limit. */
function verifyOutput(plan: ConformPlan, output: ProbedMedia, options: ConformOptions): void {
  const planned = plan.output.durationSec ?? 0;
  const measured = output.durationSec ?? 0;
  if (measured < planned - LENGTH_SLACK_SEC) {
    throw new ConformError(
      'undecodable',
      `Only ${measured.toFixed(1)} s of the planned ${planned.toFixed(1)} s could be read: the file is damaged or cut short. Export it again or choose another file.`,
      { field: plan.kind },
    );
  }
  const track = output.video;
  const problems = checkMedia(
    {
      kind: output.kind,
      format: output.container,
      sizeBytes: output.sizeBytes,
      durationSec: output.durationSec,
      ...(track ? { codec: track.codec, width: track.width, height: track.height, fps: track.fps } : {}),
      ...(output.image ? { width: output.image.width, height: output.image.height } : {}),
    },
    options.provider,
    { minSideRule: (options.limits ?? MEDIA_LIMITS[options.provider]).video.minSideRule },
  );
  if (problems.length > 0) {
    throw new ConformError(
      'unsupported_format',
      `The converted ${plan.kind} still breaks the provider's limits (${problems.map((p) => p.message).join(' ')})`,
      { field: plan.kind },
    );
  }
}
