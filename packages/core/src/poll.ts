import type { Clock } from './clock.js';
import { AbortError, type RetalkError, RetalkError as RetalkErrorClass, TimeoutError } from './errors.js';
import { isTerminalStatus, type Provider, type Task } from './task.js';
import { abortErrorFrom } from './transport.js';

/** First polls of a task come this often, in milliseconds (default 1000 ms). */
export const DEFAULT_POLL_INTERVAL_MS = 1_000;
/** Number of polls at {@link DEFAULT_POLL_INTERVAL_MS} before backing off (default 3). */
export const DEFAULT_POLL_QUICK_CHECKS = 3;
/** Each later poll waits this many times longer than the one before (default 1.5). */
export const DEFAULT_POLL_BACKOFF_FACTOR = 1.5;
/**
 * Polls never wait longer than this, in milliseconds (default 10 000 ms). Each provider sets its
 * own cap from its guidance (docs/providers.md "Polling"): DashScope 15 000 ms, EvoLink 8 000 ms.
 */
export const DEFAULT_POLL_MAX_INTERVAL_MS = 10_000;
/** Random spread applied to every delay, as a ratio (default 0.2 = ±20 %), so clients do not poll in lockstep. */
export const DEFAULT_JITTER_RATIO = 0.2;
/** How many consecutive failed polls `wait`/`watch` tolerate before giving up (default 8). */
export const DEFAULT_MAX_POLL_FAILURES = 8;

/** Polling cadence of `wait`/`watch`. All durations in milliseconds. */
export interface PollSchedule {
  /** Delay of the first polls. Default {@link DEFAULT_POLL_INTERVAL_MS} (ms). */
  intervalMs: number;
  /** Polls at `intervalMs` before backing off. Default {@link DEFAULT_POLL_QUICK_CHECKS}. */
  quickChecks: number;
  /** Growth per later poll. Default {@link DEFAULT_POLL_BACKOFF_FACTOR}. */
  backoffFactor: number;
  /** Cap of one delay. Default {@link DEFAULT_POLL_MAX_INTERVAL_MS} (ms). */
  maxIntervalMs: number;
  /** Random spread of each delay. Default {@link DEFAULT_JITTER_RATIO} (±20 %). */
  jitterRatio: number;
}

/** The default {@link PollSchedule}. */
export const DEFAULT_POLL_SCHEDULE: PollSchedule = {
  intervalMs: DEFAULT_POLL_INTERVAL_MS,
  quickChecks: DEFAULT_POLL_QUICK_CHECKS,
  backoffFactor: DEFAULT_POLL_BACKOFF_FACTOR,
  maxIntervalMs: DEFAULT_POLL_MAX_INTERVAL_MS,
  jitterRatio: DEFAULT_JITTER_RATIO,
};

/**
 * Delay before poll number `attempt` (0-based, the first poll after the initial read), without
 * jitter, in milliseconds: `intervalMs` for the quick checks, then growing by `backoffFactor` up
 * to `maxIntervalMs`.
 */
export function pollDelayMs(attempt: number, schedule: PollSchedule = DEFAULT_POLL_SCHEDULE): number {
  const grown =
    attempt < schedule.quickChecks ? 1 : schedule.backoffFactor ** (attempt - schedule.quickChecks + 1);
  return Math.min(schedule.maxIntervalMs, Math.max(schedule.intervalMs, schedule.intervalMs * grown));
}

/** Spreads `ms` by ±`ratio` using `random` (0 ≤ random() < 1). */
export function withJitter(ms: number, ratio: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(ms * (1 + ratio * (2 * random() - 1))));
}

/** What {@link pollTask} needs from a client. */
export interface PollContext {
  provider: Provider;
  clock: Clock;
  random: () => number;
  /** The cadence, the caller's `intervalMs` already applied. */
  schedule: PollSchedule;
  /** Reads the task once (paced and retried as the provider needs). */
  get(taskId: string, signal: AbortSignal): Promise<Task>;
  /** The provider's own floor for the next delay (EvoLink ETA), or undefined. */
  floorMs?: ((task: Task) => number | undefined) | undefined;
}

