import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import {
  call,
  closedPortUrl,
  evolinkBody,
  evolinkCreate,
  evolinkGet,
  fixtureBytes,
  JSON_AUTH,
  type Json,
  VIDEO,
  waitFor,
} from './sim-requests.js';

const HOUR_MS = 3_600_000;
let sim: Simulator;

beforeAll(async () => {
  sim = await createSimulator({ jobMs: 200, apiKeys: ['sim-key', 'other-key'] });
});
afterAll(() => sim.close());

const UNAUTHORIZED = {
  error: { code: 'unauthorized', message: 'Authentication required', type: 'authentication_error' },
};

describe('EvoLink create', () => {
  it('answers 401 with the documented body when the Bearer token is missing or wrong', async () => {
    const missing = await evolinkCreate(sim, evolinkBody(sim), { 'content-type': 'application/json' });
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual(UNAUTHORIZED);
    const wrong = await evolinkCreate(sim, evolinkBody(sim), { ...JSON_AUTH, authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual(UNAUTHORIZED);
  });

  it('answers 400 missing_required_params naming the missing field', async () => {
    for (const field of ['video_url', 'audio_url'] as const) {
      const body = evolinkBody(sim);
      delete body[field];
      const res = await evolinkCreate(sim, body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({
        code: 'missing_required_params',
        param: field,
        type: 'invalid_request_error',
      });
      expect(res.body.error.message).toContain(field);
    }
  });

  it('refuses a query_face_threshold outside 120–200', async () => {
    for (const threshold of [119, 201, 150.5, '170']) {
      const res = await evolinkCreate(sim, evolinkBody(sim, { query_face_threshold: threshold }));
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_parameters', param: 'query_face_threshold' });
    }
    const ok = await evolinkCreate(sim, evolinkBody(sim, { query_face_threshold: 120 }));
    expect(ok.status).toBe(200);
  });

  it('refuses a callback_url that is not https, longer than 2048 characters or private', async () => {
    const bad = [
      'http://example.com/hook',
      `https://example.com/${'a'.repeat(2048)}`,
      'https://127.0.0.1/hook',
      'https://10.1.2.3/hook',
      'https://172.20.0.1/hook',
      'https://192.168.1.1/hook',
      'https://localhost/hook',
      'https://[::1]/hook',
    ];
    for (const callback_url of bad) {
      const res = await evolinkCreate(sim, evolinkBody(sim, { callback_url }));
      expect(res.status, callback_url).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_parameters', param: 'callback_url' });
    }
    const ok = await evolinkCreate(
      sim,
      evolinkBody(sim, { callback_url: 'https://hooks.example.com/retalk' }),
    );
    expect(ok.status).toBe(200);
  });

  it('returns a pending task with the documented shape and id format', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await evolinkCreate(sim, evolinkBody(sim));
    expect(res.status).toBe(200);
    expect(res.body.id).toMatch(/^task-unified-\d{10}-[a-z0-9]{8}$/);
    expect(res.body.id.split('-')[2]).toBe(String(res.body.created));
    expect(res.body.created).toBeGreaterThanOrEqual(before);
    expect(res.body).toMatchObject({
      model: 'videoretalk',
      object: 'video.generation.task',
      progress: 0,
      status: 'pending',
      type: 'video',
      task_info: { can_cancel: false, video_duration: 0 },
      usage: { billing_rule: 'per_second', user_group: 'default' },
    });
    expect(res.body.task_info.estimated_time).toBeGreaterThan(0);
    expect(res.body.usage.credits_reserved).toBeGreaterThan(0);
  });

  it('can answer with numeric error codes when that variant is switched on', async () => {
    const numeric = await createSimulator({ jobMs: 200, evolinkNumericErrorCodes: true });
    try {
      const res = await evolinkCreate(numeric, evolinkBody(numeric), { 'content-type': 'application/json' });
      expect(res.status).toBe(401);
      expect(res.body.error).toMatchObject({ code: 401, type: 'authentication_error' });
      numeric.nextScenario('reject:429');
      const limited = await evolinkCreate(numeric, evolinkBody(numeric));
      expect(limited.body.error).toMatchObject({ code: 429, type: 'rate_limit_error' });
      expect(typeof limited.body.error.fallback_suggestion).toBe('string');
    } finally {
      await numeric.close();
    }
  });

  it('answers the switchable 402, 403, 429 and 500 errors in the same envelope', async () => {
    const expected: Array<[string, number, string]> = [
      ['reject:402', 402, 'insufficient_quota'],
      ['reject:403', 403, 'model_access_denied'],
      ['reject:429', 429, 'rate_limit_exceeded'],
      ['reject:500', 500, 'internal_error'],
    ];
    for (const [scenario, status, code] of expected) {
      const res = await evolinkCreate(sim, evolinkBody(sim), { ...JSON_AUTH, 'x-sim-scenario': scenario });
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(typeof res.body.error.message).toBe('string');
      expect(typeof res.body.error.type).toBe('string');
    }
  });
});

describe('EvoLink task query', () => {
  it('walks pending → processing → completed with non-decreasing progress in the documented ranges', async () => {
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim));
    const seen: Json[] = [];
    const final = await waitFor(
      async () => {
        const { body } = await evolinkGet(sim, created.id);
        seen.push(body);
        return body;
      },
      (b) => b.status === 'completed',
      { intervalMs: 5 },
    );
    const statuses = [...new Set(seen.map((b) => b.status))];
    expect(statuses.at(-1)).toBe('completed');
    expect(statuses).toContain('processing');
    let last = 0;
    for (const b of seen) {
      expect(b.progress).toBeGreaterThanOrEqual(last);
      last = b.progress;
      if (b.status === 'pending') expect(b.progress).toBeLessThanOrEqual(10);
      if (b.status === 'processing') {
        expect(b.progress).toBeGreaterThanOrEqual(10);
        expect(b.progress).toBeLessThanOrEqual(80);
        expect(b.task_info).toEqual({ can_cancel: false });
      }
    }
    expect(final).toMatchObject({
      id: created.id,
      progress: 100,
      task_info: { can_cancel: false },
      type: 'video',
    });
    expect(final.results).toHaveLength(1);
    expect(final.error).toBeUndefined();
  });

  it('serves the input video as a playable MP4 result that expires 24 h after completion', async () => {
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim));
    const done = await waitFor(
      () => evolinkGet(sim, created.id).then((r) => r.body),
      (b) => b.status === 'completed',
    );
    const res = await fetch(done.results[0]);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await res.arrayBuffer()).equals(fixtureBytes(VIDEO))).toBe(true);
    sim.advanceTime(24 * HOUR_MS);
    const expired = await fetch(done.results[0]);
    expect(expired.status).toBe(403);
    await expired.arrayBuffer();
  });

  it('answers 400 invalid_task_id, 404 task_not_found and 403 permission_denied as documented', async () => {
    const bad = await evolinkGet(sim, 'abc123');
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: {
        code: 'invalid_task_id',
        message: "Invalid task ID format, must start with 'task-unified-'",
        type: 'invalid_request_error',
        param: 'task_id',
      },
    });
    const missing = await evolinkGet(sim, 'task-unified-1700000000-abcdefgh');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'task_not_found', type: 'invalid_request_error' });
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim));
    const foreign = await evolinkGet(sim, created.id, { authorization: 'Bearer other-key' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error).toMatchObject({ code: 'permission_denied', type: 'invalid_request_error' });
    const noAuth = await evolinkGet(sim, created.id, {});
    expect(noAuth.status).toBe(401);
  });

  it('reports a failed task with progress 0 and a task_error', async () => {
    for (const code of ['generation_timeout', 'request_cancelled', 'content_policy_violation']) {
      const { body: created } = await evolinkCreate(sim, evolinkBody(sim), {
        ...JSON_AUTH,
        'x-sim-scenario': `fail:${code}`,
      });
      const failed = await waitFor(
        () => evolinkGet(sim, created.id).then((r) => r.body),
        (b) => b.status === 'failed',
      );
      expect(failed.progress).toBe(0);
      expect(failed.results).toBeUndefined();
      expect(failed.error).toMatchObject({ code, type: 'task_error' });
      expect(failed.error.message.length).toBeGreaterThan(0);
    }
  });

  it('fails a face-less video (noface), unlike DashScope', async () => {
    const { body: created } = await evolinkCreate(sim, evolinkBody(sim), {
      ...JSON_AUTH,
      'x-sim-scenario': 'noface',
    });
    const failed = await waitFor(
      () => evolinkGet(sim, created.id).then((r) => r.body),
      (b) => b.status === 'failed',
    );
    expect(failed.error).toMatchObject({ code: 'invalid_parameters', type: 'task_error' });
  });

  it('fails with invalid_parameters carrying the upstream code when an input breaks a limit or is unreachable', async () => {
    const small = await evolinkCreate(
      sim,
      evolinkBody(sim, { video_url: sim.fixtureUrl('small-320x240-10fps-3s.mp4') }),
    );
    const unreachable = await evolinkCreate(sim, evolinkBody(sim, { audio_url: await closedPortUrl() }));
    const a = await waitFor(
      () => evolinkGet(sim, small.body.id).then((r) => r.body),
      (b) => b.status === 'failed',
    );
    expect(a.error.code).toBe('invalid_parameters');
    expect(a.error.message).toContain('InvalidFile.Resolution');
    const b = await waitFor(
      () => evolinkGet(sim, unreachable.body.id).then((r) => r.body),
      (x) => x.status === 'failed',
    );
    expect(b.error.message).toContain('InvalidURL.ConnectionRefused');
  });
});

