import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import { DS_HEADERS, dsBody, dsCreate, dsGet, type Json, waitFor } from './sim-requests.js';

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

  it('validates the body before the submit quota: a malformed submit gets 400 and does not use up the second', async () => {
    sim = await createSimulator({ jobMs: 200, limits: { dashscopeConcurrentTasks: 5 } });
    const s = sim;
    const malformed = [
      await dsCreate(s, dsBody(s, { audio_url: '' })),
      await dsCreate(s, { ...dsBody(s), model: 'videoretalk-pro' }),
      await dsCreate(s, dsBody(s, {}, { query_face_threshold: 500 })),
      await dsCreate(s, dsBody(s, { video_url: `${s.fixtureUrl('x.mp4')}?sim=explode` })),
    ];
    expect(malformed.map((r) => [r.status, r.body.code])).toEqual([
      [400, 'InvalidParameter'],
      [400, 'InvalidParameter'],
      [400, 'InvalidParameter'],
      [400, 'InvalidParameter'],
    ]);
    const valid = await dsCreate(s, dsBody(s));
    expect(valid.status).toBe(200);
    // Within the same second the quota is spent: a malformed body still gets its 400, a valid one 429.
    expect((await dsCreate(s, dsBody(s, { video_url: 'ftp://x/v.mp4' }))).status).toBe(400);
    expect((await dsCreate(s, dsBody(s))).status).toBe(429);
    const stats = s.stats();
    expect(stats.submits).toBe(1);
    expect(stats.throttled).toBe(1);
  });

  it('leaves a queued scenario for the retry of a throttled submit', async () => {
    sim = await createSimulator({ jobMs: 200, limits: { dashscopeConcurrentTasks: 5 } });
    expect((await dsCreate(sim, dsBody(sim))).status).toBe(200);
    sim.nextScenario('reject:400:DataInspectionFailed');
    expect((await dsCreate(sim, dsBody(sim))).status).toBe(429);
    sim.advanceTime(1000);
    const retried = await dsCreate(sim, dsBody(sim));
    expect([retried.status, retried.body.code]).toEqual([400, 'DataInspectionFailed']);
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
        // Read b before a, one after the other: two concurrent reads are no snapshot (under load a
        // could be read before it ended and b after it started), while b-then-a is exact — if b
        // was already running, a had ended before that, so a must read as ended.
        const rb = await dsGet(s, b);
        const ra = await dsGet(s, a);
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

  it('lets the keys of one Alibaba Cloud account share tasks and limits (audit row 6)', async () => {
    const frozen = Date.now();
    sim = await createSimulator({
      jobMs: 200,
      // A stopped clock: the three submits fall in one second however slow the machine is.
      now: () => frozen,
      apiKeys: ['k1', 'k2', 'k3'],
      dashscopeAccounts: [['k1', 'k2']],
    });
    const as = (key: string) => ({ ...DS_HEADERS, authorization: `Bearer ${key}` });
    const first = await dsCreate(sim, dsBody(sim), as('k1'));
    expect(first.status).toBe(200);
    // Same account, same second: the account's 1 submit/s is used up.
    expect((await dsCreate(sim, dsBody(sim), as('k2'))).status).toBe(429);
    // Another account has its own.
    expect((await dsCreate(sim, dsBody(sim), as('k3'))).status).toBe(200);
    const id = first.body.output.task_id;
    const seen = await dsGet(sim, id, sim.dashscopeUrl, { authorization: 'Bearer k2' });
    expect(seen.body.output.task_status).not.toBe('UNKNOWN');
    const stranger = await dsGet(sim, id, sim.dashscopeUrl, { authorization: 'Bearer k3' });
    expect(stranger.body.output.task_status).toBe('UNKNOWN');
  });
});

describe('DashScope outages and the per-account task count', () => {
  it('answers every request of a key in an outage with its error until it is cleared, other keys untouched', async () => {
    sim = await createSimulator({
      jobMs: 200,
      apiKeys: ['k1', 'k2'],
      limits: { dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY, dashscopeConcurrentTasks: 5 },
    });
    const h = (key: string) => ({
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'x-dashscope-async': 'enable',
    });
    sim.setOutage('k1', { status: 503 });
    const stormy = await dsCreate(sim, dsBody(sim), h('k1'));
    expect([stormy.status, stormy.body.code]).toEqual([503, 'ModelUnavailable']);
    expect((await dsCreate(sim, dsBody(sim), h('k2'))).status).toBe(200);
    sim.setOutage('k1', { status: 400, code: 'Arrearage' });
    expect((await dsCreate(sim, dsBody(sim), h('k1'))).body.code).toBe('Arrearage');
    sim.setOutage('k1', undefined);
    expect((await dsCreate(sim, dsBody(sim), h('k1'))).status).toBe(200);
    expect(() => sim?.setOutage('not-a-key', { status: 503 })).toThrow(/not one of apiKeys/);
    // Tasks not ended, per account, named without the key: two on k2's account at once.
    expect((await dsCreate(sim, dsBody(sim), h('k2'))).status).toBe(200);
    expect(sim.stats().peakTasksPerAccount).toEqual({ 'key-1': 1, 'key-2': 2 });
  });
});
