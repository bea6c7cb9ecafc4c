import { formatClock } from '@retalk/core';
import type { CreateJobRequest, Job, JobInput, MediaKind } from '@retalk/core/relay';
import { type ClipUpload, cutAtKeyFrame } from './clip-cut.js';
import { toErrorMessage } from './errors.js';
import { t } from './i18n.js';
import { GROUP_TITLE_SEPARATOR } from './job-groups.js';
import { mergeJobs, updateJobs } from './job-store.js';
import type { RelayConnection } from './relay-connection.js';

/** A part of a video, in seconds from its start. */
export type ClipRange = { startSec: number; endSec: number };

/** A voice track; `clip` is the part of it to use (the relay cuts it), absent for all of it. */
export type AudioSource = ({ from: 'url'; url: string } | { from: 'file'; file: File }) & {
  clip?: ClipRange;
};

/**
 * Where each input comes from, as the picker decided. `clip` on a whole-file source is the part
 * to use: a URL goes with the range (the relay fetches the file and cuts it), a file the browser
 * holds is cut at key frames here first (see `cutAtKeyFrame`).
 */
export type SubmitPlan = {
  video:
    | {
        from: 'url';
        url: string;
        clip?: ClipRange;
        /**
         * How to get the video when the relay refuses its address (`url_not_allowed`: a private or
         * LAN host, a name only this network resolves): read it from the page, cut it and upload it.
         */
        fallback?: { read: ReadPageVideo; filename: string };
      }
    | { from: 'page'; read: ReadPageVideo; filename: string; clip?: ClipRange }
    | { from: 'recording'; record: RecordPageVideo }
    /** An HLS stream's clip fetched by its segments, recorded from the page if that fails. */
    | { from: 'stream'; fetch: FetchStreamClip; record: RecordPageVideo }
    | { from: 'file'; file: File; clip?: ClipRange };
  audio: AudioSource;
  face?: Blob;
  videoExtension: boolean;
  faceThreshold?: number;
  title?: string;
  sourcePageUrl?: string;
  /** Kept in this browser with the job, so its card can be told apart (finding 13). */
  audioName?: string;
  /** A small data URL of the video's frame, kept with the job for its card. */
  thumbnail?: string;
};

export type ReadPageVideo = (onProgress: (loadedBytes: number, totalBytes: number) => void) => Promise<Blob>;
/** Records the chosen clip from the page's element in real time; progress in seconds of video. */
export type RecordPageVideo = (onProgress: (recordedSec: number, totalSec: number) => void) => Promise<Blob>;

/** Fetches a stream's clip and cuts it in the browser at a key frame, telling each step. */
export type FetchStreamClip = (onStep: (step: SubmitStep) => void) => Promise<ClipUpload>;

/** One step of a submit, with byte counts where there are bytes (seconds of video for a recording). */
export type SubmitStep = {
  step:
    | 'fetch-video'
    | 'cut-video'
    | 'record-video'
    | 'read-video'
    | 'url-refused'
    | 'upload-video'
    | 'upload-audio'
    | 'upload-face'
    | 'create';
  label: string;
  loadedBytes: number;
  totalBytes: number;
  unit?: 'seconds';
};

export type SubmitOptions = {
  /** Same key on a repeated click = the same job, never a second charge. */
  idempotencyKey: string;
  onStep?: (step: SubmitStep) => void;
  signal?: AbortSignal;
};

async function upload(
  connection: RelayConnection,
  data: Blob,
  meta: { kind: MediaKind; filename: string; step: SubmitStep['step']; label: string },
  options: SubmitOptions,
): Promise<JobInput> {
  const uploaded = await connection.client.upload(data, {
    kind: meta.kind,
    filename: meta.filename,
    ...(data.type && { contentType: data.type }),
    ...(options.signal && { signal: options.signal }),
    onProgress: (p) => options.onStep?.({ step: meta.step, label: meta.label, ...p }),
  });
  return { uploadId: uploaded.id };
}

/**
 * Uploads what must be uploaded (audio, then video, then the face), creates the job and stores it.
 * See `submitJobs` for several audios on one video.
 */
export async function submitJob(
  connection: RelayConnection,
  plan: SubmitPlan,
  options: SubmitOptions,
): Promise<Job> {
  const [job] = await submitJobs(connection, { ...plan, audios: [plan.audio] }, options);
  return job as Job;
}

/** The video and clip once, and one audio per job: "one video, several languages". */
export type GroupPlan = Omit<SubmitPlan, 'audio'> & { audios: AudioSource[] };

