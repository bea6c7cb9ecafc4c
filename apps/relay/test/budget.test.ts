import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startRelay } from './harness.js';

describe('budgets', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({ provider: 'evolink', jobMs: 500 });
  });
  afterAll(async () => {
    await h.close();
  });

  async function inputs(token: string) {
    return {
      video: { uploadId: await h.upload('video', 'talking-640x640-25fps-3s.mp4', token) },
      audio: { uploadId: await h.upload('audio', 'speech-4s.wav', token) },
    };
  }

  it('reserve the estimate at submit, settle the billed seconds, and refund failures', async () => {
    const token = await h.addMember('dana', { budgetSeconds: 10, period: 'day' });
    const body = await inputs(token);
    const created = await h.api('POST', '/v1/jobs', { token, body });
    expect(created.status).toBe(201);
    const reserved = await h.api('GET', '/v1/me', { token });
    expect(reserved.json.budget).toMatchObject({
      limitSeconds: 10,
      period: 'day',
      reservedSeconds: 3,
      usedSeconds: 0,
      remainingSeconds: 7,
    });

    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded', 10_000, token);
    const settled = await h.api('GET', '/v1/me', { token });
    expect(settled.json.budget).toMatchObject({
      reservedSeconds: 0,
      usedSeconds: done.billedSeconds,
      remainingSeconds: 10 - (done.billedSeconds ?? 0),
    });

    h.sim.nextScenario('fail:content_policy_violation');
    const failing = await h.api('POST', '/v1/jobs', { token, body });
    await h.waitForJob(failing.json.id, (j) => j.status === 'failed', 10_000, token);
    const refunded = await h.api('GET', '/v1/me', { token });
    expect(refunded.json.budget).toMatchObject({ reservedSeconds: 0, usedSeconds: done.billedSeconds });
  });

  it('answer 402 with what is left when a job would exceed the budget', async () => {
    const token = await h.addMember('erin', { budgetSeconds: 2, period: 'month' });
    const res = await h.api('POST', '/v1/jobs', { token, body: await inputs(token) });
    expect(res.status).toBe(402);
    expect(res.json.error.code).toBe('budget_exceeded');
    expect(res.json.error.message).toMatch(/needs about 3 s .* only 2 s/);
    expect(
      await h.relay.context.store.countActiveJobs((await h.relay.context.store.getMemberByName('erin'))!.id),
    ).toBe(0);
  });

  it('never overspend when many jobs of one member arrive at once', async () => {
    // 10 s of budget, 3 s per job: of eight simultaneous submits exactly three fit, on either store.
    const token = await h.addMember('gus', { budgetSeconds: 10, period: 'month', maxConcurrentJobs: 100 });
    const body = await inputs(token);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => h.api('POST', '/v1/jobs', { token, body })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, 201, 201, 402, 402, 402, 402, 402]);
    const { budget } = (await h.api('GET', '/v1/me', { token })).json;
    // Reserved while running, used once done: either way the three jobs hold 9 s.
    expect(budget.usedSeconds + budget.reservedSeconds).toBe(9);
    expect(budget.remainingSeconds).toBe(1);
  });

  it('limit jobs in flight per member with a 429', async () => {
    const token = await h.addMember('fay', { maxConcurrentJobs: 1 });
    const body = await inputs(token);
    h.sim.nextScenario('stuck');
    expect((await h.api('POST', '/v1/jobs', { token, body })).status).toBe(201);
    const second = await h.api('POST', '/v1/jobs', { token, body });
    expect(second.status).toBe(429);
    expect(second.json.error.code).toBe('too_many_jobs');
  });
});
