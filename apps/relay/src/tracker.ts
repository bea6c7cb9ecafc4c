import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  isRetalkError,
  type LipSyncRequest,
  type RetalkError,
  type SubmitRecovery,
  type Task,
} from '@retalk/core';
import { isTerminalJobStatus } from '@retalk/core/status';
import type { FastifyBaseLogger } from 'fastify';
import { ApiError } from './api-error.js';
import { createFairQueue } from './fair-queue.js';
import type { JobPatch, JobWriter } from './jobs.js';
import type { UnmetNeed } from './placement.js';
import type { ClusterStore, JobRecord, RelayStore } from './store/types.js';
import { claimSubmitSlot } from './submit-slots.js';
import type { PoolUpstream, UpstreamPool } from './upstream-pool.js';

export interface TrackerOptions {
  store: RelayStore;
  writer: JobWriter;
  /**
   * The upstreams: each job is placed on one with free capacity (its account's concurrency and
   * submit pace, decided in the store: submit-slots.ts) and its polls, cancel and recovery use that
   * upstream's client, whose `capabilities` decide cancel and recovery, never the provider's name.
   */
  pool: UpstreamPool;
  log: FastifyBaseLogger;
  now: () => number;
  /** Delay between two polls of one job, in milliseconds. */
  pollIntervalMs: number;
  /**
   * Builds the provider request (signed URLs for uploads, callback URL) of the submit that began at
   * `submitAt`, on the upstream the job is placed on (`job.upstreamName`); the same job and
   * `submitAt` must give the same request.
   */
  buildRequest: (job: JobRecord, submitAt: number) => Promise<LipSyncRequest>;
  /** Called once the provider reports success (the archiver copies the result). */
  onSucceeded: (job: JobRecord) => void;
  /** False for a live job whose inputs are still being prepared (the preparer enqueues it when ready). */
  isPrepared?: ((job: JobRecord) => boolean) | undefined;
  /** Cancels a job the preparer is working on; undefined when it is not there. */
  cancelPreparing?: ((jobId: string) => Promise<JobRecord | undefined>) | undefined;
  /**
   * What the job needs of an upstream, as a test per upstream: why that upstream cannot take it, or
   * undefined when it can (a mixed pool: placement.ts). Absent: every upstream takes every job.
   */
  needsOf?: ((job: JobRecord) => Promise<(upstream: PoolUpstream) => UnmetNeed | undefined>) | undefined;
  /** A live job picked up (at start, or taken over from another instance) whose inputs still need preparing. */
  onUnprepared?: ((job: JobRecord) => void) | undefined;
  /**
   * Several instances on one database (PostgreSQL): this instance polls only the live jobs it holds
   * a lease on, renews them every third of `leaseMs`, takes over those whose lease lapsed (their
   * instance died), and submits through the gate all instances share (pacing and upstream
   * concurrency counted in the database). Absent: one process owns every job (SQLite).
   */
  cluster?: { store: ClusterStore; owner: string; leaseMs: number } | undefined;
}

/**
 * The idempotency key of a job's submit: the same for every attempt of one job, so a repeat after a
 * crash answers the first task where the provider honours keys (EvoLink) instead of billing twice.
 */
export function submitKeyOf(jobId: string, attempt?: number | undefined): string {
  return attempt ? `retalk-${jobId}-${attempt}` : `retalk-${jobId}`;
}

/**
 * How long after a submit began its outcome is settled at the provider: the provider client's
 * request timeout (the request has landed or was given up) plus a margin for a slow answer.
 */
const SUBMIT_SETTLE_MS = DEFAULT_REQUEST_TIMEOUT_MS + 5_000;

/** Times a job is sent again after the provider failed to fetch its inputs across relay restarts. */
const MAX_REFETCH_RESUBMITS = 3;

export interface Tracker {
  /**
   * Picks up every live job from the store (after a restart too), or with a cluster the jobs whose
   * lease it takes, and starts the loops.
   */
  start(): Promise<void>;
  /** A job is ready to be sent: stored in state `received`, or prepared in state `preparing`. */
  enqueue(job: Pick<JobRecord, 'id' | 'memberId'>): void;
  /** Re-read this job upstream now (a callback arrived). */
  wake(jobId: string): void;
  cancel(jobId: string): Promise<JobRecord>;
  stop(): Promise<void>;
  /** Tries the waiting jobs and interrupted submits again now (an upstream recovered). */
  retryWaiting(): void;
  /** Jobs polled (upstream), jobs waiting to be submitted. */
  stats(): { tracked: number; queued: number; inFlight: number };
}

const MAX_BACKOFF_MS = 60_000;

/** The wait after the `n`-th failure in a row: the poll interval doubled per failure, at most a minute. */
function backoffMs(pollIntervalMs: number, n: number): number {
  return n === 0 ? pollIntervalMs : Math.min(MAX_BACKOFF_MS, pollIntervalMs * 2 ** Math.min(n, 10));
}
/** Callbacks wake a job's poll at most this often; more are folded into one (findings L8). */
const WAKE_MIN_GAP_MS = 1_000;

function errorCode(error: unknown): string {
  if (isRetalkError(error)) return (error as RetalkError).providerCode ?? error.code;
  return 'internal';
}

