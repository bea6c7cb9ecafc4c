import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { createSimulator } from '@retalk/simulator';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FIXTURES,
  type Harness,
  PROVIDER_KEY,
  type Simulator,
  seen,
  startRelay,
  tempDir,
  until,
} from './harness.js';

// Issue 8: the provider fetches the relay's copy of each input. A relay restart while it does
// (a deploy) used to end the job failed with the provider's download error. The signed links
// outlive the restart (the signing secret is kept in the store), so the restarted relay sends the
// job again. The network between provider and relay is a small proxy here, which can hold the
// provider's download and then cut it, as the relay going away mid-download does.

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Forwards everything to the relay's port; while `hold` is on, file downloads are held open. */
async function startProxy(relayPort: () => number) {
  const held: Socket[] = [];
  let hold = false;
  const server: Server = createServer((req, res) => {
    if (hold && req.url?.startsWith('/files/')) {
      held.push(req.socket);
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port: relayPort(), path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held: () => held.length,
    setHold(on: boolean) {
      hold = on;
    },
    /** Cuts every held download, as a relay that went away mid-transfer does. */
    cutHeld() {
      for (const socket of held.splice(0)) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The port the relay listens on (its `url` is the public one: the proxy). */
const listenPort = (h: Harness) => (h.relay.app.server.address() as AddressInfo).port;

/** The simulator's view of an EvoLink task. */
async function simTask(sim: Simulator, id: string): Promise<{ status: string; error?: { code: string } }> {
  const res = await fetch(`${sim.url}/v1/tasks/${id}`, {
    headers: { authorization: `Bearer ${PROVIDER_KEY}` },
  });
  return (await res.json()) as { status: string; error?: { code: string } };
}

describe('a relay restart while the provider downloads its inputs', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('sends the job again after the restart, and it succeeds with the same files', async () => {
    const sim = await createSimulator({ jobMs: 200, apiKeys: [PROVIDER_KEY] });
    open.push(sim);
    let relayPort = 0;
    const proxy = await startProxy(() => relayPort);
    open.push(proxy);
    const dataDir = tempDir();
    const env = { RETALK_PUBLIC_URL: proxy.url };
    const first = await startRelay({ provider: 'evolink', sim, dataDir, env });
    open.push(first);
    relayPort = listenPort(first);

    proxy.setHold(true);
    const video = await first.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await first.upload('audio', 'speech-4s.wav');
    const created = await first.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    expect(created.status).toBe(201);
    // The provider has the job and is downloading the relay's copies…
    const submitted = await first.waitForJob(created.json.id, (j) => j.upstreamId !== undefined);
    await until(() => proxy.held() >= 2);
    // …when the relay stops, and its downloads are cut.
    await first.stopRelay();
    proxy.cutHeld();
    const upstreamId = submitted.upstreamId as string;
    let failed = await simTask(sim, upstreamId);
    while (failed.status !== 'failed') {
      await new Promise((r) => setTimeout(r, 25));
      failed = await simTask(sim, upstreamId);
    }
    expect(failed.error?.code).toBe('invalid_parameters');

    proxy.setHold(false);
    const second = await startRelay({ provider: 'evolink', sim, dataDir, env, port: relayPort });
    open.push(second);
    const done = await second.waitForJob(
      created.json.id,
      (j) => j.status === 'succeeded' || j.status === 'failed',
      30_000,
      first.token,
    );
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.upstreamId).not.toBe(upstreamId);
    expect(sim.stats().submits).toBe(2);
    // The second task fetched the same bytes the member uploaded.
    const got = sim.stats().inputs.filter((i) => i.taskId === done.upstreamId);
    expect(got.find((i) => i.kind === 'video')?.sha256).toBe(
      sha256(path.join(FIXTURES, 'talking-640x640-25fps-3s.mp4')),
    );
    expect(got.find((i) => i.kind === 'audio')?.sha256).toBe(sha256(path.join(FIXTURES, 'speech-4s.wav')));
    expect(
      seen.logLines.some((l) => l.includes('while the relay was restarting; sending the job again')),
    ).toBe(true);
  });

  it('still fails a job whose inputs the provider could not fetch while the relay was up', async () => {
    const sim = await createSimulator({ jobMs: 200, apiKeys: [PROVIDER_KEY] });
    open.push(sim);
    let relayPort = 0;
    const proxy = await startProxy(() => relayPort);
    open.push(proxy);
    const h: Harness = await startRelay({ provider: 'evolink', sim, env: { RETALK_PUBLIC_URL: proxy.url } });
    open.push(h);
    relayPort = listenPort(h);
    proxy.setHold(true);
    const created = await h.api('POST', '/v1/jobs', {
      body: {
        video: { uploadId: await h.upload('video', 'talking-640x640-25fps-3s.mp4') },
        audio: { uploadId: await h.upload('audio', 'speech-4s.wav') },
      },
    });
    await until(() => proxy.held() >= 2);
    proxy.cutHeld();
    const done = await h.waitForJob(
      created.json.id,
      (j) => j.status === 'failed' || j.status === 'succeeded',
    );
    expect(done.status).toBe('failed');
    expect(done.error?.message).toMatch(/InvalidURL/);
    expect(sim.stats().submits).toBe(1);
  });
});
