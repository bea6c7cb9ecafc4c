import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { connectionRefused, downloadToFile, isInputFailure } from './input-fetch.js';
import { checkAudio, checkImage, checkVideo, type InputFailure, type MediaLimits } from './media-limits.js';
import { type MediaKind, type MediaMeta, metaFromUrl, probeFile } from './media-probe.js';
import { isPrivateHost } from './net-address.js';
import { documentedLength, muxResult, type ResultMode } from './result-media.js';
import type { Shutdown } from './shutdown.js';

export interface TaskInputUrls {
  videoUrl: string;
  audioUrl: string;
  refImageUrl?: string;
}

/** What the simulator reads of a task: its input URLs and the one parameter that shapes the result. */
export interface TaskInputs extends TaskInputUrls {
  videoExtension: boolean;
}

export type InputsOutcome =
  | {
      ok: true;
      video: MediaMeta;
      audio: MediaMeta;
      refImage?: MediaMeta;
      /** The MP4 served as the result. */
      resultPath: string;
      /** `mux`: the video with the new audio at the documented length; `echo`: the input video's bytes. */
      result: ResultMode;
    }
  | { ok: false; failure: InputFailure };

/** One input file of a task as the simulator received it: what a test checks the provider got. */
export interface ReceivedInput {
  kind: MediaKind;
  url: string;
  /** What the simulator's probe measured (before any `sim_*` override). */
  meta: MediaMeta;
  /** Bytes received; undefined when the file was never fetched (`fetchInputs` off). */
  sizeBytes?: number;
  /** SHA-256 of the bytes received, hex; undefined when they were not fetched. */
  sha256?: string;
}

/** A file the simulator already holds (a temporary `oss://` upload). */
export interface LocalFile {
  path: string;
  sizeBytes: number;
}

export interface InputContext {
  fetchInputs: boolean;
  /** Fail loopback/private input hosts with InvalidURL.ConnectionRefused, as the public service would. */
  refusePrivateInputs: boolean;
  inputTimeoutMs: number;
  limits: MediaLimits;
  workDir(): Promise<string>;
  resolveLocal(url: string): LocalFile | undefined;
  /** The MP4 served as the result when the input video's bytes were never fetched. */
  defaultResultPath: string;
  resultMode: ResultMode;
  shutdown: Shutdown;
  log(line: string): void;
  /** Told of each input once it is received and probed. */
  onReceived?: ((input: ReceivedInput) => void) | undefined;
}

// Used when fetchInputs is off and the URL carries no sim_* metadata: values inside every limit.
const ASSUMED: Record<MediaKind, MediaMeta> = {
  video: { kind: 'video', format: 'mp4', codec: 'h264', durationSec: 3, width: 1280, height: 720, fps: 25 },
  audio: { kind: 'audio', format: 'wav', durationSec: 4 },
  image: { kind: 'image', format: 'png', width: 256, height: 256 },
};

function formatFromPath(url: string): string | undefined {
  try {
    const ext = extname(new URL(url).pathname).slice(1).toLowerCase();
    return ext || undefined;
  } catch {
    return undefined;
  }
}

function isPrivateUrl(url: string): boolean {
  try {
    return isPrivateHost(new URL(url).hostname);
  } catch {
    return false;
  }
}

interface Gathered {
  meta: MediaMeta;
  path?: string;
  /** True when the simulator downloaded the file (so it may delete it). */
  owned: boolean;
}

