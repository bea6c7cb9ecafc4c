import type { Job, RelayEvent } from '@retalk/core/relay';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { jobsItem, lastEventIdItem, mergeJobs, updateJobs } from '../src/lib/job-store.js';
import { followEvents, type JobFeed, refreshActiveJobs, refreshRecentJobs } from '../src/lib/job-sync.js';
import { makeJob } from './support/jobs.js';

const RELAY = 'https://relay.example.com';

function createFeed(overrides: Partial<JobFeed> = {}): JobFeed {
  return {
    relayUrl: RELAY,
    getJob: vi.fn(async (id: string) => makeJob({ id })),
    listJobs: vi.fn(async () => []),
    events: async function* () {},
    ...overrides,
  };
}

async function seed(jobs: Job[], relayUrl = RELAY) {
  await updateJobs((current) => mergeJobs(current, jobs, { relayUrl, nowMs: 0 }));
}

describe('job sync', () => {
  beforeEach(() => {
    fakeBrowser.reset();
  });

  it('re-reads only the active jobs of the connected relay', async () => {
    const running = makeJob({ status: 'running', progress: 10 });
    const done = makeJob({ status: 'succeeded' });
    const elsewhere = makeJob({ status: 'running' });
    await seed([running, done]);
    await seed([elsewhere], 'https://other-relay.example.com');
    const getJob = vi.fn(async (id: string) => ({
      ...running,
      id,
      progress: 70,
      updatedAt: '2026-01-01T10:00:30.000Z',
    }));
    await refreshActiveJobs(createFeed({ getJob }));
    expect(getJob.mock.calls.map((call) => call[0])).toEqual([running.id]);
    const stored = await jobsItem.getValue();
    expect(stored.find((t) => t.job.id === running.id)?.job.progress).toBe(70);
  });

  it('marks a job whose refresh failed, keeps its last known state, and says the relay is out of reach', async () => {
    const running = makeJob({ status: 'running', progress: 33 });
    await seed([running]);
    await expect(
      refreshActiveJobs(
        createFeed({
          getJob: async () => {
            throw new Error('could not reach the relay');
          },
        }),
      ),
    ).rejects.toThrow('could not reach the relay');
    const [stored] = await jobsItem.getValue();
    expect(stored?.job.progress).toBe(33);
    expect(stored?.syncError).toBe('Could not refresh: could not reach the relay');
  });

  it('resolves when the relay answered for some jobs, marking only the ones that failed', async () => {
    const ok = makeJob({ status: 'running', progress: 10 });
    const gone = makeJob({ status: 'running', progress: 20 });
    await seed([ok, gone]);
    const getJob = vi.fn(async (id: string) => {
      if (id === gone.id) throw new Error('Job not found');
      return { ...ok, progress: 90, updatedAt: '2026-01-01T10:00:30.000Z' };
    });
    const stored = await refreshActiveJobs(createFeed({ getJob }));
    expect(stored.find((t) => t.job.id === ok.id)?.job.progress).toBe(90);
    expect(stored.find((t) => t.job.id === gone.id)?.syncError).toBe('Could not refresh: Job not found');
  });

  it('pulls in jobs started from another browser', async () => {
    const remote = makeJob({ title: 'From the laptop' });
    await refreshRecentJobs(createFeed({ listJobs: async () => [remote] }));
    expect((await jobsItem.getValue()).map((t) => t.job.title)).toEqual(['From the laptop']);
  });

  it('applies job events as they arrive and remembers the resume point', async () => {
    const job = makeJob({ status: 'running', progress: 5 });
    await seed([job]);
    await lastEventIdItem.setValue('41');
    const seen: Array<string | null | undefined> = [];
    const events: RelayEvent[] = [
      { type: 'ready', lastEventId: '41' },
      { type: 'job', id: '42', job: { ...job, progress: 60, updatedAt: '2026-01-01T10:00:10.000Z' } },
      {
        type: 'job',
        id: '43',
        job: { ...job, status: 'succeeded', progress: 100, updatedAt: '2026-01-01T10:00:20.000Z' },
      },
    ];
    await followEvents(
      createFeed({
        events: (options) => {
          seen.push(options.lastEventId);
          return (async function* () {
            yield* events;
          })();
        },
      }),
    );
    expect(seen).toEqual(['41']);
    expect(await lastEventIdItem.getValue()).toBe('43');
    expect((await jobsItem.getValue())[0]?.job.status).toBe('succeeded');
  });

  it('refetches the job list when the relay says the resume point is too old', async () => {
    const missed = makeJob({ status: 'succeeded', title: 'Missed while asleep' });
    const listJobs = vi.fn(async () => [missed]);
    await followEvents(
      createFeed({
        listJobs,
        events: async function* () {
          yield { type: 'reset', id: '100', reason: 'too old' } satisfies RelayEvent;
        },
      }),
    );
    expect(listJobs).toHaveBeenCalledTimes(1);
    expect(await lastEventIdItem.getValue()).toBe('100');
    expect((await jobsItem.getValue())[0]?.job.title).toBe('Missed while asleep');
  });

  it('stops following when its signal aborts', async () => {
    const controller = new AbortController();
    let yielded = 0;
    await followEvents(
      createFeed({
        events: async function* () {
          for (;;) {
            yielded += 1;
            if (yielded === 3) controller.abort();
            yield { type: 'ready', lastEventId: null } satisfies RelayEvent;
          }
        },
      }),
      { signal: controller.signal },
    );
    expect(yielded).toBe(3);
  });
});
