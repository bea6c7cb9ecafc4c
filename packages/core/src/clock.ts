/** Time source and timer, injectable so tests never sleep for real. */
export interface Clock {
  /** Current time in milliseconds since the epoch. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds; rejects with `signal.reason` as soon as `signal` aborts,
   * and always clears its timer and its abort listener.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Waits `ms` milliseconds (at least 0). Rejects with `signal.reason` when `signal` aborts, before
 * or during the wait; the timer and the abort listener are both removed on every exit, so a
 * long-lived signal collects no listeners however many waits it cuts.
 *
 * @example await sleep(1000, controller.signal).catch(() => {}); // a wait that simply ends on abort
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
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
  });
}

/** The real clock (`Date.now` + {@link sleep}). */
export const systemClock: Clock = { now: () => Date.now(), sleep };
