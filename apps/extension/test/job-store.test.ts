import { TERMINAL_JOB_STATUSES } from '@retalk/core/relay';
import { beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import {
  countActive,
  jobsItem,
  MAX_TRACKED_JOBS,
  markNotified,
  markSyncError,
  mergeJobs,
  pendingNotifications,
  TERMINAL_STATUSES,
  toRetryRequest,
  updateJobs,
} from '../src/lib/job-store.js';
import { makeJob } from './support/jobs.js';

const context = { relayUrl: 'https://relay.example.com', nowMs: 1_000 };

describe('job store', () => {
  beforeEach(() => {
    fakeBrowser.reset();
  });

  it('adds new jobs and lists them newest first', () => {
    const older = makeJob({ createdAt: '2026-01-01T09:00:00.000Z' });
    const newer = makeJob({ createdAt: '2026-01-01T11:00:00.000Z' });
    const list = mergeJobs([], [older, newer], context);
    expect(list.map((t) => t.job.id)).toEqual([newer.id, older.id]);
    expect(list[0]).toMatchObject({ relayUrl: context.relayUrl, addedAt: 1_000 });
  });

  it('applies a newer update but ignores one older than what is stored', () => {
    const job = makeJob({ progress: 10, updatedAt: '2026-01-01T10:00:05.000Z' });
    let list = mergeJobs([], [job], context);
    list = mergeJobs(list, [{ ...job, progress: 80, updatedAt: '2026-01-01T10:00:09.000Z' }], context);
    expect(list[0]?.job.progress).toBe(80);
    list = mergeJobs(list, [{ ...job, progress: 20, updatedAt: '2026-01-01T10:00:06.000Z' }], context);
    expect(list[0]?.job.progress).toBe(80);
  });

  it('keeps local bookkeeping across updates and clears a refresh error once a refresh works', () => {
    const job = makeJob();
    let list = mergeJobs([], [job], context);
    list = markSyncError(list, job.id, 'Could not refresh: offline');
    expect(list[0]?.syncError).toContain('offline');
    list = mergeJobs(list, [{ ...job, updatedAt: '2026-01-01T10:00:02.000Z' }], { ...context, nowMs: 5_000 });
    expect(list[0]?.syncError).toBeUndefined();
    expect(list[0]?.addedAt).toBe(1_000);
  });

  it(`keeps at most ${MAX_TRACKED_JOBS} jobs, dropping the oldest`, () => {
    const jobs = Array.from({ length: MAX_TRACKED_JOBS + 5 }, (_, i) =>
      makeJob({ createdAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString() }),
    );
    const list = mergeJobs([], jobs, context);
    expect(list).toHaveLength(MAX_TRACKED_JOBS);
    expect(list.at(-1)?.job.id).toBe(jobs[5]?.id);
  });

  it('counts every job that is not succeeded, failed or canceled as active', () => {
    const list = mergeJobs(
      [],
      ['received', 'submitted', 'queued', 'running', 'succeeded', 'failed', 'canceled'].map((status) =>
        makeJob({ status: status as never }),
      ),
      context,
    );
    expect(countActive(list)).toBe(4);
  });

  it('treats exactly the relay contract’s terminal statuses as finished', () => {
    expect([...TERMINAL_STATUSES].sort()).toEqual([...TERMINAL_JOB_STATUSES].sort());
  });

  it('asks to notify a finished or failed job once, and never a canceled one', () => {
    const done = makeJob({ status: 'succeeded' });
    const failed = makeJob({
      status: 'failed',
      error: { code: 'InvalidFile.FPS', message: 'bad fps', retryable: false },
    });
    const canceled = makeJob({ status: 'canceled' });
    let list = mergeJobs([], [done, failed, canceled, makeJob()], context);
    expect(
      pendingNotifications(list)
        .map((t) => t.job.id)
        .sort(),
    ).toEqual([done.id, failed.id].sort());
    list = markNotified(list, [done.id, failed.id]);
    expect(pendingNotifications(list)).toEqual([]);
  });

  it('builds a retry request with the same inputs, title and page', () => {
    const job = makeJob({
      status: 'failed',
      title: 'Demo',
      sourcePageUrl: 'https://example.com/watch',
      input: {
        video: { uploadId: 'up_v' },
        audio: { url: 'https://example.com/a.mp3' },
        refImage: { uploadId: 'up_face' },
        videoExtension: true,
        faceThreshold: 150,
      },
    });
    expect(toRetryRequest(job)).toEqual({
      video: { uploadId: 'up_v' },
      audio: { url: 'https://example.com/a.mp3' },
      refImage: { uploadId: 'up_face' },
      videoExtension: true,
      faceThreshold: 150,
      title: 'Demo',
      sourcePageUrl: 'https://example.com/watch',
    });
  });

  it('persists the list in extension storage so it survives restarts', async () => {
    const job = makeJob();
    await updateJobs((jobs) => mergeJobs(jobs, [job], context));
    expect((await fakeBrowser.storage.local.get('jobs')).jobs).toEqual([
      { job, relayUrl: context.relayUrl, addedAt: context.nowMs },
    ]);
    expect(await jobsItem.getValue()).toHaveLength(1);
  });
});