/** Up to 300 characters, the relay's limit on a title. */
const MAX_TITLE = 300;

/**
 * Gets the video to the relay once (recorded, fetched, read or cut as the plan says; a URL with
 * its clip range), the face once, then for each audio uploads it and creates a job, in order. Each
 * job's idempotency key is the plan's key and its position, so a repeated click never makes a
 * second job for any audio. Every job reuses the same video input, which is also what groups them
 * in the popup. Jobs are stored as each is created.
 */
export async function submitJobs(
  connection: RelayConnection,
  plan: GroupPlan,
  options: SubmitOptions,
): Promise<Job[]> {
  // The page's video comes first: a recording takes real time and may be canceled, and nothing
  // should be uploaded for a job that will not be created.
  let videoFile: { blob: Blob; filename: string; range?: ClipUpload['range'] } | undefined;
  const record = async (recordClip: RecordPageVideo) => {
    const blob = await recordClip((recordedSec, totalSec) =>
      options.onStep?.({
        step: 'record-video',
        label: t('step.recording'),
        loadedBytes: recordedSec,
        totalBytes: totalSec,
        unit: 'seconds',
      }),
    );
    return { blob, filename: blob.type.includes('webm') ? 'recording.webm' : 'recording.mp4' };
  };
  const cut = async (blob: Blob, clip: ClipRange | undefined): Promise<ClipUpload> => {
    if (!clip) return { blob };
    options.onStep?.({ step: 'cut-video', label: t('step.cutClip'), loadedBytes: 0, totalBytes: 0 });
    return told(await cutAtKeyFrame(blob, clip, options.signal));
  };
  /** Says on the cut step what the cut did: copied exactly, from a key frame, or not at all. */
  const told = (piece: ClipUpload): ClipUpload => {
    if (piece.cut)
      options.onStep?.({ step: 'cut-video', label: describeCut(piece.cut), loadedBytes: 0, totalBytes: 0 });
    return piece;
  };
  const readFromPage = async (from: { read: ReadPageVideo; filename: string; clip?: ClipRange }) => {
    const read = await from.read((loadedBytes, totalBytes) =>
      options.onStep?.({
        step: 'read-video',
        label: t('step.readVideo'),
        loadedBytes,
        totalBytes,
      }),
    );
    const { blob, range } = await cut(read, from.clip);
    return { blob, filename: clipName(from.filename, blob), ...(range && { range }) };
  };
  const uploadVideo = async (file: NonNullable<typeof videoFile>): Promise<JobInput> => ({
    ...(await upload(
      connection,
      file.blob,
      { kind: 'video', filename: file.filename, step: 'upload-video', label: t('step.uploadVideo') },
      options,
    )),
    ...file.range,
  });
  if (plan.video.from === 'file') {
    const { blob, range } = await cut(plan.video.file, plan.video.clip);
    videoFile = { blob, filename: clipName(plan.video.file.name, blob), ...(range && { range }) };
  } else if (plan.video.from === 'recording') {
    videoFile = await record(plan.video.record);
  } else if (plan.video.from === 'stream') {
    try {
      const { blob, range } = told(await plan.video.fetch((step) => options.onStep?.(step)));
      videoFile = { blob, filename: 'clip.mp4', ...(range && { range }) };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      // The stream's segments could not be had or cut: the page's own player still plays it.
      options.onStep?.({
        step: 'fetch-video',
        label: t('step.recordFallback', { reason: toErrorMessage(error) }),
        loadedBytes: 0,
        totalBytes: 0,
      });
      videoFile = await record(plan.video.record);
    }
  } else if (plan.video.from === 'page') {
    videoFile = await readFromPage(plan.video);
  }

  const uploadAudio = async (audio: AudioSource, index: number): Promise<JobInput> => ({
    ...(audio.from === 'url'
      ? { url: audio.url }
      : await upload(
          connection,
          audio.file,
          {
            kind: 'audio',
            filename: audio.file.name,
            step: 'upload-audio',
            label:
              plan.audios.length > 1
                ? t('step.uploadAudioOf', { n: String(index + 1), count: String(plan.audios.length) })
                : t('step.uploadAudio'),
          },
          options,
        )),
    ...audio.clip,
  });

  // The first audio goes before the video: a refused audio costs no video upload.
  const firstAudio = await uploadAudio(plan.audios[0] as AudioSource, 0);

  let video: JobInput;
  if (videoFile) {
    video = await uploadVideo(videoFile);
  } else {
    const from = plan.video as Extract<SubmitPlan['video'], { from: 'url' }>;
    video = { url: from.url, ...from.clip };
  }

  const refImage = plan.face
    ? await upload(
        connection,
        plan.face,
        { kind: 'image', filename: 'face.png', step: 'upload-face', label: t('step.uploadFace') },
        options,
      )
    : undefined;

  const jobs: Job[] = [];
  for (const [index, source] of plan.audios.entries()) {
    const audio = index === 0 ? firstAudio : await uploadAudio(source, index);
    options.onStep?.({
      step: 'create',
      label:
        plan.audios.length > 1
          ? t('step.createOf', { n: String(index + 1), count: String(plan.audios.length) })
          : t('step.create'),
      loadedBytes: 0,
      totalBytes: 0,
    });
    const title =
      plan.audios.length > 1 ? groupTitle(plan.title, audioName(source)) : plan.title?.slice(0, MAX_TITLE);
    const request: CreateJobRequest = {
      video,
      audio,
      ...(refImage && { refImage }),
      videoExtension: plan.videoExtension,
      ...(plan.faceThreshold !== undefined && { faceThreshold: plan.faceThreshold }),
      ...(title && { title }),
      ...(plan.sourcePageUrl &&
        /^https?:/.test(plan.sourcePageUrl) && { sourcePageUrl: plan.sourcePageUrl.slice(0, 2048) }),
    };
    const key = plan.audios.length > 1 ? `${options.idempotencyKey}:${index}` : options.idempotencyKey;
    const create = (body: CreateJobRequest, idempotencyKey: string) =>
      connection.client.createJob(body, {
        idempotencyKey,
        ...(options.signal && { signal: options.signal }),
      });
    let job: Job;
    try {
      job = await create(request, key);
    } catch (error) {
      const from = plan.video;
      if (index > 0 || from.from !== 'url' || !from.fallback || !isVideoUrlRefused(error)) throw error;
      // The relay may not fetch this address (a private or LAN host): this browser can, as the
      // page does. The video is read here and uploaded, and every job of the plan uses the upload.
      options.onStep?.({
        step: 'url-refused',
        // The relay's own sentence names the address and why (the extension's wording of the code
        // would only repeat "may not fetch").
        label: t('step.urlRefused', {
          reason: error instanceof Error ? error.message : toErrorMessage(error),
        }),
        loadedBytes: 0,
        totalBytes: 0,
      });
      video = await uploadVideo(
        await readFromPage({ ...from.fallback, ...(from.clip && { clip: from.clip }) }),
      );
      // A new key: the refused request is not this one.
      job = await create({ ...request, video }, `${key}:upload`);
    }
    jobs.push(job);
    // Kept in this browser with the job, so its card can be told apart (finding 13).
    const name = plan.audios.length > 1 ? audioName(source) : (plan.audioName ?? audioName(source));
    await updateJobs((stored) =>
      mergeJobs(stored, [job], { relayUrl: connection.settings.relayUrl, nowMs: Date.now() }).map(
        (tracked) =>
          tracked.job.id === job.id
            ? { ...tracked, audioName: name, ...(plan.thumbnail && { thumbnail: plan.thumbnail }) }
            : tracked,
      ),
    );
  }
  return jobs;
}

