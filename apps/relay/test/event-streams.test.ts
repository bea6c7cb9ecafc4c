import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_STREAMS_PER_MEMBER as MAX_STREAMS_PER_MEMBER } from '../src/config.js';
import { type Harness, startRelay } from './harness.js';

const ADMIN = 'admin-token-for-event-stream-tests-0001';

/** An open event stream: its text so far, a wait for some text, and its end. */
function openStream(url: string, token: string, headers: Record<string, string> = {}) {
  const stop = new AbortController();
  let text = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of waiters.splice(0)) {
      if (w.re.test(text)) w.resolve();
      else waiters.push(w);
    }
  };
  const ended = (async () => {
    const res = await fetch(`${url}/v1/events`, {
      headers: { authorization: `Bearer ${token}`, ...headers },
      signal: stop.signal,
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        check();
      }
    } catch {
      // aborted by the test
    }
    return text;
  })();
  return {
    ended,
    text: () => text,
    waitFor: (re: RegExp) =>
      new Promise<void>((resolve) => {
        waiters.push({ re, resolve });
        check();
      }),
    close: () => stop.abort(),
  };
}

describe('event streams (findings L1, L5, L7, L9)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({ provider: 'evolink', env: { RETALK_ADMIN_TOKEN: ADMIN } });
  });
  afterAll(async () => {
    await h.close();
  });

  async function runJob(token = h.token) {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4', token);
    const audio = await h.upload('audio', 'speech-4s.wav', token);
    const created = await h.api('POST', '/v1/jobs', {
      token,
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    return h.waitForJob(created.json.id, (j) => j.status === 'succeeded', 10_000, token);
  }

  it('ends a member’s open streams when the admin revokes the member', async () => {
    const bob = await h.addMember('bob');
    const stream = openStream(h.url, bob);
    await stream.waitFor(/event: ready/);
    const revoked = await h.api('POST', '/admin/members/bob/revoke', { token: ADMIN });
    expect(revoked.status).toBe(200);
    await stream.ended;
  });

  it('ends them at the next heartbeat when the member is revoked by another process (the CLI)', async () => {
    const carol = await h.addMember('carol');
    const stream = openStream(h.url, carol);
    await stream.waitFor(/event: ready/);
    await h.relay.context.store.revokeMember('carol', Date.now());
    await stream.ended;
  });

  it(`keeps at most ${MAX_STREAMS_PER_MEMBER} streams per member, closing the oldest`, async () => {
    const dave = await h.addMember('dave');
    const streams = [];
    for (let i = 0; i <= MAX_STREAMS_PER_MEMBER; i++) {
      const s = openStream(h.url, dave);
      await s.waitFor(/event: ready/);
      streams.push(s);
    }
    await streams[0]?.ended;
    expect(
      h.relay.context.memberStreams.get((await h.relay.context.store.getMemberByName('dave'))?.id as string)
        ?.size,
    ).toBe(MAX_STREAMS_PER_MEMBER);
    for (const s of streams) s.close();
  });

  it('resets a stream whose Last-Event-ID is beyond the sequence, then delivers new events', async () => {
    const stream = openStream(h.url, h.token, { 'last-event-id': '999999999999999' });
    await stream.waitFor(/event: ready/);
    expect(stream.text()).toContain('event: reset');
    await runJob();
    await stream.waitFor(/event: job/);
    stream.close();
  });

  it('learns the newest sequence number without reading the member’s history when resetting', async () => {
    await runJob();
    const store = h.relay.context.store;
    const limits: number[] = [];
    const original = store.eventsAfter;
    store.eventsAfter = (memberId, seq, limit) => {
      limits.push(limit);
      return original(memberId, seq, limit);
    };
    try {
      await store.pruneEvents(Date.now() + 1);
      await runJob();
      const stream = openStream(h.url, h.token, { 'last-event-id': '1' });
      await stream.waitFor(/event: ready/);
      expect(stream.text()).toContain('event: reset');
      stream.close();
    } finally {
      store.eventsAfter = original;
    }
    expect(Math.max(...limits)).toBeLessThanOrEqual(1000);
  });
});
