import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startRelay } from './harness.js';

async function readStream(url: string, headers: Record<string, string>, untilMs: number): Promise<string> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), untilMs);
  let text = '';
  try {
    const res = await fetch(url, { headers, signal: stop.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
      text += decoder.decode(chunk, { stream: true });
  } catch {
    // aborted on purpose
  } finally {
    clearTimeout(timer);
  }
  return text;
}

describe('GET /v1/events', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({ provider: 'evolink', jobMs: 300 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('sends heartbeats and a ready event, and replays what a member missed after Last-Event-ID', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    await h.waitForJob(created.json.id, (j) => j.status === 'succeeded');
    const auth = { authorization: `Bearer ${h.token}` };

    const live = await readStream(`${h.url}/v1/events`, auth, 500);
    expect(live).toMatch(/^retry: \d+/);
    expect(live).toContain('event: ready');
    expect(live).toContain(': ping');
    expect(live).not.toContain('event: job');

    const replay = await readStream(`${h.url}/v1/events`, { ...auth, 'last-event-id': '0' }, 300);
    const ids = [...replay.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(replay).toContain('"status":"succeeded"');
  });

  it('tells a client whose resume point was pruned to refetch, instead of silently skipping', async () => {
    await h.relay.context.store.pruneEvents(Date.now() + 1);
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    await h.waitForJob(created.json.id, (j) => j.status === 'succeeded');
    const text = await readStream(
      `${h.url}/v1/events`,
      { authorization: `Bearer ${h.token}`, 'last-event-id': '1' },
      300,
    );
    expect(text).toContain('event: reset');
    expect(text).toContain('refetch GET /v1/jobs');
  });
});
