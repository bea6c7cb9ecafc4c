import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, ScenarioError, type Simulator } from '../src/index.js';
import {
  AUTH,
  DS_HEADERS,
  dsBody,
  dsCreate,
  dsGet,
  evolinkBody,
  evolinkCreate,
  evolinkGet,
  fixtureBytes,
  JSON_AUTH,
  VIDEO,
  waitFor,
} from './sim-requests.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await createSimulator({
    jobMs: 150,
    limits: {
      dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY,
      dashscopeQueriesPerSecond: Number.POSITIVE_INFINITY,
    },
  });
});
afterAll(() => sim.close());

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('scenario sources', () => {
  it('applies sim.nextScenario() to the next create only', async () => {
    sim.nextScenario('reject:503');
    expect((await evolinkCreate(sim, evolinkBody(sim))).status).toBe(503);
    expect((await evolinkCreate(sim, evolinkBody(sim))).status).toBe(200);
  });

  it('reads ?sim= on the video URL, and the sim still fetches that URL', async () => {
    const video_url = `${sim.fixtureUrl(VIDEO)}?sim=fail:generation_failed_no_content`;
    const { body } = await evolinkCreate(sim, evolinkBody(sim, { video_url }));
    const done = await waitFor(
      () => evolinkGet(sim, body.id).then((r) => r.body),
      (b) => b.status === 'failed',
    );
    expect(done.error.code).toBe('generation_failed_no_content');
  });

  it('reads the X-Sim-Scenario header, combining several scenarios joined by commas', async () => {
    const res = await dsCreate(sim, dsBody(sim), {
      ...DS_HEADERS,
      'x-sim-scenario': 'flaky:1,fail:InvalidFile.FPS',
    });
    const id = res.body.output.task_id;
    expect((await dsGet(sim, id)).status).toBe(503);
    const done = await waitFor(
      () => dsGet(sim, id).then((r) => r.body),
      (b) => b.output.task_status === 'FAILED',
    );
    expect(done.output.code).toBe('InvalidFile.FPS');
  });

  it('refuses an unknown scenario with a 400 naming the grammar, and nextScenario throws', async () => {
    const evo = await evolinkCreate(sim, evolinkBody(sim), { ...JSON_AUTH, 'x-sim-scenario': 'explode' });
    expect(evo.status).toBe(400);
    expect(evo.body.error.message).toContain('fail:<CODE>');
    const ds = await dsCreate(sim, dsBody(sim, { video_url: `${sim.fixtureUrl(VIDEO)}?sim=flaky:x` }));
    expect(ds.status).toBe(400);
    expect(ds.body.code).toBe('InvalidParameter');
    expect(() => sim.nextScenario('reject:200')).toThrow(ScenarioError);
  });
});