async function gather(url: string, kind: MediaKind, ctx: InputContext): Promise<Gathered | InputFailure> {
  const overrides = metaFromUrl(url);
  const local = ctx.resolveLocal(url);
  let meta: MediaMeta;
  let path: string | undefined;
  let owned = false;
  let bytes: Pick<ReceivedInput, 'sizeBytes' | 'sha256'> = {};
  if (local) {
    meta = await probeFile(local.path, kind, local.sizeBytes);
    path = local.path;
    bytes = { sizeBytes: local.sizeBytes };
  } else if (ctx.fetchInputs) {
    if (ctx.refusePrivateInputs && isPrivateUrl(url)) return connectionRefused(url);
    const maxBytes =
      kind === 'video'
        ? ctx.limits.videoMaxBytes
        : kind === 'audio'
          ? ctx.limits.audioMaxBytes
          : ctx.limits.imageMaxBytes;
    const dest = join(await ctx.workDir(), `${kind}-${randomUUID()}`);
    const got = await downloadToFile(url, dest, {
      timeoutMs: ctx.inputTimeoutMs,
      maxBytes,
      shutdown: ctx.shutdown,
    });
    if (isInputFailure(got)) return got;
    meta =
      got.sizeBytes > maxBytes
        ? { kind, sizeBytes: got.sizeBytes }
        : await probeFile(got.path, kind, got.sizeBytes);
    path = got.path;
    owned = true;
    bytes = { sizeBytes: got.sizeBytes, sha256: got.sha256 };
  } else {
    meta = { ...ASSUMED[kind] };
  }
  ctx.onReceived?.({ kind, url, meta: { ...meta }, ...bytes });
  meta = { ...meta, ...overrides };
  // Bytes nobody could read but described by sim_* params: take the format from the file name.
  if (!meta.format && Object.keys(overrides).length > 0) {
    const guessed = formatFromPath(url);
    if (guessed) meta.format = guessed;
  }
  return path === undefined ? { meta, owned } : { meta, path, owned };
}

/**
 * Fetches and probes a task's inputs the way the real service does during PRE-PROCESSING,
 * then checks them against the limits and makes the result: with `resultMode: 'mux'` the video
 * with the new audio at the documented length, else (or when that cannot be made) the video's bytes.
 */
export async function prepareInputs(task: TaskInputs, ctx: InputContext): Promise<InputsOutcome> {
  const jobs: Array<Promise<Gathered | InputFailure>> = [
    gather(task.videoUrl, 'video', ctx),
    gather(task.audioUrl, 'audio', ctx),
  ];
  if (task.refImageUrl) jobs.push(gather(task.refImageUrl, 'image', ctx));
  const [video, audio, image] = await Promise.all(jobs);
  const discard = async (g: Gathered | InputFailure | undefined) => {
    if (g && !('code' in g) && g.owned && g.path) await rm(g.path, { force: true }).catch(() => {});
  };
  let keepVideo = false;
  try {
    for (const g of [video, audio, image]) if (g && 'code' in g) return { ok: false, failure: g };
    const v = video as Gathered;
    const a = audio as Gathered;
    const failure =
      checkVideo(v.meta, ctx.limits) ??
      checkAudio(a.meta, ctx.limits) ??
      (image ? checkImage((image as Gathered).meta, ctx.limits) : undefined);
    if (failure) return { ok: false, failure };
    const muxed = await makeResult(task, v, a, ctx);
    keepVideo = muxed === undefined;
    const outcome: InputsOutcome = {
      ok: true,
      video: v.meta,
      audio: a.meta,
      resultPath: muxed ?? v.path ?? ctx.defaultResultPath,
      result: muxed ? 'mux' : 'echo',
    };
    if (image) outcome.refImage = (image as Gathered).meta;
    return outcome;
  } finally {
    if (!keepVideo) await discard(video);
    await discard(audio);
    await discard(image);
  }
}

/** The muxed result's path, or undefined when the task serves the input video instead. */
async function makeResult(
  task: TaskInputs,
  video: Gathered,
  audio: Gathered,
  ctx: InputContext,
): Promise<string | undefined> {
  if (ctx.resultMode !== 'mux' || !video.path || !audio.path) return undefined;
  const outPath = join(await ctx.workDir(), `result-${randomUUID()}.mp4`);
  const abort = ctx.shutdown.link();
  try {
    await muxResult({
      videoPath: video.path,
      audioPath: audio.path,
      lengthSec: documentedLength(video.meta.durationSec, audio.meta.durationSec, task.videoExtension),
      extend: task.videoExtension,
      outPath,
      signal: abort.signal,
    });
    return outPath;
  } catch (error) {
    await rm(outPath, { force: true }).catch(() => {});
    if (!abort.signal.aborted) {
      ctx.log(
        `result: could not put the audio on the video (${error instanceof Error ? error.message : String(error)}); serving the input video instead`,
      );
    }
    return undefined;
  } finally {
    abort.release();
  }
}