/** SQLite answers SQLITE_BUSY when another connection holds the write lock past busy_timeout. */
function isStoreBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Maps the provider's normalized task state onto the relay's job states. */
function statusPatch(job: JobRecord, task: Task, now: number): JobPatch {
  const patch: JobPatch = {};
  const progress = Math.max(job.progress, Math.min(task.progress, 99));
  if (progress !== job.progress) patch.progress = progress;
  const eta = task.etaMs ?? null;
  if (eta !== job.etaMs && (eta === null || job.etaMs === null || Math.abs(eta - job.etaMs) >= 1000))
    patch.etaMs = eta;
  if (task.status === 'queued' && job.status === 'submitted') patch.status = 'queued';
  if (task.status === 'running' && job.status !== 'running') {
    patch.status = 'running';
    if (job.startedAt === null) patch.startedAt = now;
  }
  return patch;
}

/**
 * What a succeeded job costs the member: the provider's reported seconds, clamped to what the job
 * reserved and never below zero (findings L6: a negative duration raised the member's budget); the
 * estimate when the provider reports none or nonsense. Billing past the reservation is logged for
 * the admin, since the provider may have charged it.
 */
export function billedSecondsOf(
  job: Pick<JobRecord, 'id' | 'estimatedSeconds'>,
  reported: number | undefined,
  log: Pick<FastifyBaseLogger, 'warn'>,
): number {
  if (reported === undefined || !Number.isFinite(reported) || reported < 0) {
    if (reported !== undefined) {
      log.warn(
        { jobId: job.id, reported: String(reported) },
        'the provider reported an impossible duration; billing the estimate',
      );
    }
    return job.estimatedSeconds;
  }
  if (reported > job.estimatedSeconds) {
    // Rounding differences of a second are not worth the admin's attention.
    if (reported > job.estimatedSeconds + 1)
      log.warn(
        { jobId: job.id, reported, reserved: job.estimatedSeconds },
        'the provider reports more output seconds than the job reserved; the member is billed the reservation',
      );
    return job.estimatedSeconds;
  }
  return reported;
}

/**
 * Whether a failed task failed because the provider could not download an input: DashScope's
 * `InvalidURL.*` codes; EvoLink reports the upstream code at the start of its message.
 */
export function isInputDownloadFailure(error: { code: string; message: string } | undefined): boolean {
  if (!error) return false;
  return /^InvalidURL(\.|$)/.test(error.code) || /^InvalidURL(\.\w+)?:/.test(error.message);
}

