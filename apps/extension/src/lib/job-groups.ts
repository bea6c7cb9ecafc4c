import type { Job } from '@retalk/core/relay';
import type { TrackedJob } from './job-store.js';

/** Separates a group's title from the audio each of its jobs uses ("Talk · voice-fr.wav"). */
export const GROUP_TITLE_SEPARATOR = ' · ';

/** A row of the popup's list: one job, or the jobs made from one video clip with several audios. */
export type JobRow =
  | { type: 'job'; tracked: TrackedJob }
  | { type: 'group'; key: string; title: string; jobs: Array<{ tracked: TrackedJob; label: string }> };

/**
 * The video a job was made from, with its clip: jobs made together for several audios share one
 * upload (or address) and one clip, so they share this key. Works for jobs pulled from the relay
 * too (another browser of the same member).
 */
export function videoKey(tracked: TrackedJob): string {
  const video: Job['input']['video'] = tracked.job.input.video;
  return JSON.stringify([
    tracked.relayUrl,
    video.uploadId ?? video.url ?? '',
    video.startSec ?? null,
    video.endSec ?? null,
  ]);
}

function audioKey(tracked: TrackedJob): string {
  const audio = tracked.job.input.audio;
  return JSON.stringify([audio.uploadId ?? audio.url ?? '', audio.startSec ?? null, audio.endSec ?? null]);
}

/**
 * Groups the jobs (newest first) that share a video clip with different audios, in the place of
 * the group's newest job; a job alone stays a row of its own, and so does a job that repeats an
 * audio of its group (a retry is the same language again, not another one). A group's title is
 * what its jobs' titles share before {@link GROUP_TITLE_SEPARATOR}, each job's label what follows
 * (the audio's name).
 */
export function groupJobs(jobs: readonly TrackedJob[]): JobRow[] {
  const byKey = new Map<string, TrackedJob[]>();
  // Oldest first, so the first job of each audio is the one that belongs to the group.
  for (const tracked of [...jobs].reverse()) {
    const key = videoKey(tracked);
    const members = byKey.get(key) ?? [];
    if (!members.some((m) => audioKey(m) === audioKey(tracked))) members.push(tracked);
    byKey.set(key, members);
  }
  const rows: JobRow[] = [];
  const placed = new Set<string>();
  for (const tracked of jobs) {
    const key = videoKey(tracked);
    const members = byKey.get(key) ?? [];
    if (members.length < 2 || !members.includes(tracked)) {
      rows.push({ type: 'job', tracked });
      continue;
    }
    if (placed.has(key)) continue;
    placed.add(key);
    const split = members.map((m) => splitTitle(m.job));
    const title = split.find((s) => s.group)?.group ?? split[0]?.label ?? '';
    rows.push({
      type: 'group',
      key,
      title,
      // Oldest first inside a group: the order the audios were chosen in.
      jobs: members.map((m, i) => ({ tracked: m, label: split[i]?.label ?? m.job.id })),
    });
  }
  return rows;
}

function splitTitle(job: Job): { group?: string; label: string } {
  const title = job.title ?? job.id;
  const at = title.lastIndexOf(GROUP_TITLE_SEPARATOR);
  if (at < 0) return { label: title };
  return { group: title.slice(0, at), label: title.slice(at + GROUP_TITLE_SEPARATOR.length) };
}
