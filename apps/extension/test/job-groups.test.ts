import { describe, expect, it } from 'vitest';
import { groupJobs, videoKey } from '../src/lib/job-groups.js';
import type { TrackedJob } from '../src/lib/job-store.js';
import { makeJob } from './support/jobs.js';

const RELAY = 'https://relay.example.com';

function tracked(title: string, video: TrackedJob['job']['input']['video']): TrackedJob {
  return {
    job: makeJob({ title, input: { video, audio: { uploadId: `up_${title}` }, videoExtension: false } }),
    relayUrl: RELAY,
    addedAt: 0,
  };
}

describe('grouping the popup’s jobs', () => {
  it('puts the jobs made from one clip with several audios under one group, in the place of its newest', () => {
    const clip = { uploadId: 'up_video', startSec: 1.3, endSec: 31.3 };
    // Newest first, as the popup keeps them.
    const jobs = [
      tracked('Talk · voice-fr.wav', clip),
      tracked('Other video', { url: 'https://cdn.example.com/other.mp4' }),
      tracked('Talk · voice-en.wav', clip),
    ];
    const rows = groupJobs(jobs);
    expect(rows.map((row) => row.type)).toEqual(['group', 'job']);
    const group = rows[0] as Extract<(typeof rows)[number], { type: 'group' }>;
    expect(group.title).toBe('Talk');
    // The order the audios were chosen in (oldest first).
    expect(group.jobs.map((j) => j.label)).toEqual(['voice-en.wav', 'voice-fr.wav']);
  });

  it('keeps apart jobs of the same video with another clip, and a job alone stays a plain row', () => {
    const a = tracked('Talk · en.wav', { url: 'https://cdn.example.com/v.mp4', startSec: 0, endSec: 30 });
    const b = tracked('Talk · fr.wav', { url: 'https://cdn.example.com/v.mp4', startSec: 30, endSec: 60 });
    expect(videoKey(a)).not.toBe(videoKey(b));
    expect(groupJobs([a, b]).map((row) => row.type)).toEqual(['job', 'job']);
  });

  it('leaves a retry (the same audio again) out of the group, and two jobs of one audio are no group', () => {
    const clip = { uploadId: 'up_video' };
    const first = tracked('Talk', clip);
    const retry = { ...first, job: { ...first.job, id: 'job_retry' } };
    expect(groupJobs([retry, first]).map((row) => row.type)).toEqual(['job', 'job']);
    const other = tracked('Talk · fr.wav', clip);
    const rows = groupJobs([retry, other, first]);
    expect(
      rows.map((row) => (row.type === 'job' ? row.tracked.job.id : row.jobs.map((j) => j.tracked.job.id))),
    ).toEqual(['job_retry', [first.job.id, other.job.id]]);
  });
});
