import type { ClusterStore } from './store/types.js';

/** Fixed-window request counters per key (member id, or client address for failed logins). */
export interface RateLimiter {
  /** Counts one hit; resolves the milliseconds to wait when over the limit, else 0. */
  hit(key: string): Promise<number>;
}

/** Counters in this process's memory: one relay process (SQLite). */
export function createRateLimiter(
  limit: number,
  windowMs: number,
  now: () => number = Date.now,
): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  return {
    async hit(key) {
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

/**
 * Counters in the database every instance shares (PostgreSQL), so a member spreading requests over
 * several instances still gets `limit` a window, not `limit` per instance. Windows are aligned to
 * the clock (one row per key, counted with an upsert); `name` keeps two limiters' keys apart.
 */
export function createSharedRateLimiter(
  cluster: ClusterStore,
  name: string,
  limit: number,
  windowMs: number,
  now: () => number = Date.now,
): RateLimiter {
  let lastPrune = 0;
  return {
    async hit(key) {
      const t = now();
      const { hits, windowStart } = await cluster.hitRateWindow(`${name}:${key}`, windowMs, t);
      // Old windows are swept now and then by whichever instance counts next.
      if (t - lastPrune > windowMs) {
        lastPrune = t;
        void cluster.pruneRateWindows(t - 2 * windowMs).catch(() => undefined);
      }
      return hits > limit ? Math.max(1, windowStart + windowMs - t) : 0;
    },
  };
}
