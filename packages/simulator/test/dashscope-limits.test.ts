import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import { dsBody, dsCreate, dsGet, type Json, waitFor } from './sim-requests.js';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('DashScope rate limits', () => {
  it('answers 429 Throttling.RateQuota to a second submit within one second, and accepts it a second later', async () => {
    sim = await createSimulator({ jobMs: 200, limits: { dashscopeConcurrentTasks: 5 } });
    const first = await dsCreate(sim, dsBody(sim));
    expect(first.status).toBe(200);
    const second = await dsCreate(sim, dsBody(sim));
    expect(second.status).toBe(429);
    expect(second.body).toMatchObject({
      code: 'Throttling.RateQuota',
      message: 'Requests rate limit exceeded, please try again later.',
    });
    sim.advanceTime(1000);
    expect((await dsCreate(sim, dsBody(sim))).status).toBe(200);
    const stats = sim.stats();
    expect(stats.submits).toBe(2);
    expect(stats.throttled).toBe(1);
    expect(stats.requests['dashscope.create']).toBe(3);
  });

  it('runs one task at a time per key: the next stays PENDING until the running one ends', async () => {
    sim = await createSimulator({
      jobMs: 200,
      limits: {
        dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY,
        dashscopeQueriesPerSecond: Number.POSITIVE_INFINITY,
      },
    });
    const s = sim;
    const a = (await dsCreate(s, dsBody(s))).body.output.task_id as string;
    const b = (await dsCreate(s, dsBody(s))).body.output.task_id as string;
    const states: Array<[string, string]> = [];
    await waitFor(
      async () => {
        const [ra, rb] = await Promise.all([dsGet(s, a), dsGet(s, b)]);
        states.push([ra.body.output.task_status, rb.body.output.task_status]);
        return [ra.body.output, rb.body.output] as Json[];
      },
      ([, ob]) => ob?.task_status === 'SUCCEEDED',
      { intervalMs: 10 },
    );
    for (const [sa, sb] of states) {
      const aRunning = !['PENDING', 'SUCCEEDED'].includes(sa);
      const bRunning = !['PENDING', 'SUCCEEDED'].includes(sb);
      expect(aRunning && bRunning).toBe(false);
    }
    expect(states.some(([sa, sb]) => sa !== 'PENDING' && sa !== 'SUCCEEDED' && sb === 'PENDING')).toBe(true);
    const [oa, ob] = [(await dsGet(s, a)).body.output, (await dsGet(s, b)).body.output];
    expect(ob.scheduled_time >= oa.end_time).toBe(true);
  });

  it('answers 429 to the 21st query within one second', async () => {
    sim = await createSimulator({ jobMs: 200 });
    const id = (await dsCreate(sim, dsBody(sim))).body.output.task_id as string;
    const results = [];
    for (let i = 0; i < 21; i++) results.push(await dsGet(sim, id));
    expect(results.slice(0, 20).every((r) => r.status === 200)).toBe(true);
    expect(results[20]?.status).toBe(429);
    expect(results[20]?.body.code).toBe('Throttling.RateQuota');
    expect(sim.stats().tasks[id]?.queries).toBe(21);
    sim.advanceTime(1000);
    expect((await dsGet(sim, id)).status).toBe(200);
  });

  it('counts limits per key and lets Infinity switch them off', async () => {
    sim = await createSimulator({ jobMs: 200, apiKeys: ['k1', 'k2'] });
    const h = (key: string) => ({
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'x-dashscope-async': 'enable',
    });
    expect((await dsCreate(sim, dsBody(sim), h('k1'))).status).toBe(200);
    expect((await dsCreate(sim, dsBody(sim), h('k2'))).status).toBe(200);
    expect((await dsCreate(sim, dsBody(sim), h('k1'))).status).toBe(429);
    const open = await createSimulator({
      jobMs: 200,
      limits: { dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY },
    });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await dsCreate(open, dsBody(open))).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
    } finally {
      await open.close();
    }
  });
});