/** Options of {@link pollTask}. */
export interface PollTaskOptions {
  signal?: AbortSignal | undefined;
  /** Deadline of the whole wait, in ms from now. Default none. */
  timeoutMs?: number | undefined;
  /** The caller's whole budget when part of it was spent before polling began (for the message). */
  budgetMs?: number | undefined;
  /** A task already read (a submit answer), yielded first without a query. */
  first?: Task | undefined;
  onUpdate?: ((task: Task) => void) | undefined;
}

/**
 * Polls a task until it ends, yielding each change (status, progress, ETA, result) and the
 * terminal task last. Retryable read failures are ridden out up to {@link DEFAULT_MAX_POLL_FAILURES}
 * in a row. Every exit (the end, an error, the deadline, an abort, a consumer's `break`) clears
 * the deadline timer and the abort listener and cuts any request still in flight.
 */
export async function* pollTask(
  ctx: PollContext,
  taskId: string,
  opts: PollTaskOptions = {},
): AsyncGenerator<Task, void, undefined> {
  const { clock, schedule } = ctx;
  const controller = new AbortController();
  const onAbort = () =>
    controller.abort(
      new AbortError(`Waiting for task ${taskId} was aborted`, { cause: opts.signal?.reason }),
    );
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = opts.timeoutMs === undefined ? undefined : clock.now() + opts.timeoutMs;
  let last: Task | undefined;
  const timeoutError = () =>
    new TimeoutError(
      `Task ${taskId} did not finish within ${opts.budgetMs ?? opts.timeoutMs} ms (last status: ${last?.status ?? 'unknown'}); ` +
        'call wait() again or raise timeoutMs',
      { provider: ctx.provider },
    );
  // A real timer as well as clock checks: a hung request must be cut at the deadline too.
  const deadlineTimer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => controller.abort(timeoutError()), opts.timeoutMs);
  const signal = controller.signal;
  try {
    let attempt = 0;
    let failures = 0;
    let pending: Task | undefined = opts.first;
    while (true) {
      let task: Task | undefined = pending;
      pending = undefined;
      let retryAfterMs: number | undefined;
      if (!task) {
        try {
          task = await ctx.get(taskId, signal);
          failures = 0;
        } catch (error) {
          if (signal.aborted) throw abortErrorFrom(signal, `wait for task ${taskId}`);
          const retalk = error instanceof RetalkErrorClass ? (error as RetalkError) : undefined;
          if (!retalk?.retryable || ++failures >= DEFAULT_MAX_POLL_FAILURES) throw error;
          retryAfterMs = (retalk as { retryAfterMs?: number }).retryAfterMs;
        }
      }
      if (task) {
        if (last && !isTerminalStatus(task.status) && task.status === last.status) {
          task.progress = Math.max(task.progress, last.progress);
        }
        const changed =
          !last ||
          last.status !== task.status ||
          last.progress !== task.progress ||
          last.etaMs !== task.etaMs ||
          last.resultUrl !== task.resultUrl;
        last = task;
        if (changed) {
          opts.onUpdate?.(task);
          yield task;
        }
        if (isTerminalStatus(task.status)) return;
      }
      let delay = withJitter(pollDelayMs(attempt++, schedule), schedule.jitterRatio, ctx.random);
      const floor = task && ctx.floorMs ? ctx.floorMs(task) : undefined;
      if (floor !== undefined) delay = Math.min(schedule.maxIntervalMs, Math.max(delay, floor));
      if (retryAfterMs !== undefined) delay = Math.max(delay, retryAfterMs);
      if (deadline !== undefined) {
        const left = deadline - clock.now();
        if (left <= 0) throw timeoutError();
        delay = Math.min(delay, left);
      }
      try {
        await clock.sleep(delay, signal);
      } catch {
        throw abortErrorFrom(signal, `wait for task ${taskId}`);
      }
      if (deadline !== undefined && clock.now() >= deadline) throw timeoutError();
    }
  } finally {
    if (deadlineTimer !== undefined) clearTimeout(deadlineTimer);
    opts.signal?.removeEventListener('abort', onAbort);
    // Cut any request or limiter wait still in flight on early exit (a consumer's `break`).
    if (!controller.signal.aborted) controller.abort(new AbortError('polling stopped'));
  }
}
