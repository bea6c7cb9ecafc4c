import type { Provider } from '@retalk/core';
import type { JobWriter } from './jobs.js';
import type { JobRecord, RelayStore } from './store/types.js';

/** What the slot decision needs to know about one upstream of the pool. */
export interface SlotUpstream {
  name: string;
  provider: Provider;
  /** The provider account whose limits the upstream shares (upstreams.ts). */
  account: string;
  /** Every upstream name on that account (this one included). */
  accountUpstreams: readonly string[];
  /**
   * Every configured upstream name, on the first upstream's account only: jobs placed on none of
   * them (stored before the pool, or on an upstream since removed) count as this account's.
   */
  unplacedBesides: readonly string[] | null;
  /** Tasks of the account upstream at once. */
  concurrency: number;
  /** Minimum gap between two submits on the account, in milliseconds. */
  submitIntervalMs: number;
}

export type SlotClaim =
  /** The job now carries the submit marker and its upstream: send it. */
  | { outcome: 'claimed'; job: JobRecord }
  /** The account runs all the tasks it may; try another upstream or wait for one to end. */
  | { outcome: 'busy'; inFlight: number }
  /** The account's last submit is too recent; ask again in `retryInMs`. */
  | { outcome: 'paced'; retryInMs: number }
  /** The job is no longer waiting to be sent (canceled, claimed by someone else, or its lease is another instance's). */
  | { outcome: 'gone' };

/** Stored and (when it needed it) prepared, not yet sent. */
function isWaiting(job: JobRecord): boolean {
  return (job.status === 'received' || job.status === 'preparing') && job.submitStartedAt === null;
}

/**
 * "May this job be sent on this upstream now?", decided in the store so it holds across every
 * relay process on one database: under a lock on the provider account (PostgreSQL: an advisory
 * transaction lock; SQLite: the write lock), it counts the account's jobs whose submit began and
 * whose task has not ended, checks the gap since the account's latest submit, and, when both allow
 * it, writes the job's submit marker and upstream in the same transaction. A job marked so is
 * counted by the next decision at once, before the provider has even answered.
 */
export async function claimSubmitSlot(
  store: RelayStore,
  writer: JobWriter,
  jobId: string,
  upstream: SlotUpstream,
  now: number,
  lease?: { owner: string; expiresAt: number } | undefined,
): Promise<SlotClaim> {
  return store.transaction(async (tx) => {
    // Account first, then the job: every path that takes both takes them in this order.
    await tx.lockAccount(upstream.account);
    const job = await tx.lockJob(jobId);
    if (!job || !isWaiting(job)) return { outcome: 'gone' };
    // Several instances: only the lease holder sends, with its lease extended for the submit, so an
    // instance that stalled past its lease never sends a job another instance has taken over.
    if (lease && tx.holdLease && !(await tx.holdLease(jobId, lease.owner, lease.expiresAt)))
      return { outcome: 'gone' };
    const load = await tx.accountLoad(upstream.accountUpstreams, upstream.unplacedBesides);
    if (load.inFlight >= upstream.concurrency) return { outcome: 'busy', inFlight: load.inFlight };
    if (load.lastSubmitAt !== null) {
      const wait = load.lastSubmitAt + upstream.submitIntervalMs - now;
      if (wait > 0) return { outcome: 'paced', retryInMs: wait };
    }
    const claimed = await writer.update(
      jobId,
      { submitStartedAt: now, upstreamName: upstream.name, provider: upstream.provider },
      tx,
    );
    return { outcome: 'claimed', job: claimed };
  });
}