describe('EvoLink idempotent submits (audit row 2, §4.5)', () => {
  it('answers a repeated Idempotency-Key with the first task and idempotency-replayed, creating nothing', async () => {
    sim.resetStats();
    const headers = { ...JSON_AUTH, 'idempotency-key': 'intent-1' };
    const body = evolinkBody(sim);
    const first = await evolinkCreate(sim, body, headers);
    const again = await evolinkCreate(sim, { ...body }, headers);
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect(sim.stats().submits).toBe(1);
    expect(sim.stats().createRequests).toEqual([
      { provider: 'evolink', idempotencyKey: 'intent-1' },
      { provider: 'evolink', idempotencyKey: 'intent-1' },
    ]);
  });

  it('answers 409 idempotency_conflict when the key comes back with another body', async () => {
    const headers = { ...JSON_AUTH, 'idempotency-key': 'intent-2' };
    await evolinkCreate(sim, evolinkBody(sim), headers);
    const other = await evolinkCreate(sim, evolinkBody(sim, { video_extension: true }), headers);
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'idempotency_conflict' });
  });

  it('keeps keys per API key: another key may use the same idempotency key', async () => {
    const body = evolinkBody(sim);
    const mine = await evolinkCreate(sim, body, { ...JSON_AUTH, 'idempotency-key': 'intent-3' });
    const theirs = await evolinkCreate(sim, body, {
      ...JSON_AUTH,
      authorization: 'Bearer other-key',
      'idempotency-key': 'intent-3',
    });
    expect(theirs.status).toBe(200);
    expect(theirs.body.id).not.toBe(mine.body.id);
  });

  it('creates the task and then drops the connection under lost-answer; the keyed repeat finds it', async () => {
    sim.resetStats();
    const headers = { ...JSON_AUTH, 'idempotency-key': 'intent-4' };
    const body = evolinkBody(sim, { video_url: `${sim.fixtureUrl(VIDEO)}?sim=lost-answer` });
    await expect(evolinkCreate(sim, body, headers)).rejects.toThrow();
    expect(sim.stats().submits).toBe(1);
    const again = await evolinkCreate(sim, body, headers);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(sim.stats().submits).toBe(1);
  });
});

