import type { Job } from '@retalk/core/relay';

let counter = 0;

/** A relay job as `GET /v1/jobs/:id` returns it; override what the test is about. */
export function makeJob(overrides: Partial<Job> = {}): Job {
  counter += 1;
  return {
    id: `job_${counter}`,
    status: 'running',
    progress: 40,
    provider: 'dashscope',
    input: {
      video: { url: 'https://cdn.example.com/v.mp4' },
      audio: { uploadId: 'up_audio' },
      videoExtension: false,
    },
    estimatedSeconds: 3,
    cancelable: false,
    createdAt: '2026-01-01T10:00:00.000Z',
    updatedAt: '2026-01-01T10:00:01.000Z',
    ...overrides,
  };
}
