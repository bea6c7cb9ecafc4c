/** Fixed-window request counters per key (member id, or client address for failed logins). */
export interface RateLimiter {
  /** Counts one hit; returns the milliseconds to wait when over the limit, else 0. */
  hit(key: string): number;
}

export function createRateLimiter(
  limit: number,
  windowMs: number,
  now: () => number = Date.now,
): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  return {
    hit(key) {
      const t = now();
      let w = windows.get(key);
      if (!w || t - w.start >= windowMs) {
        if (windows.size > 10_000) {
          for (const [k, v] of windows) if (t - v.start >= windowMs) windows.delete(k);
        }
        w = { start: t, count: 0 };
        windows.set(key, w);
      }
      w.count++;
      return w.count > limit ? w.start + windowMs - t : 0;
    },
  };
}