describe('scenario effects', () => {
  it('reject:<HTTP>:<CODE> answers that status and provider code at create', async () => {
    const ds = await dsCreate(sim, dsBody(sim), {
      ...DS_HEADERS,
      'x-sim-scenario': 'reject:429:Throttling.AllocationQuota',
    });
    expect(ds.status).toBe(429);
    expect(ds.body.code).toBe('Throttling.AllocationQuota');
    const evo = await evolinkCreate(sim, evolinkBody(sim), {
      ...JSON_AUTH,
      'x-sim-scenario': 'reject:403:model_access_denied',
    });
    expect(evo.status).toBe(403);
    expect(evo.body.error.code).toBe('model_access_denied');
  });

  it('retry-after:<S> answers 429 with Retry-After once, then accepts the same request', async () => {
    for (const create of [
      () => evolinkCreate(sim, evolinkBody(sim), { ...JSON_AUTH, 'x-sim-scenario': 'retry-after:3' }),
      () => dsCreate(sim, dsBody(sim), { ...DS_HEADERS, 'x-sim-scenario': 'retry-after:3' }),
    ]) {
      const first = await create();
      expect(first.status).toBe(429);
      expect(first.headers.get('retry-after')).toBe('3');
      expect((await create()).status).toBe(200);
    }
  });

  it('retry-after applies to each separate submit once, whatever its source', async () => {
    const video_url = `${sim.fixtureUrl(VIDEO)}?sim=retry-after:1`;
    const statuses = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await evolinkCreate(sim, evolinkBody(sim, { video_url }))).status);
    expect(statuses).toEqual([429, 200, 429, 200]);
    sim.nextScenario('retry-after:2');
    const queued = await dsCreate(sim, dsBody(sim));
    expect(queued.status).toBe(429);
    expect(queued.headers.get('retry-after')).toBe('2');
    expect((await dsCreate(sim, dsBody(sim))).status).toBe(200);
  });

  it('flaky:<N>[:<HTTP>] makes the next N queries answer 5xx in the provider envelope', async () => {
    const evo = await evolinkCreate(sim, evolinkBody(sim), { ...JSON_AUTH, 'x-sim-scenario': 'flaky:2:500' });
    const a = await evolinkGet(sim, evo.body.id);
    const b = await evolinkGet(sim, evo.body.id);
    expect([a.status, b.status]).toEqual([500, 500]);
    expect(a.body.error).toMatchObject({ code: 'internal_error', message: 'Failed to retrieve task status' });
    expect((await evolinkGet(sim, evo.body.id)).status).toBe(200);
    const ds = await dsCreate(sim, dsBody(sim), { ...DS_HEADERS, 'x-sim-scenario': 'flaky:2:504' });
    const id = ds.body.output.task_id;
    const c = await dsGet(sim, id);
    expect(c.status).toBe(504);
    expect(Object.keys(c.body).sort()).toEqual(['code', 'message', 'request_id']);
    expect((await dsGet(sim, id)).status).toBe(504);
    expect((await dsGet(sim, id)).status).toBe(200);
    expect(sim.stats().tasks[id]?.queries).toBe(3);
  });

  it('slow takes ten times jobMs while ok finishes in jobMs', async () => {
    // A frozen clock moved by hand: on the real one a loaded machine could let the slow task finish
    // before the test looked at it.
    const frozenAt = Date.now();
    const own = await createSimulator({ jobMs: 60, now: () => frozenAt });
    try {
      const normal = await evolinkCreate(own, evolinkBody(own));
      const slow = await evolinkCreate(own, evolinkBody(own), { ...JSON_AUTH, 'x-sim-scenario': 'slow' });
      own.advanceTime(60);
      // Done once the simulator has fetched its inputs (real I/O; the clock stands still meanwhile).
      await waitFor(
        () => evolinkGet(own, normal.body.id).then((r) => r.body.status),
        (status) => status === 'completed',
      );
      const slowNow = (await evolinkGet(own, slow.body.id)).body;
      expect(['pending', 'processing']).toContain(slowNow.status);
      expect(slowNow.progress).toBeLessThan(50);
      own.advanceTime(479);
      expect((await evolinkGet(own, slow.body.id)).body.status).not.toBe('completed');
      own.advanceTime(61);
      await waitFor(
        () => evolinkGet(own, slow.body.id).then((r) => r.body.status),
        (status) => status === 'completed',
      );
    } finally {
      await own.close();
    }
  });

  it('stuck never finishes, yet gives its DashScope slot back so later tasks run', async () => {
    const own = await createSimulator({
      jobMs: 100,
      limits: {
        dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY,
        dashscopeQueriesPerSecond: Number.POSITIVE_INFINITY,
      },
    });
    try {
      const stuck = await dsCreate(own, dsBody(own), { ...DS_HEADERS, 'x-sim-scenario': 'stuck' });
      const next = await dsCreate(own, dsBody(own));
      await waitFor(
        () => dsGet(own, next.body.output.task_id).then((r) => r.body.output.task_status),
        (s) => s === 'SUCCEEDED',
      );
      own.advanceTime(3_600_000);
      expect((await dsGet(own, stuck.body.output.task_id)).body.output.task_status).toBe('RUNNING');
      const evo = await evolinkCreate(own, evolinkBody(own), { ...JSON_AUTH, 'x-sim-scenario': 'stuck' });
      await settle(150);
      own.advanceTime(3_600_000);
      const body = (await evolinkGet(own, evo.body.id)).body;
      expect(body.status).toBe('processing');
      expect(body.progress).toBeLessThanOrEqual(80);
    } finally {
      await own.close();
    }
  });
});

