import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startRelay } from './harness.js';

describe('RETALK_INPUT_ROUTE=provider', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
  });

  it('sends DashScope uploads through its temporary storage instead of relay links', async () => {
    h = await startRelay({ provider: 'dashscope', jobMs: 300, env: { RETALK_INPUT_ROUTE: 'provider' } });
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    const done = await h.waitForJob(
      created.json.id,
      (j) => j.status === 'succeeded' || j.status === 'failed',
    );
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('succeeded');
    expect(h.sim.stats().requests['oss.upload']).toBe(2);
    const metrics = await h.api('GET', '/metrics', { token: null });
    expect(metrics.text).not.toContain('/files/uploads/:id');
  });

  it('sends only images to the EvoLink files API (images only, audit row 3); video and audio go by relay link', async () => {
    // Relay links need the relay's public address (placement.ts); on loopback here.
    const port = await freePort();
    h = await startRelay({
      provider: 'evolink',
      jobMs: 300,
      port,
      env: { RETALK_INPUT_ROUTE: 'provider', RETALK_PUBLIC_URL: `http://127.0.0.1:${port}` },
    });
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const face = await h.upload('image', 'face.png');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio }, refImage: { uploadId: face } },
    });
    const done = await h.waitForJob(
      created.json.id,
      (j) => j.status === 'succeeded' || j.status === 'failed',
    );
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('succeeded');
    expect(h.sim.stats().requests['evolink.files.upload']).toBe(1);
    const metrics = await h.api('GET', '/metrics', { token: null });
    expect(metrics.text).toContain('/files/uploads/:id');
  });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