describe('EvoLink cancelled status (audit row 1)', () => {
  it('shows a cancelled task as status cancelled when evolinkCancelledStatus says so', async () => {
    const own = await createSimulator({ jobMs: 100, evolinkCancelledStatus: 'cancelled' });
    try {
      const created = await evolinkCreate(
        own,
        evolinkBody(own, { video_url: `${own.fixtureUrl(VIDEO)}?sim=fail:request_cancelled` }),
      );
      const done = await waitFor(
        () => evolinkGet(own, created.body.id).then((r) => r.body),
        (b) => b.status !== 'pending' && b.status !== 'processing',
      );
      expect(done).toMatchObject({ status: 'cancelled', progress: 0 });
    } finally {
      await own.close();
    }
  });
});

describe('EvoLink task list (audit §4.7)', () => {
  it('lists the key’s tasks newest first with paging, and never another key’s', async () => {
    const own = await createSimulator({ jobMs: 100, apiKeys: ['sim-key', 'other-key'] });
    try {
      const a = await evolinkCreate(own, evolinkBody(own));
      const b = await evolinkCreate(own, evolinkBody(own));
      await evolinkCreate(own, evolinkBody(own), { ...JSON_AUTH, authorization: 'Bearer other-key' });
      const list = await call(`${own.url}/v1/tasks?model=videoretalk&page=1&page_size=10`);
      expect(list.status).toBe(200);
      expect(list.body).toMatchObject({ total: 2, page: 1, page_size: 10 });
      expect(list.body.data.map((r: Json) => r.id)).toEqual([b.body.id, a.body.id]);
      expect(list.body.data[0]).toMatchObject({ model: 'videoretalk', type: 'video' });
      expect(typeof list.body.data[0].created_at).toBe('number');
      const second = await call(`${own.url}/v1/tasks?page=2&page_size=1`);
      expect(second.body.data.map((r: Json) => r.id)).toEqual([a.body.id]);
      const bad = await call(`${own.url}/v1/tasks?page_size=500`);
      expect(bad.status).toBe(400);
    } finally {
      await own.close();
    }
  });
});

