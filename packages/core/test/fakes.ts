import type { Clock } from '../src/clock.js';

/** A clock whose sleeps return at once and move time forward; every sleep is recorded. */
export function createFakeClock(start = Date.UTC(2026, 0, 1)) {
  let t = start;
  const sleeps: number[] = [];
  const clock: Clock & { sleeps: number[]; advance(ms: number): void } = {
    now: () => t,
    async sleep(ms, signal) {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
      t += ms;
      await Promise.resolve();
      if (signal?.aborted) throw signal.reason;
    },
    sleeps,
    advance(ms) {
      t += ms;
    },
  };
  return clock;
}

export interface RecordedCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

type Reply = Response | Error | ((call: RecordedCall) => Response | Error | Promise<Response | Error>);

/** A fetch that answers from a queue of replies (or a router) and records every call. */
export function createFakeFetch(route: (call: RecordedCall, index: number) => Reply) {
  const calls: RecordedCall[] = [];
  const fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    let body: unknown = init.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {}
    }
    const call: RecordedCall = { url: input, method: init.method ?? 'GET', headers, body };
    calls.push(call);
    if (init.signal?.aborted) throw init.signal.reason;
    let reply = route(call, calls.length - 1);
    if (typeof reply === 'function') reply = await reply(call);
    if (reply instanceof Error) throw reply;
    return reply;
  };
  return { fetch, calls };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** A fetch failure shaped like Node's: TypeError('fetch failed') with a cause carrying `code`. */
export function netError(code: string): Error {
  const cause = Object.assign(new Error(`connect ${code}`), { code });
  return new TypeError('fetch failed', { cause });
}

export const evolinkTask = (over: Record<string, unknown> = {}) => ({
  id: 'task-unified-1775200000-xyz12345',
  object: 'video.generation.task',
  created: 1775200000,
  model: 'videoretalk',
  status: 'pending',
  progress: 0,
  type: 'video',
  task_info: { can_cancel: false, estimated_time: 90, video_duration: 0 },
  usage: { billing_rule: 'per_second', credits_reserved: 480, user_group: 'default' },
  ...over,
});

export const dashscopeTask = (
  status: string,
  output: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) => ({
  request_id: '7574ee8f-38a3-4b1e-9280-11c33ab46e51',
  output: { task_id: 'a8532587-fa8c-4ef8-82be-0c46b17950d1', task_status: status, ...output },
  ...extra,
});

/**
 * A clock that stands still until the test moves it: sleeps wait until `next()` jumps to the
 * earliest one. For code whose timing must line up with another process (the simulator reads
 * the same `now`).
 */
export function createManualClock(start = Date.UTC(2026, 0, 1)) {
  let t = start;
  const timers: Array<{ at: number; wake: () => void }> = [];
  const wakeDue = () => {
    for (const timer of timers.filter((x) => x.at <= t)) {
      timers.splice(timers.indexOf(timer), 1);
      timer.wake();
    }
  };
  const clock: Clock & { readonly pending: number; next(): boolean; advance(ms: number): void } = {
    now: () => t,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const timer = {
          at: t + Math.max(0, ms),
          wake: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          timers.splice(timers.indexOf(timer), 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        timers.push(timer);
      }),
    get pending() {
      return timers.length;
    },
    next() {
      if (timers.length === 0) return false;
      const at = Math.min(...timers.map((x) => x.at));
      t = Math.max(t, at);
      wakeDue();
      return true;
    },
    advance(ms) {
      t += ms;
      wakeDue();
    },
  };
  return clock;
}

/**
 * Moves a manual clock to its next timer on every turn of the event loop while no request made
 * through `fetch` is in flight, from `start()` to `stop()`. A client and a simulator that share the
 * clock then see each request at the instant it was sent, however late a loaded machine delivers it.
 */
export function createClockDriver(clock: ReturnType<typeof createManualClock>) {
  let inFlight = 0;
  let running = false;
  let loop: Promise<void> = Promise.resolve();
  return {
    fetch: async (url: string, init?: RequestInit): Promise<Response> => {
      inFlight++;
      try {
        return await fetch(url, init);
      } finally {
        inFlight--;
      }
    },
    start() {
      running = true;
      loop = (async () => {
        while (running) {
          await new Promise((r) => setTimeout(r, 1));
          if (running && inFlight === 0) clock.next();
        }
      })();
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}
