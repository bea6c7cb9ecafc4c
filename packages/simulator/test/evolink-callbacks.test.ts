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

/** Every callback attempt for the task, once the simulator says no further attempt follows. */
async function deliveryOf(taskId: string) {
  return waitFor(
    async () => sim.stats().callbacks.filter((c) => c.taskId === taskId),
    (list) => list.some((c) => c.final),
  );
}

/** What this test's receiver got about one task (a stray attempt for an earlier task cannot count). */
function hitsOf(taskId: string) {
  return (receiver?.hits ?? []).filter((h) => h.body.id === taskId);
}

describe('EvoLink callbacks', () => {
  it('POSTs the exact task-query body to callback_url once the task is terminal, without being polled', async () => {
    receiver = await startReceiver([200]);
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim, { callback_url: receiver.url }));
    const attempts = await deliveryOf(created.id);
    const hits = hitsOf(created.id);
    expect(hits).toHaveLength(1);
    expect(hits[0]?.headers['content-type']).toBe('application/json');
    const { body: queried } = await evolinkGet(sim, created.id);
    expect(hits[0]?.body).toEqual(queried);
    expect(hits[0]?.body.status).toBe('completed');
    expect(attempts).toEqual([
      { taskId: created.id, url: receiver.url, attempt: 1, status: 200, ok: true, final: true },
    ]);
  });

  it('retries a failing receiver after each configured delay and stops at the first 2xx', async () => {
    receiver = await startReceiver([500, 503, 204]);
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim, { callback_url: receiver.url }));
    // The simulator marks the attempt after which nothing more is scheduled: no waiting for silence.
    const attempts = await deliveryOf(created.id);
    expect(attempts.map((a) => [a.attempt, a.status, a.final])).toEqual([
      [1, 500, false],
      [2, 503, false],
      [3, 204, true],
    ]);
    const hits = hitsOf(created.id);
    expect(hits).toHaveLength(3);
    const gaps = hits.slice(1).map((h, i) => h.at - (hits[i]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(DELAYS_MS[0]! - 5);
    expect(gaps[1]).toBeGreaterThanOrEqual(DELAYS_MS[1]! - 5);
  });

  it('gives up after three retries (four attempts in all)', async () => {
    receiver = await startReceiver([500]);
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim, { callback_url: receiver.url }));
    const attempts = await deliveryOf(created.id);
    expect(attempts.map((a) => [a.attempt, a.ok, a.final])).toEqual([
      [1, false, false],
      [2, false, false],
      [3, false, false],
      [4, false, true],
    ]);
    expect(hitsOf(created.id)).toHaveLength(4);
  });

  it('sends failed tasks too, with the task_error in the body', async () => {
    receiver = await startReceiver([200]);
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim, { callback_url: receiver.url }), {
      ...JSON_AUTH,
      'x-sim-scenario': 'fail:generation_timeout',
    });
    await deliveryOf(created.id);
    const hits = hitsOf(created.id);
    expect(hits).toHaveLength(1);
    expect(hits[0]?.body).toMatchObject({
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
        (list) => list.some((c) => c.final),
      );
      expect(attempts.map((a) => [a.error, a.final])).toEqual([
        ['timeout', false],
        ['timeout', true],
      ]);
      expect(hits).toBe(2);
    } finally {
      await slowSim.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
