import { type Clock, systemClock } from './clock.js';

/** DashScope documents 20 task queries per second per account (docs/providers.md B.3). */
export const DASHSCOPE_QUERIES_PER_SECOND = 20;
/** DashScope documents 1 videoretalk task submission per second (docs/providers.md B.7). */
export const DASHSCOPE_SUBMITS_PER_SECOND = 1;

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

/** The pacing of one provider account: its submits and its queries, shared by every client on it. */
export interface AccountPacing {
  /** Paces task submissions; undefined: not paced. */
  readonly submits?: RateLimiter | undefined;
  /** Paces task queries, cancels and list calls; undefined: not paced. */
  readonly queries?: RateLimiter | undefined;
}

/** Options of {@link createAccountPacing}. */
export interface AccountPacingOptions {
  /** Task submissions per second of the account. Default {@link DASHSCOPE_SUBMITS_PER_SECOND} (1); `Infinity`: not paced. */
  submitsPerSecond?: number | undefined;
  /** Task queries per second of the account. Default {@link DASHSCOPE_QUERIES_PER_SECOND} (20); `Infinity`: not paced. */
  queriesPerSecond?: number | undefined;
  /** Time source and timers (ms), for tests. Default {@link systemClock}. */
  clock?: Clock | undefined;
}

/**
 * One pacing for one provider account. DashScope scopes its limits to the Alibaba Cloud account,
 * every key of it together (docs/providers.md B.7, audit row 6): give the clients of all its keys
 * the same pacing (`createClient({ pacing })`) and their submits and queries share the budget.
 *
 * @example
 * const pacing = createAccountPacing();
 * const a = createClient({ provider: 'dashscope', apiKey: keyA, pacing });
 * const b = createClient({ provider: 'dashscope', apiKey: keyB, pacing }); // same account
 */
export function createAccountPacing(options: AccountPacingOptions = {}): AccountPacing {
  const clock = options.clock ?? systemClock;
  const submits = options.submitsPerSecond ?? DASHSCOPE_SUBMITS_PER_SECOND;
  const queries = options.queriesPerSecond ?? DASHSCOPE_QUERIES_PER_SECOND;
  return {
    // One bucket of one token: submits start at least 1000 / submitsPerSecond ms apart.
    submits: Number.isFinite(submits)
      ? createRateLimiter({ perSecond: submits, burst: 1, clock })
      : undefined,
    queries: Number.isFinite(queries) ? createRateLimiter({ perSecond: queries, clock }) : undefined,
  };
}