describe('fault scenarios for reliability tests', () => {
  it('hang:<N> leaves the next N queries unanswered until the client gives up', async () => {
    const { body } = await evolinkCreate(sim, evolinkBody(sim), { ...JSON_AUTH, 'x-sim-scenario': 'hang:1' });
    const hung = fetch(`${sim.url}/v1/tasks/${body.id}`, { headers: AUTH, signal: AbortSignal.timeout(100) });
    await expect(hung).rejects.toThrow();
    expect((await evolinkGet(sim, body.id)).status).toBe(200);
  });

  it('reset:<N> cuts the next N query responses mid-body', async () => {
    const { body } = await dsCreate(sim, dsBody(sim), { ...DS_HEADERS, 'x-sim-scenario': 'reset:1' });
    const res = await fetch(`${sim.dashscopeUrl}/tasks/${body.output.task_id}`, { headers: AUTH });
    await expect(res.text()).rejects.toThrow();
    expect((await dsGet(sim, body.output.task_id)).status).toBe(200);
  });

  it('garbage:<N> answers the next N queries with malformed JSON', async () => {
    const { body } = await evolinkCreate(sim, evolinkBody(sim), {
      ...JSON_AUTH,
      'x-sim-scenario': 'garbage:2',
    });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${sim.url}/v1/tasks/${body.id}`, { headers: AUTH });
      expect(res.status).toBe(200);
      await expect(res.json()).rejects.toThrow(SyntaxError);
    }
    expect((await evolinkGet(sim, body.id)).body.id).toBe(body.id);
  });

  it('cut-result[:<N>] kills the first N result downloads half-way, then serves the whole file', async () => {
    const { body } = await dsCreate(sim, dsBody(sim), { ...DS_HEADERS, 'x-sim-scenario': 'cut-result:1' });
    const done = await waitFor(
      () => dsGet(sim, body.output.task_id).then((r) => r.body),
      (b) => b.output.task_status === 'SUCCEEDED',
    );
    const cut = await fetch(done.output.video_url);
    expect(cut.status).toBe(200);
    await expect(cut.arrayBuffer()).rejects.toThrow();
    const whole = await fetch(done.output.video_url);
    expect(Buffer.from(await whole.arrayBuffer()).equals(fixtureBytes(VIDEO))).toBe(true);
  });

  it('slow-result:<MS> trickles every result download over MS ms, whole, and lets a client hang up mid-way', async () => {
    const { body } = await evolinkCreate(sim, evolinkBody(sim), {
      ...JSON_AUTH,
      'x-sim-scenario': 'slow-result:600',
    });
    const done = await waitFor(
      () => evolinkGet(sim, body.id).then((r) => r.body),
      (b) => b.status === 'completed',
    );
    const url = (done.results as string[])[0] as string;
    // A client that reads a few pieces and hangs up: the download is cut, the next one is whole.
    const cut = await fetch(url);
    const reader = (cut.body as ReadableStream<Uint8Array>).getReader();
    let early = 0;
    while (early === 0) early += (await reader.read()).value?.length ?? 0;
    await reader.cancel();
    expect(early).toBeLessThan(fixtureBytes(VIDEO).length);
    const started = performance.now();
    const whole = await fetch(url);
    const bytes = Buffer.from(await whole.arrayBuffer());
    expect(bytes.equals(fixtureBytes(VIDEO))).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
    expect(() => sim.nextScenario('slow-result')).toThrow(/MS \(milliseconds\) must be an integer/);
  });
});

describe('request counters', () => {
  it('counts requests per endpoint and queries per task, and resets', async () => {
    const own = await createSimulator({ jobMs: 100 });
    try {
      const evo = await evolinkCreate(own, evolinkBody(own));
      await evolinkGet(own, evo.body.id);
      await evolinkGet(own, evo.body.id);
      const ds = await dsCreate(own, dsBody(own));
      await dsGet(own, ds.body.output.task_id);
      await dsCreate(own, dsBody(own)); // throttled: 1 submit per second
      const stats = own.stats();
      expect(stats.requests).toMatchObject({
        'evolink.create': 1,
        'evolink.query': 2,
        'dashscope.create': 2,
        'dashscope.query': 1,
      });
      expect(stats.tasks[evo.body.id]).toEqual({ queries: 2 });
      expect(stats.tasks[ds.body.output.task_id]).toEqual({ queries: 1 });
      expect(stats.submits).toBe(2);
      expect(stats.throttled).toBe(1);
      own.resetStats();
      expect(own.stats()).toEqual({
        requests: {},
        createRequests: [],
        tasks: {},
        submits: 0,
        throttled: 0,
        callbacks: [],
        inputs: [],
        peakTasksPerAccount: {},
      });
    } finally {
      await own.close();
    }
  });
});
