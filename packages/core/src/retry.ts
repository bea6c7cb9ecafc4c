/** First retry of a failed read waits this long, in milliseconds (default 500 ms), doubling each time. */
export const DEFAULT_RETRY_BASE_MS = 500;
/** Retries of a read never wait longer than this, in milliseconds (default 8000 ms), unless `Retry-After` says so. */
export const DEFAULT_RETRY_MAX_MS = 8_000;
/** Retries of a failed read (429/5xx/network) before giving up (default 4). */
export const DEFAULT_READ_RETRIES = 4;
/** Retries of a submit that provably did not create a task (429, refused connection) (default 3). */
export const DEFAULT_SUBMIT_RETRIES = 3;

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
