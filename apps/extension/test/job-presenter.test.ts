import { describe, expect, it } from 'vitest';
import { explainJobError, jobTitle, timingLine } from '../src/lib/job-presenter.js';
import { makeJob } from './support/jobs.js';

describe('job presenter', () => {
  const start = Date.parse('2026-01-01T10:00:00.000Z');

  it('shows progress, time left and time elapsed of a running job', () => {
    const job = makeJob({ status: 'running', progress: 42.4, etaMs: 65_000 });
    expect(timingLine(job, start + 125_000)).toBe('42% · about 1 min left · 2 min elapsed');
  });

  it('says a received job waits for its turn at the relay', () => {
    expect(timingLine(makeJob({ status: 'received', progress: 0 }), start + 3_000)).toBe(
      '0% · waiting for its turn at the relay · 3 s elapsed',
    );
  });

  it('says a preparing job is fitting its inputs, then waits its turn once they are ready', () => {
    expect(timingLine(makeJob({ status: 'preparing', progress: 40 }), start + 3_000)).toBe(
      '40% · fitting the inputs to the limits · 3 s elapsed',
    );
    expect(timingLine(makeJob({ status: 'preparing', progress: 100 }), start + 3_000)).toBe(
      '100% · inputs ready, waiting for its turn · 3 s elapsed',
    );
  });

  it('shows how long a finished job took and the seconds billed', () => {
    const job = makeJob({ status: 'succeeded', finishedAt: '2026-01-01T10:00:40.000Z', billedSeconds: 3 });
    expect(timingLine(job, start)).toBe('Finished in 40 s · 3 s of video');
  });

  it('names a job by title, else by its page host', () => {
    expect(jobTitle(makeJob({ title: 'Launch' }))).toBe('Launch');
    expect(jobTitle(makeJob({ sourcePageUrl: 'https://videos.example.com/x' }))).toBe('videos.example.com');
  });

  it('leads a failure with the local advice for its code (the raw message as detail), else the relay’s hint, else whether a retry can help', () => {
    expect(
      explainJobError({
        code: 'InvalidFile.FPS',
        message: 'Frame rate too low',
        retryable: false,
        hint: 'The video must be 15–60 fps.',
      }),
    ).toEqual({
      what: 'The video must run at 15–60 frames per second. Use another version of the video.',
      detail: 'Frame rate too low (InvalidFile.FPS)',
    });
    expect(
      explainJobError({ code: 'NewCode', message: 'New', retryable: false, hint: 'Hint from core.' }).todo,
    ).toBe('Hint from core.');
    expect(explainJobError({ code: 'NewCode', message: 'Timed out', retryable: true }).todo).toContain(
      'Retry',
    );
    expect(explainJobError({ code: 'NewCode', message: 'No face', retryable: false }).todo).toBe(
      'Change the input and submit again.',
    );
  });
});
