import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import { mergeJobs, updateJobs } from '../src/lib/job-store.js';
import { type LiveState, startLiveJobs } from '../src/lib/live-jobs.js';
import { settingsItem } from '../src/lib/settings.js';
import { makeJob } from './support/jobs.js';

const RELAY = 'http://127.0.0.1:9999';

/** A stand-in relay that is down until `up` is set: the popup's view of it is what is checked. */
function fakeRelay(running: ReturnType<typeof makeJob>) {
  const state = { up: false, requests: 0 };
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    state.requests++;
    if (!state.up) throw new TypeError('fetch failed');
    const url = new URL(String(input));
    if (url.pathname === '/v1/jobs') return Response.json({ jobs: [running], nextCursor: null });
    if (url.pathname === `/v1/jobs/${running.id}`) return Response.json(running);
    if (url.pathname === '/v1/events') {
      // An open stream that says it is ready and then stays quiet until the popup closes.
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('event: ready\ndata: {"lastEventId":null}\n\n'));
          init?.signal?.addEventListener('abort', () => controller.error(init.signal?.reason));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    }
    return new Response('unexpected', { status: 500 });
  });
  return { state, fetchMock };
}

describe('live job updates in the popup', () => {
  beforeEach(() => {
    fakeBrowser.reset();
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('says Offline while the relay cannot be reached, never Live, and Live again once it answers (finding 8)', async () => {
    const running = makeJob({ status: 'running' });
    await updateJobs((jobs) => mergeJobs(jobs, [running], { relayUrl: RELAY, nowMs: 0 }));
    await settingsItem.setValue({ relayUrl: RELAY, token: 'rtk_testtoken123' });
    const relay = fakeRelay(running);
    vi.stubGlobal('fetch', relay.fetchMock);
    const states: LiveState[] = [];
    const controller = new AbortController();
    try {
      await startLiveJobs({
        signal: controller.signal,
        onState: (s) => states.push(s),
        pollIntervalMs: 10,
      });
      await vi.waitFor(() => expect(states.at(-1)?.state).toBe('offline'));
      expect(states.at(-1)?.error).toMatch(/reach the relay/);
      // Several poll ticks with the relay down (each tries again): not once "Live".
      const seen = relay.state.requests;
      await vi.waitFor(() => expect(relay.state.requests).toBeGreaterThan(seen + 3));
      expect(states.some((s) => s.state === 'live')).toBe(false);

      relay.state.up = true;
      await vi.waitFor(() => expect(states.at(-1)?.state).toBe('live'));
      // Back up, it follows the event stream again.
      await vi.waitFor(() =>
        expect(relay.fetchMock.mock.calls.some((c) => String(c[0]).includes('/v1/events'))).toBe(true),
      );
    } finally {
      controller.abort();
    }
  });
});
