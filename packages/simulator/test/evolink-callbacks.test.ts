import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import {
  evolinkBody,
  evolinkCreate,
  evolinkGet,
  JSON_AUTH,
  type Receiver,
  startReceiver,
  waitFor,
} from './sim-requests.js';

// Delays scaled down from the documented 1 s / 2 s / 4 s.
const DELAYS_MS = [40, 80, 160];
let sim: Simulator;
let receiver: Receiver | undefined;

beforeAll(async () => {
  sim = await createSimulator({ jobMs: 100, allowInsecureCallbacks: true, callbackRetryDelaysMs: DELAYS_MS });
});
afterAll(() => sim.close());
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

describe('EvoLink callbacks', () => {
  it('POSTs the exact task-query body to callback_url once the task is terminal, without being polled', async () => {
    receiver = await startReceiver([200]);
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim, { callback_url: receiver.url }));
    await waitFor(
      async () => receiver?.hits.length ?? 0,
      (n) => n >= 1,
    );
    const hit = receiver.hits[0];
    expect(hit?.headers['content-type']).toBe('application/json');
    const { body: queried } = await evolinkGet(sim, created.id);
    expect(hit?.body).toEqual(queried);
    expect(hit?.body.status).toBe('completed');
    expect(sim.stats().callbacks).toEqual([
      { taskId: created.id, url: receiver.url, attempt: 1, status: 200, ok: true },
    ]);
  });

  it('retries a failing receiver after each configured delay and stops at the first 2xx', async () => {
    receiver = await startReceiver([500, 503, 204]);
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim, { callback_url: receiver.url }));
    await waitFor(
      async () => receiver?.hits.length ?? 0,
      (n) => n >= 3,
    );
    await new Promise((r) => setTimeout(r, DELAYS_MS[2]! + 60));
    expect(receiver.hits).toHaveLength(3);
    const gaps = receiver.hits.slice(1).map((h, i) => h.at - (receiver?.hits[i]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(DELAYS_MS[0]! - 5);
    expect(gaps[1]).toBeGreaterThanOrEqual(DELAYS_MS[1]! - 5);
    const attempts = sim.stats().callbacks.filter((c) => c.taskId === created.id);
    expect(attempts.map((a) => a.status)).toEqual([500, 503, 204]);
  });

  it('gives up after three retries (four attempts in all)', async () => {
    receiver = await startReceiver([500]);
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim, { callback_url: receiver.url }));
    await waitFor(
      async () => receiver?.hits.length ?? 0,
      (n) => n >= 4,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.hits).toHaveLength(4);
    expect(sim.stats().callbacks.filter((c) => c.taskId === created.id && !c.ok)).toHaveLength(4);
  });

  it('sends failed tasks too, with the task_error in the body', async () => {
    receiver = await startReceiver([200]);
    await evolinkCreate(sim, evolinkBody(sim, { callback_url: receiver.url }), {
      ...JSON_AUTH,
      'x-sim-scenario': 'fail:generation_timeout',
    });
    await waitFor(
      async () => receiver?.hits.length ?? 0,
      (n) => n >= 1,
    );
    expect(receiver.hits[0]?.body).toMatchObject({
      status: 'failed',
      progress: 0,
      error: { code: 'generation_timeout', type: 'task_error' },
    });
  });

  it('counts a receiver slower than callbackTimeoutMs as a failure and retries', async () => {
    const slowSim = await createSimulator({
      jobMs: 100,
      allowInsecureCallbacks: true,
      callbackRetryDelaysMs: [20],
      callbackTimeoutMs: 50,
    });
    const { createServer } = await import('node:http');
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      setTimeout(() => res.writeHead(200).end(), 200).unref();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const { body: created } = await evolinkCreate(
        slowSim,
        evolinkBody(slowSim, { callback_url: `http://127.0.0.1:${port}/cb` }),
      );
      const attempts = await waitFor(
        async () => slowSim.stats().callbacks.filter((c) => c.taskId === created.id),
        (list) => list.length >= 2,
      );
      expect(attempts.map((a) => a.error)).toEqual(['timeout', 'timeout']);
      expect(hits).toBe(2);
    } finally {
      await slowSim.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
