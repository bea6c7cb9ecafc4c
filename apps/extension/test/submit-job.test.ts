import type { CreateJobRequest, RelayClient, RelayUploadOptions, Upload } from '@retalk/core/relay';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { jobsItem } from '../src/lib/job-store.js';
import type { RelayConnection } from '../src/lib/relay-connection.js';
import { type SubmitStep, submitJob, submitJobs } from '../src/lib/submit-job.js';
import { makeJob } from './support/jobs.js';

const RELAY = 'https://relay.example.com';
// core's index exports the provider client's UploadOptions under that name, so take the relay's from its method.

function fakeConnection() {
  const uploads: RelayUploadOptions[] = [];
  const creates: Array<{ request: CreateJobRequest; idempotencyKey?: string | undefined }> = [];
  const client = {
    upload: vi.fn(async (data: Blob | Uint8Array, options: RelayUploadOptions): Promise<Upload> => {
      uploads.push(options);
      const size = data instanceof Blob ? data.size : data.byteLength;
      options.onProgress?.({ loadedBytes: size, totalBytes: size });
      return {
        id: `up_${options.kind}`,
        kind: options.kind,
        filename: options.filename,
        sizeBytes: size,
        sha256: 'x',
        contentType: 'application/octet-stream',
        media: { kind: options.kind },
        createdAt: '2026-01-01T10:00:00.000Z',
        expiresAt: '2026-01-03T10:00:00.000Z',
      };
    }),
    createJob: vi.fn(async (request: CreateJobRequest, options?: { idempotencyKey?: string | undefined }) => {
      creates.push({ request, idempotencyKey: options?.idempotencyKey });
      return makeJob({
        status: 'received',
        input: { ...request, videoExtension: request.videoExtension ?? false },
      });
    }),
  };
  const connection = {
    settings: { relayUrl: RELAY, token: 'rtk_testtoken123' },
    client: client as unknown as RelayClient,
    feed: {} as RelayConnection['feed'],
  } satisfies RelayConnection;
  return { connection, uploads, creates };
}