describe('EvoLink charge and request ids (audit rows 9, 21)', () => {
  it('reports the actual charge as credits_used or cost.credits when asked, 0 for a failed task', async () => {
    for (const form of ['credits_used', 'cost'] as const) {
      const charged = await createSimulator({ jobMs: 100, evolinkChargeReport: form });
      try {
        const ok = (await evolinkCreate(charged, evolinkBody(charged))).body.id as string;
        const bad = (
          await evolinkCreate(charged, evolinkBody(charged), {
            ...JSON_AUTH,
            'x-sim-scenario': 'fail:service_error',
          })
        ).body.id as string;
        const done = await waitFor(
          () => evolinkGet(charged, ok).then((r) => r.body),
          (b) => b.status === 'completed',
        );
        const failed = await waitFor(
          () => evolinkGet(charged, bad).then((r) => r.body),
          (b) => b.status === 'failed',
        );
        // 3 s clip with 4 s speech: 3 s of output at 4 credits/s; the reservation stays 480.
        const used = (b: Json) => (form === 'credits_used' ? b.usage.credits_used : b.usage.cost.credits);
        expect(done.usage.credits_reserved).toBe(480);
        expect(used(done)).toBe(12);
        expect(used(failed)).toBe(0);
      } finally {
        await charged.close();
      }
    }
  });

  it('sends no usage on queries by default, as the query docs show', async () => {
    const id = (await evolinkCreate(sim, evolinkBody(sim))).body.id as string;
    const done = await waitFor(
      () => evolinkGet(sim, id).then((r) => r.body),
      (b) => b.status === 'completed',
    );
    expect(done.usage).toBeUndefined();
  });

  it('names every answer in x-request-id, or the header chosen, or none', async () => {
    const created = await evolinkCreate(sim, evolinkBody(sim));
    expect(created.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const missing = await evolinkGet(sim, 'task-unified-1-nosuchid');
    expect(missing.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    for (const header of ['x-oneapi-request-id', 'none'] as const) {
      const other = await createSimulator({ jobMs: 100, evolinkRequestIdHeader: header });
      try {
        const res = await evolinkCreate(other, evolinkBody(other));
        expect(res.headers.get('x-request-id')).toBeNull();
        expect(res.headers.get('x-oneapi-request-id') !== null).toBe(header === 'x-oneapi-request-id');
      } finally {
        await other.close();
      }
    }
  });
});