export function createTracker(o: TrackerOptions): Tracker {
  // Jobs submitted before this moment may have had their inputs fetched while the relay was down.
  const startedAt = o.now();
  const timers = new Map<string, NodeJS.Timeout>();
  const polling = new Set<string>();
  const rerun = new Set<string>();
  const inFlight = new Set<string>();
  // Fair across members: a batch of 40 does not hold back a colleague's single job.
  const queue = createFairQueue();
  const failures = new Map<string, number>();
  const lastWakeAt = new Map<string, number>();
  const wakeTimers = new Map<string, NodeJS.Timeout>();
  // Interrupted submits waiting for reconciliation: one shared pass for all of them, backed off as a
  // whole while the provider fails (findings L4: one loop per job hit a failing provider N times a second).
  const reconcileQueue = new Set<string>();
  let reconcileFailures = 0;
  let reconcileTimer: NodeJS.Timeout | undefined;
  let reconciling = false;
  const controller = new AbortController();
  const pending = new Set<Promise<unknown>>();
  // The upstream of each job this process follows there (per-upstream load for metrics and the admin).
  const placedOn = new Map<string, PoolUpstream>();
  let pumpTimer: NodeJS.Timeout | undefined;
  let pumpDueAt = 0;
  let pumping = false;
  let stopped = false;
  const cluster = o.cluster;
  // The jobs this instance holds a lease on (cluster only), as of the last lease pass.
  let held = new Set<string>();
  // When this instance took each job over from a dead one (cluster only).
  const takenOverAt = new Map<string, number>();
  // Jobs taken over from another instance's lapsed lease (cluster only).
  const fromAnotherInstance = new Set<string>();
  // Interrupted submits of those jobs are reconciled no sooner than this (SUBMIT_SETTLE_MS).
  const reconcileNotBefore = new Map<string, number>();
  // Until when this instance surely holds each job's lease (cluster only): set by the claim that
  // starts a submit and by every lease pass that renews it.
  const leaseUntil = new Map<string, number>();
  let leaseTimer: NodeJS.Timeout | undefined;
  let leasing = false;

  /**
   * Whether this instance still holds the job's lease with a third of it to spare. An instance that
   * stalled (paused, swapped out, its store unreachable) past its lease may have lost the job to
   * another, which then reconciles and sends it: sending it here too would bill twice, and failing
   * or requeueing it here would undo the other's work.
   */
  function holdsLease(jobId: string): boolean {
    if (!cluster) return true;
    return (leaseUntil.get(jobId) ?? 0) - cluster.leaseMs / 3 > o.now();
  }

  /**
   * After a stall: leaves a job whose lease this instance may have lost to the instance holding it.
   * The next lease pass drops it when another took it; when this one still holds it, the reconcile
   * (which checks the lease again) finishes the submit it interrupted. Answers true when left.
   */
  function leftAfterStall(jobId: string, step: string): boolean {
    if (holdsLease(jobId) || !cluster) return false;
    o.log.warn(
      { jobId, step },
      'this instance may have lost the job to another (it stalled or could not renew its lease): it leaves the job to the instance that holds it',
    );
    requestReconcile(jobId, cluster.leaseMs);
    return true;
  }

  function track<T>(promise: Promise<T>): void {
    pending.add(promise);
    promise.finally(() => pending.delete(promise)).catch(() => undefined);
  }

  function schedule(jobId: string, delayMs: number): void {
    if (stopped) return;
    const existing = timers.get(jobId);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      timers.delete(jobId);
      track(poll(jobId));
    }, delayMs);
    timers.set(jobId, timer);
  }

  function untrack(jobId: string): void {
    takenOverAt.delete(jobId);
    leaseUntil.delete(jobId);
    fromAnotherInstance.delete(jobId);
    const timer = timers.get(jobId);
    if (timer) clearTimeout(timer);
    timers.delete(jobId);
    inFlight.delete(jobId);
    unplace(jobId);
    failures.delete(jobId);
    clearTimeout(wakeTimers.get(jobId));
    wakeTimers.delete(jobId);
    lastWakeAt.delete(jobId);
    schedulePump(0);
  }

  /** Fails the job unless it already ended (a cancel that won the race stays a cancel). */
  async function fail(jobId: string, code: string, message: string, retryable: boolean): Promise<void> {
    untrack(jobId);
    await o.writer.modify(jobId, (current) =>
      isTerminal(current)
        ? undefined
        : { status: 'failed', error: { code, message, retryable }, etaMs: null, finishedAt: o.now() },
    );
  }

  /**
   * Applies what the provider reports to the job as stored now (read and written in one
   * transaction, so a cancel or another poll landing meanwhile is not overwritten). An ended job
   * stays as it is.
   */
  async function apply(jobId: string, task: Task): Promise<void> {
    const now = o.now();
    if (task.status === 'succeeded') {
      if (!task.resultUrl) {
        await fail(
          jobId,
          'no_result',
          'The provider reported success but gave no result link. Submit the job again.',
          true,
        );
        return;
      }
      const resultUrl = task.resultUrl;
      untrack(jobId);
      let recorded = false;
      // Stays `running` at 99 % until the archiver holds a copy; then it becomes `succeeded`.
      const updated = await o.writer.modify(jobId, (job) => {
        if (isTerminal(job) || job.upstreamResultUrl !== null) return undefined;
        recorded = true;
        return {
          status: 'running',
          progress: 99,
          etaMs: null,
          startedAt: job.startedAt ?? now,
          billedSeconds: billedSecondsOf(job, task.usage?.videoSeconds, o.log),
          upstreamResultUrl: resultUrl,
          upstreamResultExpiresAt: task.resultExpiresAt ? Date.parse(task.resultExpiresAt) : null,
        };
      });
      if (updated && recorded) o.onSucceeded(updated);
      return;
    }
    if (task.status === 'failed' && isInputDownloadFailure(task.error)) {
      // The provider fetched the relay's copy of an input while the relay was restarting, and its
      // download was cut. The links outlive the restart (the signing secret is kept in the store,
      // the files for the upload TTL), so the job is sent again, once per restart and at most
      // MAX_REFETCH_RESUBMITS times; a failed task is not billed.
      let previous: JobRecord | undefined;
      const resent = await o.writer.modify(jobId, (job) => {
        if (
          isTerminal(job) ||
          job.cancelRequested ||
          job.submittedAt === null ||
          // Sent before this relay started, or before it took the job over from an instance that
          // died (whose own links the provider may have been downloading).
          (job.submitStartedAt ?? job.submittedAt) >= (takenOverAt.get(jobId) ?? startedAt) ||
          (job.input.submitAttempt ?? 0) >= MAX_REFETCH_RESUBMITS
        )
          return undefined;
        previous = job;
        return {
          // A new attempt needs a new idempotency key: the links in its body are signed anew.
          input: { ...job.input, submitAttempt: (job.input.submitAttempt ?? 0) + 1 },
          status: 'received',
          progress: 0,
          etaMs: null,
          upstreamId: null,
          submitStartedAt: null,
          submittedAt: null,
          startedAt: null,
        };
      });
      if (previous && resent) {
        untrack(jobId);
        o.log.warn(
          { jobId, upstreamId: previous.upstreamId, code: task.error?.code },
          'the provider could not fetch an input while the relay was restarting; sending the job again',
        );
        queue.pushFront(jobId, resent.memberId);
        schedulePump(0);
        return;
      }
    }
    if (task.status === 'failed' || task.status === 'canceled' || task.status === 'expired') {
      untrack(jobId);
      const canceled = task.status === 'canceled' || task.error?.code === 'request_cancelled';
      await o.writer.modify(jobId, (job) =>
        isTerminal(job)
          ? undefined
          : {
              status: canceled ? 'canceled' : 'failed',
              etaMs: null,
              finishedAt: now,
              error:
                task.error ??
                (task.status === 'expired'
                  ? {
                      code: 'expired',
                      message: 'The provider no longer knows this task. Submit the job again.',
                      retryable: true,
                    }
                  : {
                      code: task.status,
                      message: `The provider reports the job as ${task.status}.`,
                      retryable: false,
                    }),
            },
      );
      return;
    }
    await o.writer.modify(jobId, (job) => {
      if (isTerminal(job)) return undefined;
      const patch = statusPatch(job, task, now);
      return Object.keys(patch).length > 0 ? patch : undefined;
    });
  }

  async function poll(jobId: string): Promise<void> {
    if (stopped) return;
    if (polling.has(jobId)) {
      rerun.add(jobId);
      return;
    }
    // Claimed before the first await, so a wake arriving meanwhile becomes a rerun, not a second poll.
    polling.add(jobId);
    try {
      // A store that fails for a moment (a PostgreSQL failover) is retried like a failing provider.
      const job = await o.store.getJob(jobId);
      if (!job?.upstreamId || job.upstreamResultUrl !== null || isTerminal(job)) {
        untrack(jobId);
        return;
      }
      const task = await o.pool
        .of(job.upstreamName)
        .client.get(job.upstreamId, { signal: controller.signal });
      if (stopped) return;
      failures.delete(jobId);
      await apply(jobId, task);
    } catch (error) {
      if (stopped) return;
      if (isRetalkError(error) && error.code === 'not_found') {
        await fail(jobId, 'upstream_lost', 'The provider no longer knows this job. Submit it again.', true);
        return;
      }
      const n = (failures.get(jobId) ?? 0) + 1;
      failures.set(jobId, n);
      o.log.warn(
        { jobId, err: messageOf(error), code: errorCode(error), attempt: n },
        'polling the provider failed; retrying',
      );
    } finally {
      polling.delete(jobId);
    }
    if (stopped || !inFlight.has(jobId)) return;
    if (rerun.delete(jobId)) {
      schedule(jobId, 0);
      return;
    }
    schedule(jobId, backoffMs(o.pollIntervalMs, failures.get(jobId) ?? 0));
  }

  /** Retries a job write while the store is locked by another connection past its busy timeout. */
  async function persist(
    jobId: string,
    decide: (job: JobRecord) => JobPatch | undefined,
  ): Promise<JobRecord | undefined> {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        return await o.writer.modify(jobId, decide);
      } catch (error) {
        if (!isStoreBusy(error)) throw error;
        o.log.warn({ jobId, err: messageOf(error), attempt }, 'the store is locked; retrying the job write');
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            controller.signal.removeEventListener('abort', done);
            resolve();
          };
          const timer = setTimeout(done, Math.min(5_000, 100 * 2 ** attempt));
          controller.signal.addEventListener('abort', done, { once: true });
        });
      }
    }
    return undefined;
  }

  /** Stored and (when it needed it) prepared, not yet sent: the relay's own queue. */
  function isWaiting(job: JobRecord | undefined): boolean {
    return job?.status === 'received' || job?.status === 'preparing';
  }

  function isTerminal(job: JobRecord): boolean {
    return isTerminalJobStatus(job.status);
  }

  function follow(job: Pick<JobRecord, 'id' | 'upstreamName'>, delayMs: number): void {
    inFlight.add(job.id);
    place(job.id, o.pool.of(job.upstreamName));
    schedule(job.id, delayMs);
  }

  function place(jobId: string, upstream: PoolUpstream): void {
    placedOn.set(jobId, upstream);
    o.pool.setInFlight(upstream, countOn(upstream));
  }

  function unplace(jobId: string): void {
    const upstream = placedOn.get(jobId);
    if (!upstream) return;
    placedOn.delete(jobId);
    o.pool.setInFlight(upstream, countOn(upstream));
  }

  function countOn(upstream: PoolUpstream): number {
    let n = 0;
    for (const u of placedOn.values()) if (u === upstream) n++;
    return n;
  }

  /**
   * Takes a claimed job back into the queue (the provider provably created nothing): without its
   * marker and upstream, so it may go to any upstream. A cancel asked for meanwhile is done now.
   */
  async function unclaim(job: Pick<JobRecord, 'id' | 'memberId'>, delayMs: number): Promise<void> {
    unplace(job.id);
    let requeue = false;
    await o.writer.modify(job.id, (current) => {
      if (!isWaiting(current)) return undefined;
      if (current.cancelRequested)
        return {
          status: 'canceled',
          finishedAt: o.now(),
          etaMs: null,
          submitStartedAt: null,
          upstreamName: null,
        };
      requeue = true;
      return { submitStartedAt: null, upstreamName: null };
    });
    if (!requeue) return;
    queue.pushFront(job.id, job.memberId);
    schedulePump(delayMs);
  }

  function schedulePump(delayMs: number): void {
    if (stopped) return;
    const dueAt = o.now() + delayMs;
    // A sooner wake (a slot freed here) replaces a later one (waiting for an account's pace).
    if (pumpTimer) {
      if (dueAt >= pumpDueAt) return;
      clearTimeout(pumpTimer);
    }
    pumpDueAt = dueAt;
    pumpTimer = setTimeout(() => {
      pumpTimer = undefined;
      track(pump());
    }, delayMs);
  }

  async function pump(): Promise<void> {
    if (pumping || stopped) return;
    pumping = true;
    const heldBack: JobRecord[] = [];
    // Sets of upstreams (by name) found full in this pass: a later job limited to the same set waits
    // without asking the store again.
    const full = new Set<string>();
    let soonest = Number.POSITIVE_INFINITY;
    try {
      // Unhealthy upstreams whose cooldown ended are probed; one that answers takes jobs again.
      track(o.pool.probeDue(o.now()));
      while (queue.length > 0 && !stopped) {
        const jobId = queue.shift() as string;
        const job = await o.store.getJob(jobId);
        if (!job || !isWaiting(job) || job.submitStartedAt !== null) continue;
        if ((await o.store.getMember(job.memberId))?.revokedAt != null) {
          // Revoked before the provider heard of it: nothing is spent on a member who lost access.
          await o.writer.modify(job.id, (current) =>
            isWaiting(current) && current.submitStartedAt === null
              ? {
                  status: 'canceled',
                  etaMs: null,
                  finishedAt: o.now(),
                  error: {
                    code: 'member_revoked',
                    message: 'Your member token was revoked before this job was sent; it was not submitted.',
                    retryable: false,
                  },
                }
              : undefined,
          );
          continue;
        }
        const placement = await placeJob(job, full);
        if (placement === 'gone') continue;
        if ('retryInMs' in placement) {
          if (placement.restricted) {
            // Only some upstreams can take this job (a mixed pool): it keeps its place in the queue
            // while the jobs behind it try the upstreams it cannot use.
            heldBack.push(job);
            soonest = Math.min(soonest, placement.retryInMs);
            continue;
          }
          // The queue's head waits for capacity: it fits every upstream, so none behind it could
          // go either, and the fair order is kept.
          queue.pushFront(job.id, job.memberId);
          soonest = Math.min(soonest, placement.retryInMs);
          break;
        }
        await submit(placement.job, placement.upstream);
      }
    } finally {
      // Held-back jobs go back to the head in their order, ahead of everyone they let pass.
      for (const held of heldBack.reverse()) queue.pushFront(held.id, held.memberId);
      if (Number.isFinite(soonest)) schedulePump(soonest);
      pumping = false;
    }
  }

  /**
   * Puts the job on the first upstream, in the pool's order, whose account has a free slot and
   * whose submit pace allows it now; the claim is made in the store (submit-slots.ts), so it holds
   * across relay processes. Answers when to try again when none can take it.
   */
  async function placeJob(
    job: JobRecord,
    full: Set<string>,
  ): Promise<
    { job: JobRecord; upstream: PoolUpstream } | { retryInMs: number; restricted: boolean } | 'gone'
  > {
    const jobId = job.id;
    const unmetOn = await o.needsOf?.(job);
    const capable = unmetOn ? o.pool.upstreams.filter((u) => unmetOn(u) === undefined) : o.pool.upstreams;
    if (capable.length === 0) {
      // No upstream of the pool could ever take it: said now, naming the field, instead of waiting.
      const unmet = unmetOn?.(o.pool.fallback);
      await fail(
        jobId,
        'no_capable_upstream',
        `No upstream of this relay can take this job (${unmet?.field ?? 'video'}: ${unmet?.message ?? 'unknown'}).`,
        false,
      );
      return 'gone';
    }
    const restricted = capable.length < o.pool.upstreams.length;
    const capableKey = capable.map((u) => u.config.name).join('\n');
    if (restricted && full.has(capableKey)) return { retryInMs: o.pollIntervalMs, restricted };
    const now = o.now();
    let retryInMs = Number.POSITIVE_INFINITY;
    for (const upstream of o.pool.placementOrder(now, restricted ? (u) => capable.includes(u) : undefined)) {
      let claim: Awaited<ReturnType<typeof claimSubmitSlot>>;
      try {
        claim = await claimSubmitSlot(
          o.store,
          o.writer,
          jobId,
          upstream.slot,
          now,
          cluster ? { owner: cluster.owner, expiresAt: now + cluster.leaseMs } : undefined,
        );
      } catch (error) {
        if (!isStoreBusy(error)) throw error;
        // Nothing was sent: the job simply waits for its next turn.
        o.log.warn({ jobId, err: messageOf(error) }, 'the store is locked; the submit waits');
        return { retryInMs: 1_000, restricted };
      }
      if (claim.outcome === 'claimed') {
        if (cluster) leaseUntil.set(jobId, now + cluster.leaseMs);
        return { job: claim.job, upstream };
      }
      if (claim.outcome === 'gone') return 'gone';
      // A slot freed by this process wakes the pump (untrack); one freed by another relay process
      // on the same database is seen at the next poll interval.
      retryInMs = Math.min(retryInMs, claim.outcome === 'paced' ? claim.retryInMs : o.pollIntervalMs);
    }
    const change = o.pool.nextChangeAt();
    if (change !== undefined) retryInMs = Math.min(retryInMs, Math.max(0, change - now));
    full.add(capableKey);
    return {
      retryInMs: Number.isFinite(retryInMs) ? Math.max(retryInMs, 10) : o.pollIntervalMs,
      restricted,
    };
  }

  /**
   * Sends a job claimed on `upstream`. The claim stored its marker (`submitStartedAt`) before the
   * provider hears of the job: a crash from here until the upstream id is stored is detected at
   * start and reconciled, never blindly resubmitted. The claim is made only on a job still waiting,
   * so a cancel that landed before it wins and nothing is sent.
   */
  async function submit(job: JobRecord, upstream: PoolUpstream): Promise<void> {
    const submitAt = job.submitStartedAt as number;
    const client = upstream.client;
    place(job.id, upstream);
    let request: LipSyncRequest;
    try {
      request = await o.buildRequest(job, submitAt);
    } catch (error) {
      // A stall here (inputs are uploaded to the provider's storage first) may outlast the lease.
      if (leftAfterStall(job.id, 'build')) return;
      await fail(
        job.id,
        'input_unavailable',
        `An input of this job is no longer available (${messageOf(error)}). Upload it again.`,
        true,
      );
      return;
    }
    if (leftAfterStall(job.id, 'send')) return;
    inFlight.add(job.id);
    let task: Task;
    try {
      task = await client.submit(request, {
        signal: controller.signal,
        idempotencyKey: submitKeyOf(job.id, job.input.submitAttempt),
      });
    } catch (error) {
      inFlight.delete(job.id);
      if (stopped || leftAfterStall(job.id, 'answer')) return;
      const code = isRetalkError(error) ? error.code : 'internal';
      const after = (error as { retryAfterMs?: number }).retryAfterMs ?? upstream.slot.submitIntervalMs * 2;
      if (code === 'rate_limited' && client.capabilities.idempotentSubmit) {
        // No EvoLink doc says a 429 created nothing (audit row 2): the job keeps its marker and is
        // recovered under its idempotency key once the provider lets us in again.
        o.pool.pause(upstream, o.now() + after);
        requestReconcile(job.id, after);
        return;
      }
      if (code === 'rate_limited') {
        // A 429 provably created nothing: back to the head of the queue, for any upstream.
        o.pool.pause(upstream, o.now() + after);
        await unclaim(job, 0);
        return;
      }
      const unmetOn = o.pool.isKeyRefusal(error) ? await o.needsOf?.(job) : undefined;
      const accepts = unmetOn ? (u: PoolUpstream) => unmetOn(u) === undefined : undefined;
      if (o.pool.isKeyRefusal(error) && o.pool.hasHealthyBesides(upstream, accepts)) {
        // A refused key created nothing; the upstream is marked unhealthy and another takes the job.
        o.log.warn(
          { jobId: job.id, upstream: upstream.config.name, code },
          'the upstream refused its key; the job goes to another upstream',
        );
        await unclaim(job, 0);
        return;
      }
      if (
        code === 'network' ||
        code === 'timeout' ||
        code === 'provider_unavailable' ||
        code === 'response_validation'
      ) {
        o.log.warn(
          { jobId: job.id, code, upstream: upstream.config.name },
          'submit outcome unknown; reconciling with the provider',
        );
        requestReconcile(job.id, 0);
        return;
      }
      const retryable = isRetalkError(error) ? error.retryable : false;
      await fail(job.id, errorCode(error), `The provider refused the job: ${messageOf(error)}`, retryable);
      return;
    }
    o.pool.submitted(upstream);
    const now = o.now();
    // The upstream id exists only in memory until this write lands, so a locked store is waited out.
    let ours = true;
    const recorded = await persist(job.id, (current) => {
      // The answer came after another instance took the job over (this one stalled past its lease)
      // and settled it: the job stays as that instance left it, never rolled back to this submit.
      if (
        isTerminal(current) ||
        current.submitStartedAt !== submitAt ||
        (current.upstreamId ?? task.id) !== task.id
      ) {
        ours = false;
        return undefined;
      }
      return {
        upstreamId: task.id,
        status: task.status === 'running' ? 'running' : 'submitted',
        submittedAt: now,
        // Progress counts per phase: the provider's work starts from its own figure, not the preparing one.
        progress: current.status === 'preparing' ? task.progress : Math.max(current.progress, task.progress),
        ...(task.status === 'running' ? { startedAt: now } : {}),
      };
    });
    if (!ours) {
      o.log.warn(
        { jobId: job.id, upstreamId: task.id },
        'a submit was answered after another instance had settled its job; the job keeps that outcome',
      );
      untrack(job.id);
      return;
    }
    // Stopping before it landed: the marker makes the next start reconcile the job.
    if (!recorded) return;
    follow(recorded, o.pollIntervalMs);
    if (recorded.cancelRequested) track(cancel(job.id).catch(() => undefined));
  }

  function requestReconcile(jobId: string, delayMs: number): void {
    reconcileQueue.add(jobId);
    scheduleReconcile(delayMs);
  }

  function scheduleReconcile(delayMs: number): void {
    // A running pass picks up jobs added meanwhile (a Set iterates what is added during the loop).
    if (stopped || reconciling || reconcileTimer) return;
    reconcileTimer = setTimeout(() => {
      reconcileTimer = undefined;
      track(reconcilePass());
    }, delayMs);
  }

  /**
   * Reconciles the waiting jobs one after the other. The first failure the provider may recover
   * from ends the pass: the rest wait with it, and the next pass comes after the shared backoff.
   */
  async function reconcilePass(): Promise<void> {
    if (reconciling || stopped) return;
    reconciling = true;
    let retryInMs: number | undefined;
    // The soonest a job held back (a takeover's submit still settling) may be asked about.
    let waitInMs: number | undefined;
    try {
      for (const jobId of reconcileQueue) {
        if (stopped) return;
        const notBefore = reconcileNotBefore.get(jobId) ?? 0;
        if (notBefore > o.now()) {
          waitInMs = Math.min(waitInMs ?? Number.POSITIVE_INFINITY, notBefore - o.now());
          continue;
        }
        reconcileNotBefore.delete(jobId);
        const failure = await reconcile(jobId);
        if (stopped) return;
        if (failure !== undefined) {
          reconcileFailures++;
          retryInMs = backoffMs(o.pollIntervalMs, reconcileFailures);
          o.log.warn(
            { jobId, jobs: reconcileQueue.size, err: failure, attempt: reconcileFailures, retryInMs },
            'recovering interrupted submits failed; will retry',
          );
          return;
        }
        reconcileQueue.delete(jobId);
      }
      reconcileFailures = 0;
    } finally {
      reconciling = false;
      const next = Math.min(retryInMs ?? Number.POSITIVE_INFINITY, waitInMs ?? Number.POSITIVE_INFINITY);
      if (Number.isFinite(next)) scheduleReconcile(next);
    }
  }

  /**
   * A submit whose outcome is unknown (crash or lost answer), recovered through the provider's
   * adapter: a repeat under the job's idempotency key where the provider honours keys (EvoLink),
   * else its task list (DashScope; EvoLink past the key window): adopt the one task no job owns,
   * resubmit when there is none, and fail with a retryable error when it cannot tell.
   * Answers the error when the provider could not be asked and the job should be tried again.
   */
  async function reconcile(jobId: string): Promise<string | undefined> {
    // Tried again after the next lease pass: it drops the job (another instance holds it) or renews it.
    if (!holdsLease(jobId)) return "this instance does not hold the job's lease right now";
    const job = await o.store.getJob(jobId);
    if (!job || job.submitStartedAt === null || isTerminal(job)) return undefined;
    if (job.upstreamId) {
      // The submit landed after all (the instance it was taken from recorded the task): follow it.
      follow(job, 0);
      return undefined;
    }
    let request: LipSyncRequest;
    try {
      request = await o.buildRequest(job, job.submitStartedAt);
    } catch (error) {
      if (!holdsLease(jobId)) return "this instance lost the job's lease while preparing the request";
      await fail(
        job.id,
        'input_unavailable',
        `An input of this job is no longer available (${messageOf(error)}). Upload it again.`,
        true,
      );
      return undefined;
    }
    if (!holdsLease(jobId)) return "this instance lost the job's lease while preparing the request";
    let recovery: SubmitRecovery;
    try {
      recovery = await o.pool.of(job.upstreamName).client.recoverSubmit(request, {
        idempotencyKey: submitKeyOf(jobId, job.input.submitAttempt),
        startedAt: job.submitStartedAt,
        isKnown: async (taskId) => (await o.store.findJobByUpstreamId(taskId)) !== undefined,
        signal: controller.signal,
      });
    } catch (error) {
      if (stopped) return undefined;
      if (isRetalkError(error) && !error.retryable) {
        await fail(job.id, errorCode(error), `The provider refused the job: ${messageOf(error)}`, false);
        return undefined;
      }
      return messageOf(error);
    }
    if (!holdsLease(jobId)) return "this instance lost the job's lease while asking the provider";
    if (recovery.outcome === 'found') {
      const task = recovery.task;
      o.log.info(
        { jobId, upstreamId: task.id, via: recovery.via },
        'reconciled an interrupted submit: adopted the provider task',
      );
      await o.writer.update(jobId, { upstreamId: task.id, status: 'submitted', submittedAt: o.now() });
      follow(job, 0);
      return undefined;
    }
    if (recovery.outcome === 'absent') {
      o.log.info({ jobId }, 'reconciled an interrupted submit: the provider never got it; queueing it again');
      await unclaim(job, 0);
      return undefined;
    }
    o.log.warn(
      { jobId, reason: recovery.reason },
      'an interrupted submit cannot be matched to a provider task',
    );
    await fail(
      job.id,
      'submit_interrupted',
      `The relay was interrupted while sending this job and cannot tell which provider task is its own (${recovery.reason}), so it was not sent again (that could bill twice). Check the provider dashboard, then submit it again.`,
      true,
    );
    return undefined;
  }

  async function cancel(jobId: string): Promise<JobRecord> {
    const job = await o.store.getJob(jobId);
    if (!job) throw new ApiError(404, 'not_found', 'No such job.');
    if (isTerminal(job)) {
      throw new ApiError(
        409,
        'not_cancelable',
        `The job has already ${job.status === 'canceled' ? 'been canceled' : job.status}.`,
      );
    }
    const preparing = await o.cancelPreparing?.(jobId);
    if (preparing) return preparing;
    if (isWaiting(job)) {
      // Decided on the stored job: a submit marking the job at this moment either lands first (the
      // cancel is requested and done once the provider answers) or finds the job canceled.
      let outcome = 'moved' as 'canceled' | 'requested' | 'moved';
      const updated = await o.writer.modify(jobId, (current) => {
        if (!isWaiting(current)) return undefined;
        if (current.submitStartedAt === null) {
          outcome = 'canceled';
          return { status: 'canceled', finishedAt: o.now(), etaMs: null };
        }
        outcome = 'requested';
        return { cancelRequested: true };
      });
      if (outcome === 'canceled' && updated) {
        queue.remove(jobId);
        return updated;
      }
      if (outcome === 'requested') {
        throw new ApiError(
          409,
          'not_cancelable',
          'The job is being sent to the provider right now; try the cancel again in a few seconds.',
        );
      }
      // Sent (or ended) meanwhile: answered below from what is stored now.
      return cancelSent((await o.store.getJob(jobId)) ?? job);
    }
    return cancelSent(job);
  }

  async function cancelSent(job: JobRecord): Promise<JobRecord> {
    const jobId = job.id;
    if (isTerminal(job)) {
      throw new ApiError(
        409,
        'not_cancelable',
        `The job has already ${job.status === 'canceled' ? 'been canceled' : job.status}.`,
      );
    }
    const client = o.pool.of(job.upstreamName).client;
    if (client.capabilities.cancel === 'never' || !job.upstreamId) {
      throw new ApiError(
        409,
        'not_cancelable',
        `${client.capabilities.displayName} cannot cancel a job once it has been sent; it will finish on its own.`,
      );
    }
    try {
      const task = await client.cancel(job.upstreamId, { signal: controller.signal });
      await apply(jobId, task);
    } catch (error) {
      if (isRetalkError(error) && (error.code === 'invalid_request' || error.code === 'not_supported')) {
        throw new ApiError(
          409,
          'not_cancelable',
          'The provider has already started this job; it can no longer be canceled.',
        );
      }
      throw new ApiError(502, 'upstream_error', 'The provider did not answer the cancel; try again shortly.');
    }
    const after = (await o.store.getJob(jobId)) ?? job;
    if (!isTerminal(after)) schedule(jobId, 0);
    return after;
  }

  /** Picks up a live job where it stands: archive, poll, reconcile, queue, or prepare. */
  function pickUp(job: JobRecord): void {
    if (job.upstreamResultUrl !== null) o.onSucceeded(job);
    else if (job.upstreamId !== null) follow(job, 0);
    else if (job.submitStartedAt !== null) {
      // Its account slot stays taken (in the store) until the reconcile settles it.
      place(job.id, o.pool.of(job.upstreamName));
      // Taken over from an instance that may only have stalled: its submit may still be on its way
      // to the provider. Asking before that request has landed or timed out could find no task,
      // send the job again and bill twice; so the reconcile waits until it must have.
      const settledAt = fromAnotherInstance.has(job.id) ? job.submitStartedAt + SUBMIT_SETTLE_MS : 0;
      if (settledAt > o.now()) reconcileNotBefore.set(job.id, settledAt);
      requestReconcile(job.id, Math.max(0, settledAt - o.now()));
    } else if (o.isPrepared?.(job) ?? true) queue.push(job.id, job.memberId);
    else o.onUnprepared?.(job);
  }

  /** Forgets a job another instance now holds. */
  function drop(jobId: string): void {
    untrack(jobId);
    queue.remove(jobId);
    reconcileQueue.delete(jobId);
    reconcileNotBefore.delete(jobId);
    leaseUntil.delete(jobId);
  }

  /**
   * Renews this instance's leases and takes over the live jobs whose lease lapsed. At the first pass
   * every job held is picked up (a restart under the same instance id holds its old leases); later,
   * only those taken over. Jobs another instance took while this one stalled are dropped here.
   */
  async function leasePass(first: boolean): Promise<void> {
    if (!cluster || stopped || leasing) return;
    leasing = true;
    try {
      const now = o.now();
      const expiresAt = now + cluster.leaseMs;
      const renewed = await cluster.store.renewLeases(cluster.owner, expiresAt);
      const claimed = await cluster.store.claimOrphans(cluster.owner, now, expiresAt, 100);
      const taken = claimed.map((c) => c.jobId);
      // A job another instance held may have its submit still on the way (that instance may only
      // have stalled); one nobody held cannot.
      for (const c of claimed) if (c.previousOwner !== null) fromAnotherInstance.add(c.jobId);
      if (stopped) return;
      const next = new Set([...renewed, ...taken]);
      for (const id of held) {
        if (next.has(id)) continue;
        const live = await o.store.getJob(id);
        if (live && !isTerminal(live)) {
          o.log.warn({ jobId: id }, 'another instance took this job over (this one stalled past its lease)');
          drop(id);
        }
      }
      held = next;
      for (const id of next) leaseUntil.set(id, expiresAt);
      if (taken.length > 0 && !first)
        o.log.info({ jobs: taken.length }, 'took over jobs whose instance stopped');
      for (const id of taken) takenOverAt.set(id, now);
      for (const id of first ? next : taken) {
        const job = await o.store.getJob(id);
        if (job && !isTerminal(job) && !stopped) pickUp(job);
      }
      schedulePump(0);
    } catch (error) {
      o.log.warn({ err: messageOf(error) }, 'renewing job leases failed; retrying');
    } finally {
      leasing = false;
    }
  }

  return {
    async start() {
      if (cluster) {
        await leasePass(true);
        leaseTimer = setInterval(
          () => track(leasePass(false)),
          Math.max(50, Math.floor(cluster.leaseMs / 3)),
        );
        return;
      }
      for (const job of await o.store.listLiveJobs()) pickUp(job);
      schedulePump(0);
    },
    enqueue(job) {
      queue.push(job.id, job.memberId);
      schedulePump(0);
    },
    wake(jobId) {
      if (!inFlight.has(jobId) || wakeTimers.has(jobId)) return;
      const wait = (lastWakeAt.get(jobId) ?? Number.NEGATIVE_INFINITY) + WAKE_MIN_GAP_MS - o.now();
      const run = () => {
        wakeTimers.delete(jobId);
        if (!inFlight.has(jobId)) return;
        lastWakeAt.set(jobId, o.now());
        schedule(jobId, 0);
      };
      if (wait <= 0) run();
      else wakeTimers.set(jobId, setTimeout(run, wait));
    },
    cancel,
    retryWaiting() {
      schedulePump(0);
      // Interrupted submits waiting out a backoff are reconciled now: their upstream answers again.
      if (reconcileQueue.size > 0 && reconcileTimer) {
        clearTimeout(reconcileTimer);
        reconcileTimer = undefined;
        reconcileFailures = 0;
        scheduleReconcile(0);
      }
    },
    async stop() {
      stopped = true;
      controller.abort(new Error('relay stopping'));
      for (const timer of [...timers.values(), ...wakeTimers.values()]) clearTimeout(timer);
      timers.clear();
      wakeTimers.clear();
      if (pumpTimer) clearTimeout(pumpTimer);
      clearTimeout(reconcileTimer);
      clearInterval(leaseTimer);
      await Promise.allSettled([...pending]);
      // A clean stop hands the jobs on at once instead of after the lease lapses.
      if (cluster) {
        await cluster.store
          .releaseLeases(cluster.owner)
          .catch((error) => o.log.warn({ err: messageOf(error) }, 'releasing job leases failed'));
      }
    },
    stats: () => ({
      tracked: timers.size + polling.size + reconcileQueue.size,
      queued: queue.length,
      inFlight: inFlight.size,
    }),
  };
}