describe('submitting a job', () => {
  beforeEach(() => {
    fakeBrowser.reset();
  });

  it('uploads the audio file, the page video and the face, then creates the job once and stores it', async () => {
    const { connection, uploads, creates } = fakeConnection();
    const steps: SubmitStep['step'][] = [];
    const read = vi.fn(async (onProgress: (loaded: number, total: number) => void) => {
      onProgress(3, 3);
      return new Blob([new Uint8Array([1, 2, 3])], { type: 'video/mp4' });
    });
    const job = await submitJob(
      connection,
      {
        video: { from: 'page', read, filename: 'talk.mp4' },
        audio: { from: 'file', file: new File([new Uint8Array(10)], 'voice.wav', { type: 'audio/wav' }) },
        face: new Blob([new Uint8Array(4)], { type: 'image/png' }),
        videoExtension: true,
        faceThreshold: 150,
        title: 'Demo',
        sourcePageUrl: 'https://example.com/watch',
      },
      { idempotencyKey: 'key-1', onStep: (step) => steps.push(step.step) },
    );
    expect(uploads.map((u) => [u.kind, u.filename])).toEqual([
      ['audio', 'voice.wav'],
      ['video', 'talk.mp4'],
      ['image', 'face.png'],
    ]);
    expect(creates).toEqual([
      {
        request: {
          video: { uploadId: 'up_video' },
          audio: { uploadId: 'up_audio' },
          refImage: { uploadId: 'up_image' },
          videoExtension: true,
          faceThreshold: 150,
          title: 'Demo',
          sourcePageUrl: 'https://example.com/watch',
        },
        idempotencyKey: 'key-1',
      },
    ]);
    expect(new Set(steps)).toEqual(
      new Set(['upload-audio', 'read-video', 'upload-video', 'upload-face', 'create']),
    );
    expect((await jobsItem.getValue()).map((t) => t.job.id)).toEqual([job.id]);
  });

  it('sends public addresses as URLs without uploading anything', async () => {
    const { connection, uploads, creates } = fakeConnection();
    await submitJob(
      connection,
      {
        video: { from: 'url', url: 'https://cdn.example.com/v.mp4' },
        audio: { from: 'url', url: 'https://cdn.example.com/a.mp3' },
        videoExtension: false,
        sourcePageUrl: 'chrome://newtab',
      },
      { idempotencyKey: 'key-2' },
    );
    expect(uploads).toEqual([]);
    expect(creates[0]?.request).toEqual({
      video: { url: 'https://cdn.example.com/v.mp4' },
      audio: { url: 'https://cdn.example.com/a.mp3' },
      videoExtension: false,
    });
  });

  it('creates no job when an upload fails', async () => {
    const { connection, creates } = fakeConnection();
    vi.mocked(connection.client.upload).mockRejectedValueOnce(new Error('The audio is 1 s long'));
    await expect(
      submitJob(
        connection,
        {
          video: { from: 'url', url: 'https://cdn.example.com/v.mp4' },
          audio: { from: 'file', file: new File([new Uint8Array(1)], 'short.wav') },
          videoExtension: false,
        },
        { idempotencyKey: 'key-3' },
      ),
    ).rejects.toThrow('The audio is 1 s long');
    expect(creates).toEqual([]);
    expect(await jobsItem.getValue()).toEqual([]);
  });

  it('records a streamed clip before uploading anything, and uploads nothing when the recording is canceled', async () => {
    const { connection, uploads, creates } = fakeConnection();
    const order: string[] = [];
    const steps: SubmitStep[] = [];
    vi.mocked(connection.client.upload).mockImplementation(async (_data, options) => {
      order.push(`upload-${options.kind}`);
      return { id: `up_${options.kind}` } as Upload;
    });
    const audio = { from: 'file', file: new File([new Uint8Array(10)], 'voice.wav') } as const;
    await submitJob(
      connection,
      {
        video: {
          from: 'recording',
          record: async (onProgress) => {
            order.push('record');
            onProgress(1, 3.5);
            return new Blob([new Uint8Array(8)], { type: 'video/webm;codecs=vp9' });
          },
        },
        audio,
        videoExtension: false,
      },
      { idempotencyKey: 'key-4', onStep: (step) => steps.push(step) },
    );
    expect(order).toEqual(['record', 'upload-audio', 'upload-video']);
    expect(steps[0]).toMatchObject({
      step: 'record-video',
      loadedBytes: 1,
      totalBytes: 3.5,
      unit: 'seconds',
    });
    expect(vi.mocked(connection.client.upload).mock.calls[1]?.[1].filename).toBe('recording.webm');
    expect(creates).toHaveLength(1);

    order.length = 0;
    await expect(
      submitJob(
        connection,
        {
          video: {
            from: 'recording',
            record: async () => {
              throw new Error('Recording the video was stopped.');
            },
          },
          audio,
          videoExtension: false,
        },
        { idempotencyKey: 'key-5' },
      ),
    ).rejects.toThrow('stopped');
    expect(order).toEqual([]);
    expect(uploads).toEqual([]);
    expect(creates).toHaveLength(1);
  });

  it('sends a URL with its clip range for the relay to cut, and makes one job per audio for the same clip', async () => {
    const { connection, uploads, creates } = fakeConnection();
    const file = (name: string) => ({ from: 'file', file: new File([new Uint8Array(10)], name) }) as const;
    const jobs = await submitJobs(
      connection,
      {
        video: { from: 'url', url: 'https://cdn.example.com/talk.mp4', clip: { startSec: 60, endSec: 90 } },
        audios: [file('voice-en.wav'), file('voice-fr.wav')],
        videoExtension: false,
        title: 'Talk',
      },
      { idempotencyKey: 'key-6' },
    );
    expect(jobs).toHaveLength(2);
    // The video goes once (by its address); each audio is uploaded for its own job.
    expect(uploads.map((u) => u.filename)).toEqual(['voice-en.wav', 'voice-fr.wav']);
    expect(creates.map((c) => [c.request.video, c.request.title, c.idempotencyKey])).toEqual([
      [
        { url: 'https://cdn.example.com/talk.mp4', startSec: 60, endSec: 90 },
        'Talk · voice-en.wav',
        'key-6:0',
      ],
      [
        { url: 'https://cdn.example.com/talk.mp4', startSec: 60, endSec: 90 },
        'Talk · voice-fr.wav',
        'key-6:1',
      ],
    ]);
    expect((await jobsItem.getValue()).map((t) => t.job.id).sort()).toEqual(jobs.map((j) => j.id).sort());
  });

  it('uploads a page file it cannot cut whole, with the clip range for the relay', async () => {
    const { connection, creates } = fakeConnection();
    await submitJob(
      connection,
      {
        // Not a video mediabunny can open: the browser cannot cut it, the relay will.
        video: {
          from: 'page',
          filename: 'talk.mp4',
          clip: { startSec: 5, endSec: 9 },
          read: async () => new Blob([new Uint8Array([1, 2, 3])], { type: 'video/mp4' }),
        },
        audio: { from: 'url', url: 'https://cdn.example.com/a.mp3' },
        videoExtension: false,
      },
      { idempotencyKey: 'key-7' },
    );
    expect(creates[0]?.request.video).toEqual({ uploadId: 'up_video', startSec: 5, endSec: 9 });
  });

  it("sends an audio part as the audio input's startSec/endSec, for an upload and for an address", async () => {
    const { connection, creates } = fakeConnection();
    await submitJobs(
      connection,
      {
        video: { from: 'url', url: 'https://cdn.example.com/talk.mp4' },
        audios: [
          {
            from: 'file',
            file: new File([new Uint8Array(10)], 'long.wav'),
            clip: { startSec: 60, endSec: 90 },
          },
          { from: 'url', url: 'https://cdn.example.com/voice.mp3', clip: { startSec: 5, endSec: 35 } },
        ],
        videoExtension: false,
      },
      { idempotencyKey: 'key-8' },
    );
    expect(creates.map((c) => c.request.audio)).toEqual([
      { uploadId: 'up_audio', startSec: 60, endSec: 90 },
      { url: 'https://cdn.example.com/voice.mp3', startSec: 5, endSec: 35 },
    ]);
  });

  it('reads the video from the page and uploads it when the relay refuses its address, for every job of the plan', async () => {
    const { connection, uploads, creates } = fakeConnection();
    const refused = Object.assign(
      new Error('video.url points at a private or loopback address (10.0.0.5).'),
      {
        providerCode: 'url_not_allowed',
        field: 'video.url',
      },
    );
    const create = connection.client.createJob as unknown as ReturnType<typeof vi.fn>;
    const real = create.getMockImplementation()!;
    create.mockImplementationOnce(async () => {
      throw refused;
    });
    create.mockImplementation(real);
    const steps: SubmitStep[] = [];
    const read = vi.fn(async () => new Blob([new Uint8Array([1, 2, 3])], { type: 'video/mp4' }));
    const file = (name: string) => ({ from: 'file', file: new File([new Uint8Array(10)], name) }) as const;
    const jobs = await submitJobs(
      connection,
      {
        video: {
          from: 'url',
          url: 'http://nas.lan.example/talk.mp4',
          clip: { startSec: 5, endSec: 9 },
          fallback: { read, filename: 'talk.mp4' },
        },
        audios: [file('voice-en.wav'), file('voice-fr.wav')],
        videoExtension: false,
      },
      { idempotencyKey: 'key-9', onStep: (step) => steps.push(step) },
    );
    expect(jobs).toHaveLength(2);
    expect(read).toHaveBeenCalledTimes(1);
    expect(steps.find((s) => s.step === 'url-refused')?.label).toContain('10.0.0.5');
    expect(uploads.map((u) => u.filename)).toEqual(['voice-en.wav', 'talk.mp4', 'voice-fr.wav']);
    // The refused request, then both jobs with the upload and the clip for the relay to cut.
    expect(creates.map((c) => [c.request.video, c.idempotencyKey])).toEqual([
      [{ uploadId: 'up_video', startSec: 5, endSec: 9 }, 'key-9:0:upload'],
      [{ uploadId: 'up_video', startSec: 5, endSec: 9 }, 'key-9:1'],
    ]);
  });

  it('does not fall back for other refusals', async () => {
    const { connection } = fakeConnection();
    const create = connection.client.createJob as unknown as ReturnType<typeof vi.fn>;
    create.mockImplementationOnce(async () => {
      throw Object.assign(new Error('budget'), { providerCode: 'budget_exceeded' });
    });
    const read = vi.fn(async () => new Blob([new Uint8Array([1])]));
    await expect(
      submitJob(
        connection,
        {
          video: {
            from: 'url',
            url: 'http://nas.lan.example/talk.mp4',
            fallback: { read, filename: 'talk.mp4' },
          },
          audio: { from: 'url', url: 'https://cdn.example.com/a.mp3' },
          videoExtension: false,
        },
        { idempotencyKey: 'key-10' },
      ),
    ).rejects.toThrow('budget');
    expect(read).not.toHaveBeenCalled();
  });
});
