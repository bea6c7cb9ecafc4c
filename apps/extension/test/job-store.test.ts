import { TERMINAL_JOB_STATUSES } from '@retalk/core/relay';
import { beforeEach, describe, expect, it } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { removeJob, removeJobs, resultFilename } from '../src/lib/job-actions.js';
import {
  allJobs,
  countActive,
  jobHistoryItem,
  jobsItem,
  MAX_HISTORY_JOBS,
  MAX_REMOVED_JOB_IDS,
  MAX_TRACKED_JOBS,
  markNotified,
  markSyncError,
  mergeJobs,
  pendingNotifications,
  removedJobIdsItem,
  storeRelayJobs,
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

  it(`keeps the ${MAX_TRACKED_JOBS} newest jobs for the popup and moves older finished ones to the history`, async () => {
    const jobs = Array.from({ length: MAX_TRACKED_JOBS + 5 }, (_, i) =>
      makeJob({ status: 'succeeded', createdAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString() }),
    );
    // The oldest job is still running: it stays in the recent list, where it is followed.
    jobs[0] = { ...jobs[0]!, status: 'running' };
    const recent = await updateJobs((current) => mergeJobs(current, jobs, context));
    expect(recent).toHaveLength(MAX_TRACKED_JOBS + 1);
    expect(recent.at(-1)?.job.id).toBe(jobs[0]?.id);
    const history = await jobHistoryItem.getValue();
    expect(history.map((t) => t.job.id)).toEqual(
      jobs
        .slice(1, 5)
        .map((j) => j.id)
        .reverse(),
    );
    expect((await allJobs()).map((t) => t.job.id).sort()).toEqual(jobs.map((j) => j.id).sort());
    // A job back from the history (a fresh update) is in one list only.
    const back = {
      ...jobs[2]!,
      updatedAt: '2026-02-01T00:00:00.000Z',
      createdAt: '2026-02-01T00:00:00.000Z',
    };
    await updateJobs((current) => mergeJobs(current, [back], context));
    expect((await jobHistoryItem.getValue()).some((t) => t.job.id === back.id)).toBe(false);
    expect((await allJobs()).filter((t) => t.job.id === back.id)).toHaveLength(1);
  });

  it(`keeps at most ${MAX_HISTORY_JOBS} jobs in the history, and removes from both lists`, async () => {
    const old = Array.from({ length: MAX_TRACKED_JOBS + MAX_HISTORY_JOBS + 10 }, (_, i) =>
      makeJob({ status: 'failed', createdAt: new Date(Date.UTC(2025, 0, 1, 0, i)).toISOString() }),
    );
    await updateJobs((current) => mergeJobs(current, old, context));
    expect(await jobHistoryItem.getValue()).toHaveLength(MAX_HISTORY_JOBS);
    const inHistory = (await jobHistoryItem.getValue())[3]!.job.id;
    const inRecent = (await jobsItem.getValue())[0]!.job.id;
    await removeJobs([inHistory, inRecent]);
    const ids = (await allJobs()).map((t) => t.job.id);
    expect(ids).not.toContain(inHistory);
    expect(ids).not.toContain(inRecent);
    expect(await removedJobIdsItem.getValue()).toEqual([inHistory, inRecent]);
  });

  it('counts every job that is not succeeded, failed or canceled as active', () => {
    const list = mergeJobs(
      [],
      ['received', 'preparing', 'submitted', 'queued', 'running', 'succeeded', 'failed', 'canceled'].map(
        (status) => makeJob({ status: status as never }),
      ),
      context,
    );
    expect(countActive(list)).toBe(5);
  });

  it('treats exactly the relay contract’s terminal statuses as finished', () => {
    expect([...TERMINAL_STATUSES].sort()).toEqual([...TERMINAL_JOB_STATUSES].sort());
  });

  it('asks to notify a job seen running here once it finishes or fails, once, and never a canceled one', () => {
    const done = makeJob();
    const failed = makeJob();
    const canceled = makeJob();
    let list = mergeJobs([], [done, failed, canceled, makeJob()], context);
    expect(pendingNotifications(list)).toEqual([]);
    const later = { updatedAt: '2026-01-01T10:05:00.000Z' };
    list = mergeJobs(
      list,
      [
        { ...done, ...later, status: 'succeeded' },
        {
          ...failed,
          ...later,
          status: 'failed',
          error: { code: 'InvalidFile.FPS', message: 'bad fps', retryable: false },
        },
        { ...canceled, ...later, status: 'canceled' },
      ],
      context,
    );
    expect(
      pendingNotifications(list)
        .map((t) => t.job.id)
        .sort(),
    ).toEqual([done.id, failed.id].sort());
    list = markNotified(list, [done.id, failed.id]);
    expect(pendingNotifications(list)).toEqual([]);
  });

  it('never notifies jobs that were already finished when this browser first saw them (finding 6)', async () => {
    // A browser connecting to a member with history pulls in up to 20 finished jobs at once.
    const history = Array.from({ length: 20 }, (_, i) =>
      makeJob({ status: i % 2 ? 'succeeded' : 'failed', createdAt: `2026-01-0${1 + (i % 9)}T10:00:00.000Z` }),
    );
    const list = await storeRelayJobs(history, context);
    expect(list).toHaveLength(20);
    expect(pendingNotifications(list)).toEqual([]);
    // A job this browser created is news even when it failed at once.
    const mine = makeJob({
      status: 'failed',
      error: { code: 'InvalidFile.FPS', message: 'bad fps', retryable: false },
    });
    expect(pendingNotifications(mergeJobs(list, [mine], context)).map((t) => t.job.id)).toEqual([mine.id]);
  });

  it('keeps a removed job out, however often the relay lists it again (finding 7)', async () => {
    const kept = makeJob({ status: 'succeeded' });
    const removed = makeJob({ status: 'succeeded' });
    await storeRelayJobs([kept, removed], context);
    await removeJob(removed.id);
    expect((await jobsItem.getValue()).map((t) => t.job.id)).toEqual([kept.id]);
    // The next refresh of recent jobs and a late event both bring it back from the relay.
    await storeRelayJobs([kept, removed], context);
    await storeRelayJobs([{ ...removed, updatedAt: '2026-01-01T11:00:00.000Z' }], context);
    expect((await jobsItem.getValue()).map((t) => t.job.id)).toEqual([kept.id]);
    expect(await removedJobIdsItem.getValue()).toEqual([removed.id]);
  });

  it(`remembers the last ${MAX_REMOVED_JOB_IDS} removals, each once`, async () => {
    for (let i = 0; i < MAX_REMOVED_JOB_IDS + 3; i++) await removeJob(`job_r${i}`);
    await removeJob('job_r10');
    const ids = await removedJobIdsItem.getValue();
    expect(ids).toHaveLength(MAX_REMOVED_JOB_IDS);
    expect(ids.at(-1)).toBe('job_r10');
    expect(ids).not.toContain('job_r0');
    expect(new Set(ids).size).toBe(ids.length);
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

  it('names downloads after the title in any script (finding 24)', () => {
    expect(resultFilename(makeJob({ title: '季度更新：首席执行官致辞' }))).toBe(
      'retalk-季度更新-首席执行官致辞.mp4',
    );
    expect(resultFilename(makeJob({ title: 'Café crème / Ünïcode: "talk"?' }))).toBe(
      'retalk-café-crème-ünïcode-talk.mp4',
    );
    expect(resultFilename(makeJob({ title: 'Дубляж 🎬 видео' }))).toBe('retalk-дубляж-видео.mp4');
    const job = makeJob({ title: '???' });
    expect(resultFilename(job)).toBe(`retalk-${job.id}.mp4`);
    // At most 60 characters of title, never half a character.
    const long = resultFilename(makeJob({ title: '𝒜'.repeat(80) }));
    expect([...long.slice('retalk-'.length, -'.mp4'.length)]).toHaveLength(60);
    expect(long.isWellFormed()).toBe(true);
  });
});
