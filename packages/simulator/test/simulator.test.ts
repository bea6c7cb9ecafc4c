import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createSimulator, SIMULATOR_API_KEY } from '../src/index.js';
import { evolinkBody, evolinkCreate, fixtureBytes, VIDEO } from './sim-requests.js';

function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

describe('createSimulator', () => {
  it('listens on a loopback port and exposes the contract URLs and key', async () => {
    const sim = await createSimulator();
    try {
      expect(SIMULATOR_API_KEY).toBe('sim-key');
      expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(sim.dashscopeUrl).toBe(`${sim.url}/api/v1`);
      expect(sim.fixtureUrl(VIDEO)).toBe(`${sim.url}/fixtures/${VIDEO}`);
    } finally {
      await sim.close();
    }
  });

  it('serves fixtures with Range support and refuses unknown names', async () => {
    const sim = await createSimulator();
    try {
      const whole = await fetch(sim.fixtureUrl(VIDEO));
      expect(whole.headers.get('content-type')).toBe('video/mp4');
      expect(Buffer.from(await whole.arrayBuffer()).equals(fixtureBytes(VIDEO))).toBe(true);
      const part = await fetch(sim.fixtureUrl('speech-4s.wav'), { headers: { range: 'bytes=4-11' } });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer()).toString('latin1')).toBe(
        fixtureBytes('speech-4s.wav').subarray(4, 12).toString('latin1'),
      );
      const missing = await fetch(`${sim.url}/fixtures/nope.mp4`);
      expect(missing.status).toBe(404);
      await missing.arrayBuffer();
      const traversal = await fetch(`${sim.url}/fixtures/..%2Fpackage.json`);
      expect(traversal.status).toBe(404);
      await traversal.arrayBuffer();
    } finally {
      await sim.close();
    }
  });

  it('refuses bad options with a message naming the option', async () => {
    await expect(createSimulator({ jobMs: 0 })).rejects.toThrow(/jobMs/);
    await expect(createSimulator({ callbackRetryDelaysMs: [-1] })).rejects.toThrow(/callbackRetryDelaysMs/);
    await expect(createSimulator({ apiKeys: [] })).rejects.toThrow(/apiKeys/);
    const sim = await createSimulator();
    try {
      expect(() => sim.advanceTime(-5)).toThrow(/advanceTime/);
    } finally {
      await sim.close();
    }
  });

  it('uses the injected clock for ids and times', async () => {
    const fixed = Date.UTC(2030, 0, 2, 3, 4, 5);
    const sim = await createSimulator({ now: () => fixed, jobMs: 100 });
    try {
      const { body } = await evolinkCreate(sim, evolinkBody(sim));
      expect(body.created).toBe(fixed / 1000);
      expect(body.id).toMatch(new RegExp(`^task-unified-${fixed / 1000}-`));
    } finally {
      await sim.close();
    }
  });

  it('leaves no server, socket or timer behind after close(), even with tasks and downloads in flight', async () => {
    const slowOrigin = createServer(() => {
      // Never answers: the simulator's download of this input is still open at close().
    });
    await new Promise<void>((r) => slowOrigin.listen(0, '127.0.0.1', r));
    const originUrl = `http://127.0.0.1:${(slowOrigin.address() as AddressInfo).port}/video.mp4`;
    await new Promise((r) => setTimeout(r, 50));
    const before = handleCounts();
    const sim = await createSimulator({ jobMs: 5000, allowInsecureCallbacks: true });
    await evolinkCreate(sim, evolinkBody(sim, { callback_url: 'http://127.0.0.1:9/never' }));
    const slowInput = await evolinkCreate(
      sim,
      evolinkBody(sim, { video_url: `${sim.fixtureUrl(VIDEO)}?sim_delay_ms=5000` }),
    );
    expect(slowInput.status).toBe(200);
    let originConnections = 0;
    slowOrigin.on('connection', () => originConnections++);
    expect((await evolinkCreate(sim, evolinkBody(sim, { audio_url: originUrl }))).status).toBe(200);
    // Close only once both downloads are really open: the delayed fixture and the silent origin.
    await expect.poll(() => sim.stats().requests['fixture.download'] ?? 0).toBeGreaterThanOrEqual(1);
    await expect.poll(() => originConnections).toBeGreaterThanOrEqual(1);
    await sim.close();
    slowOrigin.closeAllConnections();
    await new Promise<void>((r) => slowOrigin.close(() => r()));
    // Sockets finish closing on a later turn of the event loop: wait for the counts to come back.
    for (const kind of ['TCPServerWrap', 'TCPSocketWrap', 'Timeout']) {
      await expect
        .poll(() => handleCounts()[kind] ?? 0, { message: kind, timeout: 10_000 })
        .toBeLessThanOrEqual(before[kind] ?? 0);
    }
  });
});
