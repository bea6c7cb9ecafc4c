import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { DEFAULT_POLL_SCHEDULE, pollDelayMs, withJitter } from '../src/poll.js';
import { createRateLimiter } from '../src/rate-limiter.js';
import { parseRetryAfterMs, retryDelayMs } from '../src/retry.js';
import { createFakeClock } from './fakes.js';

describe('pollDelayMs', () => {
  it('starts with quick checks at the interval, then backs off up to the cap', () => {
    const delays = Array.from({ length: 12 }, (_, i) => pollDelayMs(i));
    expect(delays.slice(0, 3)).toEqual([1000, 1000, 1000]);
    expect(delays[3]).toBe(1500);
    expect(delays[4]).toBe(2250);
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).toBeGreaterThanOrEqual(delays[i - 1]!);
    expect(delays.at(-1)).toBe(DEFAULT_POLL_SCHEDULE.maxIntervalMs);
  });

  it('scales from a custom interval', () => {
    expect(pollDelayMs(0, { ...DEFAULT_POLL_SCHEDULE, intervalMs: 20 })).toBe(20);
    expect(pollDelayMs(4, { ...DEFAULT_POLL_SCHEDULE, intervalMs: 20 })).toBe(45);
  });
});

describe('jitter', () => {
  it('spreads poll delays by at most the ratio', () => {
    expect(withJitter(1000, 0.2, () => 0)).toBe(800);
    expect(withJitter(1000, 0.2, () => 0.999999)).toBe(1200);
    expect(withJitter(1000, 0.2, () => 0.5)).toBe(1000);
  });

  it('keeps retry delays between half and all of the doubling ceiling', () => {
    expect(retryDelayMs(0, () => 0)).toBe(250);
    expect(retryDelayMs(2, () => 0.999999)).toBe(2000);
    expect(retryDelayMs(10, () => 0.999999)).toBe(8000);
  });
});

describe('parseRetryAfterMs', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfterMs('3')).toBe(3000);
    expect(parseRetryAfterMs('0.5')).toBe(500);
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfterMs(null)).toBeUndefined();
    expect(parseRetryAfterMs('soon')).toBeUndefined();
  });
});

describe('createRateLimiter', () => {
  it('never lets more than perSecond through in any one-second window', async () => {
    const clock = createFakeClock();
    const limiter = createRateLimiter({ perSecond: 20, clock });
    const grants: number[] = [];
    await Promise.all(Array.from({ length: 100 }, () => limiter.take().then(() => grants.push(clock.now()))));
    expect(grants).toHaveLength(100);
    for (let i = 0; i < grants.length; i++) {
      const inWindow = grants.filter((t) => t >= grants[i]! && t < grants[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(20);
    }
    // …and still keeps a useful pace: 100 grants in about 5.5 s, not more.
    expect(grants.at(-1)! - grants[0]!).toBeLessThan(6000);
  });

  it('serves waiters first come, first served and drops aborted ones', async () => {
    const clock = createFakeClock();
    const limiter = createRateLimiter({ perSecond: 3, burst: 1, clock });
    const order: string[] = [];
    const controller = new AbortController();
    const a = limiter.take().then(() => order.push('a'));
    const b = limiter.take(controller.signal).then(
      () => order.push('b'),
      () => order.push('b-aborted'),
    );
    const c = limiter.take().then(() => order.push('c'));
    controller.abort(new Error('stop'));
    await Promise.all([a, b, c]);
    expect(order).toEqual(['a', 'b-aborted', 'c']);
    expect(limiter.pending).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const limiter = createRateLimiter({ clock: createFakeClock() });
    await expect(limiter.take(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
  });
});

describe('systemClock.sleep', () => {
  it('rejects with the abort reason and resolves otherwise', async () => {
    const controller = new AbortController();
    const pending = systemClock.sleep(10_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    await expect(systemClock.sleep(1)).resolves.toBeUndefined();
  });
});
