import { getEventListeners } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createArchiver } from '../src/archive.js';
import type { JobWriter } from '../src/jobs.js';
import type { Metrics } from '../src/metrics.js';
import type { FileStorage } from '../src/storage/local.js';
import type { RelayStore } from '../src/store/types.js';

// Review finding (issue 11): the archiver's own sleep added an abort listener to its long-lived
// signal on every retry and never removed it, so a relay archiving flaky results collected one
// listener per failed attempt for its whole life.
describe('the archiver’s retries', () => {
  it('leave no abort listener behind on the archiver’s signal, however many attempts fail', async () => {
    const retries = 6;
    const updates: Array<Record<string, unknown>> = [];
    let signal: AbortSignal | undefined;
    const job = {
      upstreamResultUrl: 'https://cdn.example/result.mp4',
      resultKey: null,
      estimatedSeconds: 3,
      archiveAttempts: 0,
    };
    const archiver = createArchiver({
      store: { getJob: async () => job } as unknown as RelayStore,
      writer: {
        update: async (_id: string, patch: Record<string, unknown>) => updates.push(patch),
      } as unknown as JobWriter,
      storage: {} as FileStorage,
      log: { warn() {}, error() {} } as unknown as FastifyBaseLogger,
      metrics: { inc() {} } as unknown as Metrics,
      now: Date.now,
      retentionMs: 86_400_000,
      retryDelaysMs: Array.from({ length: retries }, () => 1),
      // A provider CDN that always fails: every attempt ends in a retry wait. The answer is made
      // here so the only listeners on the signal are the archiver's own.
      fetch: async (_input, init) => {
        signal = init?.signal ?? undefined;
        return new Response('down', { status: 500 });
      },
    });
    archiver.enqueue('job-1');
    // Out of retries, the job succeeds with the provider's link (state, not time).
    for (let i = 0; i < 5_000 && updates.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
    expect(updates).toEqual([expect.objectContaining({ status: 'succeeded', archiveAttempts: retries + 1 })]);
    expect(signal).toBeDefined();
    expect(getEventListeners(signal as AbortSignal, 'abort')).toHaveLength(0);
    await archiver.stop();
  });
});
