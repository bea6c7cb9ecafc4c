/** First polls of a task come this often, in milliseconds (default 1000 ms). */
export const DEFAULT_POLL_INTERVAL_MS = 1_000;
/** Number of polls at {@link DEFAULT_POLL_INTERVAL_MS} before backing off (default 3). */
export const DEFAULT_POLL_QUICK_CHECKS = 3;
/** Each later poll waits this many times longer than the one before (default 1.5). */
export const DEFAULT_POLL_BACKOFF_FACTOR = 1.5;
/** Polls never wait longer than this, in milliseconds (default 10 000 ms). */
export const DEFAULT_POLL_MAX_INTERVAL_MS = 10_000;
/** Random spread applied to every delay, as a ratio (default 0.2 = ±20 %), so clients do not poll in lockstep. */
export const DEFAULT_JITTER_RATIO = 0.2;
/** First retry of a failed read waits this long, in milliseconds (default 500 ms), doubling each time. */
export const DEFAULT_RETRY_BASE_MS = 500;
/** Retries of a read never wait longer than this, in milliseconds (default 8000 ms), unless `Retry-After` says so. */
export const DEFAULT_RETRY_MAX_MS = 8_000;
/** Retries of a failed read (429/5xx/network) before giving up (default 4). */
export const DEFAULT_READ_RETRIES = 4;
/** Retries of a submit that provably did not create a task (429, refused connection) (default 3). */
export const DEFAULT_SUBMIT_RETRIES = 3;
/** DashScope documents 20 task queries per second per account (reference/providers.md B.3). */
export const DASHSCOPE_QUERIES_PER_SECOND = 20;
/** DashScope documents 1 videoretalk task submission per second (reference/providers.md B.7). */
export const DASHSCOPE_SUBMITS_PER_SECOND = 1;

/** Time source and timer, injectable so tests never sleep for real. */
export interface Clock {
  /** Current time in milliseconds since the epoch. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds; rejects with `signal.reason` as soon as `signal` aborts,
   * and always clears its timer.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock (`Date.now` + `setTimeout`). */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

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

/** Delay before retry number `attempt` (0-based) of a failed read, in milliseconds, with full jitter. */
export function retryDelayMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = DEFAULT_RETRY_BASE_MS,
  maxMs = DEFAULT_RETRY_MAX_MS,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  // Half fixed, half random: never retries instantly, never in lockstep with other clients.
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/**
 * Parses a `Retry-After` header (delta-seconds or an HTTP date) into milliseconds from `now`;
 * undefined when absent or unreadable.
 */
export function parseRetryAfterMs(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** Most operations in any one-second window. Default {@link DASHSCOPE_QUERIES_PER_SECOND} (20 per second). */
  perSecond?: number;
  /** Tokens the bucket holds (how many may go at once after a pause). Default 2; never more than `perSecond - 1`, never less than 1. */
  burst?: number;
  /** Time source and timers (ms), for tests. Default {@link systemClock}. */
  clock?: Clock;
}

/** A shared pacing gate: `take()` resolves when one more operation may start. */
export interface RateLimiter {
  /** Waits for a token (first come, first served); rejects with the abort reason when `signal` aborts. */
  take(signal?: AbortSignal): Promise<void>;
  /** Callers currently waiting. */
  readonly pending: number;
}

/**
 * A token bucket that keeps every one-second window at or under `perSecond` operations.
 *
 * A bucket of capacity `burst` refilled at `r` per second lets through at most `burst + r` in any
 * one-second window, so the refill rate is `perSecond - burst`: with the defaults (20, 2) that is
 * 18 per second sustained, leaving room for the jitter between our clock and the provider's.
 * At `perSecond` ≤ 1 the bucket holds one token and operations start `1000 / perSecond` ms apart
 * (DashScope submits: 1 per second → 1000 ms apart).
 */
export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const perSecond = options.perSecond ?? DASHSCOPE_QUERIES_PER_SECOND;
  if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
    throw new RangeError(`createRateLimiter: perSecond must be a finite number > 0, got ${perSecond}`);
  }
  const capacity = Math.max(1, Math.min(options.burst ?? 2, perSecond - 1));
  const refillPerMs = (perSecond <= 1 ? perSecond : Math.max(1, perSecond - capacity)) / 1000;
  const clock = options.clock ?? systemClock;
  let tokens = capacity;
  let updatedAt = clock.now();
  const queue: Array<{ resolve: () => void; reject: (e: unknown) => void; signal: AbortSignal | undefined }> =
    [];
  let draining = false;
  let drainSleep: AbortController | undefined;

  const refill = () => {
    const now = clock.now();
    tokens = Math.min(capacity, tokens + (now - updatedAt) * refillPerMs);
    updatedAt = now;
  };

  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      while (queue.length > 0) {
        const head = queue[0]!;
        if (head.signal?.aborted) {
          queue.shift();
          head.reject(head.signal.reason);
          continue;
        }
        refill();
        if (tokens >= 1) {
          tokens -= 1;
          queue.shift();
          head.resolve();
          continue;
        }
        drainSleep = new AbortController();
        // Cut short when every waiter left, so no timer outlives the last caller.
        await clock.sleep(Math.ceil((1 - tokens) / refillPerMs), drainSleep.signal).catch(() => {});
      }
    } finally {
      draining = false;
    }
  };

  return {
    get pending() {
      return queue.length;
    },
    take(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const entry = {
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (e: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
          signal,
        };
        const onAbort = () => {
          const i = queue.indexOf(entry);
          if (i >= 0) queue.splice(i, 1);
          if (queue.length === 0) drainSleep?.abort();
          entry.reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(entry);
        void drain();
      });
    },
  };
}