function groupTitle(title: string | undefined, audio: string): string {
  const name = audio.slice(0, 120);
  return `${(title ?? '').slice(0, MAX_TITLE - name.length - GROUP_TITLE_SEPARATOR.length)}${GROUP_TITLE_SEPARATOR}${name}`;
}

function audioName(source: AudioSource): string {
  if (source.from === 'file') return source.file.name;
  try {
    return decodeURIComponent(new URL(source.url).pathname.split('/').pop() || source.url);
  } catch {
    return source.url;
  }
}

/** A cut clip is MP4 whatever the original was. */
function clipName(filename: string, blob: Blob): string {
  return blob.type === 'video/mp4' ? `${filename.replace(/\.[a-z0-9]+$/i, '')}.mp4` : filename;
}

/** True when the relay refused the video's address as one it may not fetch (`url_not_allowed`). */
function isVideoUrlRefused(error: unknown): boolean {
  const { providerCode, field } = (error ?? {}) as { providerCode?: unknown; field?: unknown };
  return providerCode === 'url_not_allowed' && (typeof field !== 'string' || field.startsWith('video'));
}

/** What the browser's cut did, in the member's words. */
export function describeCut(cut: NonNullable<ClipUpload['cut']>): string {
  if (cut.how === 'exact') return t('step.cutExact');
  if (cut.how === 'from-key-frame') return t('step.cutFromKeyFrame', { at: formatClock(cut.keyFrameSec) });
  return t('step.cutWhole');
}
