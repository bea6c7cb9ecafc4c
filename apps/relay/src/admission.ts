import { ApiError } from './api-error.js';
import { budgetOf } from './budget.js';
import type { JobWriter } from './jobs.js';
import type { JobRecord, MemberRecord, RelayStore } from './store/types.js';

export interface AdmissionRules {
  /** A member's concurrent jobs when their record sets none. */
  defaultMaxConcurrentJobs: number;
  /** How long a member refused for concurrency is told to wait, in ms. */
  retryAfterMs: number;
}

/** Output seconds a new job will make: `low` once measured, `high` at most (an unmeasured URL). */
export interface OutputRange {
  low: number;
  high: number;
}

/**
 * Admits a new job for a member, or refuses it: idempotency replay, the member's concurrency and
 * budget, and the insert are one transaction under the member's lock, so two racing submits of one
 * member (on any relay instance) cannot both fit. An input not measured yet reserves what it could
 * cost, up to what is left; preparing then replaces the reservation with the conformed length,
 * checked again (preparer.ts). Answers the existing job when the idempotency key was used before.
 *
 * @throws {ApiError} `too_many_jobs` (429) or `budget_exceeded` (402).
 */
export async function admitJob(
  deps: { store: RelayStore; writer: JobWriter; rules: AdmissionRules },
  member: MemberRecord,
  job: JobRecord,
  range: OutputRange,
): Promise<{ existing: JobRecord | undefined }> {
  return deps.store.transaction(async (tx) => {
    await tx.lockMember(member.id);
    if (job.idempotencyKey) {
      const existing = await tx.findJobByIdempotencyKey(member.id, job.idempotencyKey);
      if (existing) return { existing };
    }
    const maxConcurrent = member.maxConcurrentJobs ?? deps.rules.defaultMaxConcurrentJobs;
    const active = await tx.countActiveJobs(member.id);
    if (active >= maxConcurrent) {
      throw new ApiError(
        429,
        'too_many_jobs',
        `You already have ${active} jobs in progress (your limit is ${maxConcurrent}); wait for one to finish.`,
        { retryAfterMs: deps.rules.retryAfterMs },
      );
    }
    const budget = await budgetOf(tx, member, job.createdAt);
    if (budget.remainingSeconds !== null && range.low > budget.remainingSeconds) {
      throw new ApiError(
        402,
        'budget_exceeded',
        `This job needs about ${range.low} s of output but only ${budget.remainingSeconds} s of your ${budget.limitSeconds} s ${budget.period}ly budget remain${budget.resetsAt ? ` (it resets at ${budget.resetsAt})` : ''}. Use shorter audio or ask your relay admin for more.`,
        { field: 'budget' },
      );
    }
    if (budget.remainingSeconds !== null && range.high > range.low) {
      job.estimatedSeconds = Math.min(range.high, Math.max(range.low, budget.remainingSeconds));
    }
    await deps.writer.insert(job, tx);
    return { existing: undefined };
  });
}
