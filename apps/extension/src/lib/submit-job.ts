import type { CreateJobRequest, Job, JobInput, MediaKind } from '@retalk/core/relay';
import { toErrorMessage } from './errors.js';
import { t } from './i18n.js';
import { mergeJobs, updateJobs } from './job-store.js';
import type { RelayConnection } from './relay-connection.js';

/** Where each input comes from, as the picker decided. */
export type SubmitPlan = {
  video:
    | { from: 'url'; url: string }
    | { from: 'page'; read: ReadPageVideo; filename: string }
    | { from: 'recording'; record: RecordPageVideo }
    /** An HLS stream's clip fetched by its segments, recorded from the page if that fails. */
    | { from: 'stream'; fetch: FetchStreamClip; record: RecordPageVideo }
    | { from: 'file'; file: File };
  audio: { from: 'url'; url: string } | { from: 'file'; file: File };
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

/** Fetches a stream's clip and cuts it in the browser, telling each step. */
export type FetchStreamClip = (onStep: (step: SubmitStep) => void) => Promise<Blob>;

/** One step of a submit, with byte counts where there are bytes (seconds of video for a recording). */
export type SubmitStep = {
  step:
    | 'fetch-video'
    | 'cut-video'
    | 'record-video'
    | 'read-video'
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

/** Uploads what must be uploaded (audio, then video, then the face), creates the job and stores it. */
export async function submitJob(
  connection: RelayConnection,
  plan: SubmitPlan,
  options: SubmitOptions,
): Promise<Job> {
  // The page's video comes first: a recording takes real time and may be canceled, and nothing
  // should be uploaded for a job that will not be created.
  let videoFile: { blob: Blob; filename: string } | undefined;
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
  if (plan.video.from === 'file') {
    videoFile = { blob: plan.video.file, filename: plan.video.file.name };
  } else if (plan.video.from === 'recording') {
    videoFile = await record(plan.video.record);
  } else if (plan.video.from === 'stream') {
    try {
      videoFile = { blob: await plan.video.fetch((step) => options.onStep?.(step)), filename: 'clip.mp4' };
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
    const blob = await plan.video.read((loadedBytes, totalBytes) =>
      options.onStep?.({
        step: 'read-video',
        label: t('step.readVideo'),
        loadedBytes,
        totalBytes,
      }),
    );
    videoFile = { blob, filename: plan.video.filename };
  }

  const audio: JobInput =
    plan.audio.from === 'url'
      ? { url: plan.audio.url }
      : await upload(
          connection,
          plan.audio.file,
          {
            kind: 'audio',
            filename: plan.audio.file.name,
            step: 'upload-audio',
            label: t('step.uploadAudio'),
          },
          options,
        );

  const video: JobInput = videoFile
    ? await upload(
        connection,
        videoFile.blob,
        { kind: 'video', filename: videoFile.filename, step: 'upload-video', label: t('step.uploadVideo') },
        options,
      )
    : { url: plan.video.from === 'url' ? plan.video.url : '' };

  const refImage = plan.face
    ? await upload(
        connection,
        plan.face,
        { kind: 'image', filename: 'face.png', step: 'upload-face', label: t('step.uploadFace') },
        options,
      )
    : undefined;

  options.onStep?.({ step: 'create', label: t('step.create'), loadedBytes: 0, totalBytes: 0 });
  const request: CreateJobRequest = {
    video,
    audio,
    ...(refImage && { refImage }),
    videoExtension: plan.videoExtension,
    ...(plan.faceThreshold !== undefined && { faceThreshold: plan.faceThreshold }),
    ...(plan.title && { title: plan.title.slice(0, 300) }),
    ...(plan.sourcePageUrl &&
      /^https?:/.test(plan.sourcePageUrl) && { sourcePageUrl: plan.sourcePageUrl.slice(0, 2048) }),
  };
  const job = await connection.client.createJob(request, {
    idempotencyKey: options.idempotencyKey,
    ...(options.signal && { signal: options.signal }),
  });
  await updateJobs((jobs) =>
    mergeJobs(jobs, [job], { relayUrl: connection.settings.relayUrl, nowMs: Date.now() }).map((tracked) =>
      tracked.job.id === job.id
        ? {
            ...tracked,
            ...(plan.audioName && { audioName: plan.audioName }),
            ...(plan.thumbnail && { thumbnail: plan.thumbnail }),
          }
        : tracked,
    ),
  );
  return job;
}
