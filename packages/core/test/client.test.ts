import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClient } from '../src/client.js';
import {
  createFakeClock,
  createFakeFetch,
  createManualClock,
  dashscopeTask,
  evolinkTask,
  json,
  netError,
} from './fakes.js';
import { caught } from './support.js';

const REQ = { video: 'https://example.com/in.mp4', audio: 'https://example.com/speech.wav' };
const TASK_ID = 'a8532587-fa8c-4ef8-82be-0c46b17950d1';

type Route = Parameters<typeof createFakeFetch>[0];

/** A client over a scripted fetch and a fake clock, jitter pinned to its middle. */
function fakeClient(provider: 'dashscope' | 'evolink', route: Route, extra: Record<string, unknown> = {}) {
  const fake = createFakeFetch(route);
  const clock = createFakeClock();
  const client = createClient({
    provider,
    apiKey: provider === 'dashscope' ? 'sk-secret' : 'ek-secret',
    fetch: fake.fetch,
    clock,
    random: () => 0.5,
    ...extra,
  });
  return { client, calls: fake.calls, clock };
}

const dashscope = (route: Route, extra?: Record<string, unknown>) => fakeClient('dashscope', route, extra);
const evolink = (route: Route, extra?: Record<string, unknown>) => fakeClient('evolink', route, extra);

describe('createClient configuration', () => {
  it('defaults to the official hosts', () => {
    expect(createClient({ provider: 'dashscope', apiKey: 'k' }).baseUrl).toBe(
      'https://dashscope.aliyuncs.com/api/v1',
    );
    expect(createClient({ provider: 'evolink', apiKey: 'k' }).baseUrl).toBe('https://api.evolink.ai');
  });

  it('keeps reseller prefixes and completes a bare DashScope origin', () => {
    expect(
      createClient({ provider: 'dashscope', apiKey: 'k', baseUrl: 'https://r.example/qwen/api/v1/' }).baseUrl,
    ).toBe('https://r.example/qwen/api/v1');
    expect(createClient({ provider: 'dashscope', apiKey: 'k', baseUrl: 'https://r.example' }).baseUrl).toBe(
      'https://r.example/api/v1',
    );
  });

  it('refuses a missing key, an unknown provider and a bad base URL, naming the field', () => {
    expect(() => createClient({ provider: 'evolink', apiKey: '' })).toThrow(
      expect.objectContaining({ field: 'apiKey' }),
    );
    expect(() => createClient({ provider: 'openai' as 'evolink', apiKey: 'k' })).toThrow(
      expect.objectContaining({ field: 'provider' }),
    );
    expect(() => createClient({ provider: 'evolink', apiKey: 'k', baseUrl: 'ftp://x' })).toThrow(
      expect.objectContaining({ field: 'baseUrl' }),
    );
  });
});

describe('client.submit', () => {
  it('sends the DashScope body and headers, adding the OSS resolve header only for oss:// inputs', async () => {
    const { client, calls } = dashscope(() => json(dashscopeTask('PENDING')));
    const task = await client.submit({ ...REQ, videoExtension: true, faceThreshold: 150 });
    expect(task).toMatchObject({ id: TASK_ID, provider: 'dashscope', status: 'queued', progress: 0 });
    expect(calls[0]!.url).toBe(
      'https://dashscope.aliyuncs.com/api/v1/services/aigc/image2video/video-synthesis/',
    );
    expect(calls[0]!.headers).toMatchObject({
      authorization: 'Bearer sk-secret',
      'x-dashscope-async': 'enable',
    });
    expect(calls[0]!.headers['x-dashscope-ossresourceresolve']).toBeUndefined();
    expect(calls[0]!.body).toEqual({
      model: 'videoretalk',
      input: { video_url: REQ.video, audio_url: REQ.audio },
      parameters: { video_extension: true, query_face_threshold: 150 },
    });
    await client.submit({ ...REQ, audio: 'oss://dashscope-instant/x/a.wav' });
    expect(calls[1]!.headers['x-dashscope-ossresourceresolve']).toBe('enable');
  });

  it('sends the flat EvoLink body and reads estimated_time and credits', async () => {
    const { client, calls } = evolink(() => json(evolinkTask()));
    const task = await client.submit({
      ...REQ,
      refImage: 'https://example.com/f.png',
      callbackUrl: 'https://hook.example/cb',
    });
    expect(calls[0]!.url).toBe('https://api.evolink.ai/v1/videos/generations');
    expect(calls[0]!.body).toEqual({
      model: 'videoretalk',
      video_url: REQ.video,
      audio_url: REQ.audio,
      ref_image_url: 'https://example.com/f.png',
      callback_url: 'https://hook.example/cb',
    });
    expect(task).toMatchObject({ status: 'queued', etaMs: 90_000, usage: { credits: 480 } });
  });

  it('refuses input before any request is made', async () => {
    const { client, calls } = dashscope(() => json({}));
    expect(await caught(client.submit({ ...REQ, faceThreshold: 300 }))).toMatchObject({
      code: 'invalid_request',
      field: 'faceThreshold',
    });
    expect(await caught(client.submit({ ...REQ, callbackUrl: 'https://h/cb' }))).toMatchObject({
      field: 'callbackUrl',
    });
    const evo = evolink(() => json({}));
    expect(await caught(evo.client.submit({ ...REQ, video: 'oss://x/y.mp4' }))).toMatchObject({
      field: 'video',
    });
    expect(calls).toHaveLength(0);
    expect(evo.calls).toHaveLength(0);
  });

  it('is never repeated after a 5xx or a reset connection, which may have created a task', async () => {
    for (const reply of [json({ code: 'InternalError', message: 'x' }, 500), netError('ECONNRESET')]) {
      const { client, calls } = dashscope(() => reply);
      const err = await caught(client.submit(REQ));
      expect(calls).toHaveLength(1);
      expect(['provider_unavailable', 'network']).toContain(err.code);
    }
  });

  it('is repeated after a 429 (nothing created), honouring Retry-After', async () => {
    const { client, calls, clock } = dashscope((_, i) =>
      i === 0
        ? json({ code: 'Throttling.RateQuota', message: 'Requests rate limit exceeded' }, 429, {
            'retry-after': '3',
          })
        : json(dashscopeTask('PENDING')),
    );
    expect((await client.submit(REQ)).status).toBe('queued');
    expect(calls).toHaveLength(2);
    expect(clock.sleeps[0]).toBeGreaterThanOrEqual(3000);
  });

  it('is repeated when the connection was refused (provably never received)', async () => {
    const { client, calls } = evolink((_, i) => (i === 0 ? netError('ECONNREFUSED') : json(evolinkTask())));
    expect((await client.submit(REQ)).status).toBe('queued');
    expect(calls).toHaveLength(2);
  });

  it('repeats an EvoLink submit at most once, with the same Idempotency-Key, and then reports rate_limited', async () => {
    const { client, calls } = evolink(() =>
      json(
        { error: { code: 'rate_limit_exceeded', message: 'Rate limit exceeded', type: 'evo_api_error' } },
        429,
        { 'retry-after': '2' },
      ),
    );
    const err = await caught(client.submit(REQ));
    expect(err).toMatchObject({ code: 'rate_limited', retryAfterMs: 2000, status: 429 });
    expect(calls).toHaveLength(2);
    const keys = calls.map((c) => c.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^retalk-[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
  });

  it('stops at once, without a retry, when aborted mid-request', async () => {
    const controller = new AbortController();
    const { client, calls } = dashscope(
      () =>
        new Promise<Response>((_, reject) => {
          controller.signal.addEventListener('abort', () => reject(controller.signal.reason));
          queueMicrotask(() => controller.abort());
        }) as unknown as Response,
    );
    expect(await caught(client.submit(REQ, { signal: controller.signal }))).toMatchObject({
      code: 'aborted',
      name: 'AbortError',
    });
    expect(calls).toHaveLength(1);
  });

  it('keeps the API key out of network error messages even when fetch quotes it', async () => {
    const { client } = dashscope(
      () => new TypeError('Headers.append: "Bearer sk-secret" is an invalid header value.'),
    );
    const err = await caught(client.get(TASK_ID));
    expect(err.code).toBe('network');
    expect(err.message).toContain('***');
    expect(err.message).not.toContain('sk-secret');
  });

  it('never puts the API key in an error message', async () => {
    const { client } = dashscope(() =>
      json({ code: 'InvalidApiKey', message: 'Invalid API-key provided.' }, 401),
    );
    const err = await caught(client.submit(REQ));
    expect(err.code).toBe('auth');
    expect(JSON.stringify(err.toJSON())).not.toContain('sk-secret');
    expect(err.message).not.toContain('sk-secret');
  });
});

describe('DashScope submit pacing', () => {
  /** Settles `work`, moving the manual clock to its next sleep whenever nothing else can happen. */
  async function drive<T>(clock: ReturnType<typeof createManualClock>, work: Promise<T>): Promise<T> {
    let settled = false;
    const done = work.finally(() => {
      settled = true;
    });
    while (!settled) {
      await new Promise((r) => setImmediate(r));
      if (!settled) clock.next();
    }
    return done;
  }

  function paced(route: Parameters<typeof createFakeFetch>[0], extra: Record<string, unknown> = {}) {
    const clock = createManualClock();
    const sentAt: number[] = [];
    const fake = createFakeFetch((call, i) => {
      if (call.method === 'POST') sentAt.push(clock.now());
      return route(call, i);
    });
    const client = createClient({
      provider: 'dashscope',
      apiKey: 'sk-secret',
      fetch: fake.fetch,
      clock,
      random: () => 0.5,
      ...extra,
    });
    return { client, clock, sentAt, calls: fake.calls };
  }

  it('starts a burst of submits from one client 1000 ms apart (1 submit/s), none refused', async () => {
    const { client, clock, sentAt } = paced(() => json(dashscopeTask('PENDING')));
    const tasks = await drive(clock, Promise.all(Array.from({ length: 4 }, () => client.submit(REQ))));
    expect(tasks.map((t) => t.status)).toEqual(['queued', 'queued', 'queued', 'queued']);
    expect(sentAt.map((t) => t - sentAt[0]!)).toEqual([0, 1000, 2000, 3000]);
  });

  it('sends a submit at once after a quiet second, and follows submitsPerSecond', async () => {
    const { client, clock, sentAt } = paced(() => json(dashscopeTask('PENDING')), { submitsPerSecond: 0.5 });
    await drive(clock, client.submit(REQ));
    await drive(clock, client.submit(REQ));
    clock.advance(5000);
    await drive(clock, client.submit(REQ));
    expect(sentAt.map((t) => t - sentAt[0]!)).toEqual([0, 2000, 7000]);
  });

  it('lets a submit waiting for its turn be aborted without sending it, keeping the next one on time', async () => {
    const { client, clock, sentAt, calls } = paced(() => json(dashscopeTask('PENDING')));
    const controller = new AbortController();
    const first = client.submit(REQ);
    const second = caught(client.submit(REQ, { signal: controller.signal }));
    const third = client.submit(REQ);
    await new Promise((r) => setImmediate(r));
    controller.abort();
    expect(await second).toMatchObject({ code: 'aborted' });
    await drive(clock, Promise.all([first, third]));
    expect(calls).toHaveLength(2);
    expect(sentAt.map((t) => t - sentAt[0]!)).toEqual([0, 1000]);
  });

  it('paces the retry of a 429 too, and keeps 429 handling as the fallback', async () => {
    const { client, clock, sentAt } = paced((_, i) =>
      i === 0
        ? json({ code: 'Throttling.RateQuota', message: 'Requests rate limit exceeded' }, 429)
        : json(dashscopeTask('PENDING')),
    );
    const task = await drive(clock, client.submit(REQ));
    expect(task.status).toBe('queued');
    // The retry backoff alone (250–500 ms) would be too soon for the 1 s spacing.
    expect(sentAt.map((t) => t - sentAt[0]!)).toEqual([0, 1000]);
  });

  it('does not pace with submitsPerSecond: Infinity, nor on EvoLink', async () => {
    const open = paced(() => json(dashscopeTask('PENDING')), { submitsPerSecond: Infinity });
    await Promise.all([open.client.submit(REQ), open.client.submit(REQ), open.client.submit(REQ)]);
    expect(open.sentAt).toEqual([open.sentAt[0], open.sentAt[0], open.sentAt[0]]);
    expect(open.clock.pending).toBe(0);
    const evo = evolink(() => json(evolinkTask()));
    await Promise.all([evo.client.submit(REQ), evo.client.submit(REQ)]);
    expect(evo.calls).toHaveLength(2);
    expect(evo.clock.sleeps).toEqual([]);
  });

  it('refuses a rate that is not a positive number, naming the field', () => {
    for (const [field, value] of [
      ['submitsPerSecond', 0],
      ['queriesPerSecond', -1],
      ['submitsPerSecond', Number.NaN],
    ] as const) {
      expect(() => createClient({ provider: 'dashscope', apiKey: 'k', [field]: value })).toThrow(
        expect.objectContaining({ code: 'invalid_request', field }),
      );
    }
  });
});

describe('client.get', () => {
  it('retries 503s with backoff and then answers', async () => {
    const { client, calls, clock } = dashscope((_, i) =>
      i < 2 ? json({ code: 'ModelUnavailable', message: 'busy' }, 503) : json(dashscopeTask('RUNNING')),
    );
    expect((await client.get(TASK_ID)).status).toBe('running');
    expect(calls).toHaveLength(3);
    expect(clock.sleeps).toEqual([375, 750]);
  });

  it('tells onRetry of each failed attempt it retries, not of the answer or of a last failure', async () => {
    const retried: string[] = [];
    const onRetry = (error: { code: string }) => retried.push(error.code);
    const answered = dashscope(
      (_, i) =>
        i < 2 ? json({ code: 'ModelUnavailable', message: 'busy' }, 503) : json(dashscopeTask('RUNNING')),
      { onRetry },
    );
    expect((await answered.client.get(TASK_ID)).status).toBe('running');
    expect(retried).toEqual(['provider_unavailable', 'provider_unavailable']);
    retried.length = 0;
    const failing = dashscope(() => json({ code: 'ModelUnavailable', message: 'busy' }, 503), {
      onRetry,
      readRetries: 1,
    });
    expect((await caught(failing.client.get(TASK_ID))).code).toBe('provider_unavailable');
    expect(failing.calls).toHaveLength(2);
    expect(retried).toEqual(['provider_unavailable']);
  });

  it('does not retry a 404 and maps it to not_found', async () => {
    const { client, calls } = evolink(() =>
      json(
        {
          error: {
            code: 'task_not_found',
            message: 'The requested task could not be found',
            type: 'invalid_request_error',
          },
        },
        404,
      ),
    );
    expect(await caught(client.get('task-unified-1-abcdefgh'))).toMatchObject({
      code: 'not_found',
      providerCode: 'task_not_found',
    });
    expect(calls).toHaveLength(1);
  });

  it('stops reading an answer past maxResponseBytes and reports provider_unavailable (findings M5)', async () => {
    let pulled = 0;
    // A 32 MiB answer of blanks, made as it is read.
    const endless = () =>
      new Response(
        new ReadableStream({
          pull(controller) {
            pulled += 65_536;
            controller.enqueue(new Uint8Array(65_536).fill(32));
            if (pulled >= 32 * 1024 * 1024) controller.close();
          },
        }),
        { headers: { 'content-type': 'application/json' } },
      );
    const { client } = dashscope(() => endless(), { readRetries: 0, maxResponseBytes: 256 * 1024 });
    expect((await caught(client.get(TASK_ID))).code).toBe('provider_unavailable');
    expect(pulled).toBeLessThanOrEqual(512 * 1024);

    const declared = dashscope(
      () => new Response('{}', { headers: { 'content-length': String(300 * 1024 * 1024) } }),
      { readRetries: 0 },
    );
    expect(await caught(declared.client.get(TASK_ID))).toMatchObject({ code: 'provider_unavailable' });
  });

  it('reports an unreadable body as response_validation', async () => {
    const { client } = dashscope(() => json({ output: { nothing: true } }));
    expect((await caught(client.get(TASK_ID))).code).toBe('response_validation');
  });
});

describe('client.cancel', () => {
  it('is not_supported on EvoLink', async () => {
    const { client, calls } = evolink(() => json({}));
    expect((await caught(client.cancel('task-unified-1-abcdefgh'))).code).toBe('not_supported');
    expect(calls).toHaveLength(0);
  });

  it('posts to /tasks/{id}/cancel on DashScope and returns the canceled task', async () => {
    const { client, calls } = dashscope((call) =>
      call.method === 'POST' ? json({ request_id: 'r' }) : json(dashscopeTask('CANCELED')),
    );
    expect((await client.cancel(TASK_ID)).status).toBe('canceled');
    expect(calls[0]!.url).toBe(`https://dashscope.aliyuncs.com/api/v1/tasks/${TASK_ID}/cancel`);
  });
});

describe('client.wait', () => {
  it('polls quickly first, then backs off, and resolves with the succeeded task', async () => {
    const statuses = ['PENDING', 'PRE-PROCESSING', 'RUNNING', 'RUNNING', 'RUNNING', 'POST-PROCESSING'];
    const { client, clock } = dashscope((_, i) =>
      json(
        i < statuses.length
          ? dashscopeTask(statuses[i]!)
          : dashscopeTask('SUCCEEDED', { video_url: 'http://oss/r.mp4' }),
      ),
    );
    const updates: string[] = [];
    const task = await client.wait(TASK_ID, { onUpdate: (t) => updates.push(`${t.status}:${t.progress}`) });
    expect(task).toMatchObject({ status: 'succeeded', progress: 100, resultUrl: 'http://oss/r.mp4' });
    expect(updates[0]).toBe('queued:0');
    expect(updates.at(-1)).toBe('succeeded:100');
    const progress = updates.map((u) => Number(u.split(':')[1]));
    for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThanOrEqual(progress[i - 1]!);
    const pollSleeps = clock.sleeps.filter((ms) => ms >= 100);
    expect(pollSleeps.slice(0, 4)).toEqual([1000, 1000, 1000, 1500]);
  });

  it('rejects with task_failed carrying the provider code for failed, canceled and expired tasks', async () => {
    const cases = [
      [
        dashscopeTask('FAILED', { code: 'InvalidFile.FPS', message: 'fps must be 15 ~ 60.' }),
        'InvalidFile.FPS',
        'failed',
      ],
      [dashscopeTask('CANCELED'), 'CANCELED', 'canceled'],
      [dashscopeTask('UNKNOWN'), 'UNKNOWN', 'expired'],
    ] as const;
    for (const [body, providerCode, taskStatus] of cases) {
      const { client } = dashscope(() => json(body));
      const err = await caught(client.wait(TASK_ID));
      expect(err).toMatchObject({
        name: 'TaskFailedError',
        code: 'task_failed',
        providerCode,
        taskStatus,
        retryable: false,
      });
    }
  });

  it('waits at least as long as Retry-After when the query is throttled', async () => {
    const { client, clock } = evolink(
      (_, i) =>
        i < 2
          ? json(
              {
                error: { code: 'rate_limit_exceeded', message: 'Rate limit exceeded', type: 'evo_api_error' },
              },
              429,
              { 'retry-after': '7' },
            )
          : json(evolinkTask({ status: 'completed', progress: 100, results: ['https://cdn/r.mp4'] })),
      { readRetries: 0 },
    );
    await client.wait('task-unified-1-abcdefgh', { intervalMs: 10 });
    expect(clock.sleeps.filter((ms) => ms >= 7000)).toHaveLength(2);
  });

  it('uses EvoLink estimated_time to poll less often on long tasks', async () => {
    const { client, clock } = evolink((_, i) =>
      json(
        i < 3
          ? evolinkTask({ status: 'processing', progress: 20 })
          : evolinkTask({ status: 'completed', progress: 100, results: ['https://r'] }),
      ),
    );
    await client.wait('task-unified-1-abcdefgh');
    // 90 s estimate, 80 % left → a quarter is 18 s, capped at EvoLink's 8 s maximum interval.
    expect(clock.sleeps[0]).toBe(8_000);
  });

  it('rejects with timeout (not aborted) when the deadline passes', async () => {
    const { client } = dashscope(() => json(dashscopeTask('RUNNING')));
    const err = await caught(client.wait(TASK_ID, { timeoutMs: 5000 }));
    expect(err).toMatchObject({ code: 'timeout', name: 'TimeoutError' });
    expect(err.message).toContain('running');
  });

  it('rejects with aborted when the signal fires', async () => {
    const controller = new AbortController();
    const { client } = dashscope((_, i) => {
      if (i === 2) controller.abort();
      return json(dashscopeTask('RUNNING'));
    });
    expect(await caught(client.wait(TASK_ID, { signal: controller.signal }))).toMatchObject({
      code: 'aborted',
      name: 'AbortError',
    });
  });

  it('keeps polling through transient errors, and gives up on a permanent one', async () => {
    const flaky = dashscope(
      (_, i) =>
        i % 2 === 0
          ? netError('ECONNRESET')
          : json(dashscopeTask(i > 4 ? 'SUCCEEDED' : 'RUNNING', { video_url: 'http://r' })),
      { readRetries: 0 },
    );
    expect((await flaky.client.wait(TASK_ID)).status).toBe('succeeded');
    const denied = dashscope(() =>
      json({ code: 'InvalidApiKey', message: 'Invalid API-key provided.' }, 401),
    );
    expect((await caught(denied.client.wait(TASK_ID))).code).toBe('auth');
    expect(denied.calls).toHaveLength(1);
  });
});

describe('client.watch', () => {
  it('yields each change and the terminal task, without throwing on failure', async () => {
    const bodies = [
      evolinkTask({ status: 'processing', progress: 30 }),
      evolinkTask({ status: 'processing', progress: 30 }),
      evolinkTask({ status: 'processing', progress: 60 }),
      evolinkTask({
        status: 'failed',
        progress: 0,
        error: { code: 'content_policy_violation', message: 'no', type: 'task_error' },
      }),
    ];
    const { client } = evolink((_, i) => json(bodies[Math.min(i, bodies.length - 1)]));
    const seen: string[] = [];
    for await (const t of client.watch('task-unified-1-abcdefgh')) seen.push(`${t.status}:${t.progress}`);
    expect(seen).toEqual(['running:30', 'running:60', 'failed:0']);
  });
});

describe('timers', () => {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const live = new Set<unknown>();

  beforeEach(() => {
    live.clear();
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      const handle = realSetTimeout(() => {
        live.delete(handle);
        fn();
      }, ms);
      live.add(handle);
      return handle;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((handle: Parameters<typeof clearTimeout>[0]) => {
      live.delete(handle);
      realClearTimeout(handle);
    }) as typeof clearTimeout;
  });

  afterEach(() => {
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClearTimeout;
  });

  it('are all cleared when wait ends by success, deadline, abort or break', async () => {
    let n = 0;
    const fetch = async () =>
      json(dashscopeTask(++n % 5 === 0 ? 'SUCCEEDED' : 'RUNNING', { video_url: 'http://r' }));
    const client = createClient({ provider: 'dashscope', apiKey: 'k', fetch, poll: { intervalMs: 5 } });

    await expect(client.wait(TASK_ID, { timeoutMs: 60_000 })).resolves.toMatchObject({ status: 'succeeded' });
    expect(live.size).toBe(0);

    n = 1;
    expect((await caught(client.wait(TASK_ID, { timeoutMs: 12, intervalMs: 50 }))).code).toBe('timeout');
    expect(live.size).toBe(0);

    n = 1;
    const controller = new AbortController();
    const aborted = caught(
      client.wait(TASK_ID, { signal: controller.signal, timeoutMs: 60_000, intervalMs: 1000 }),
    );
    await new Promise((r) => realSetTimeout(r, 20));
    expect(live.size).toBeGreaterThan(0);
    controller.abort();
    expect((await aborted).code).toBe('aborted');
    expect(live.size).toBe(0);

    n = 1;
    const iterator = client.watch(TASK_ID, { timeoutMs: 60_000 })[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return?.();
    expect(live.size).toBe(0);
  });
});

describe('client.uploadFile', () => {
  const policy = {
    request_id: 'r',
    data: {
      policy: 'cG9saWN5',
      signature: 'sig',
      upload_dir: 'dashscope-instant/abc/2026-01-01/xyz',
      upload_host: 'https://dashscope-file-mgr.oss-cn-beijing.aliyuncs.com',
      expire_in_seconds: 300,
      max_file_size_mb: 1,
      capacity_limit_mb: 999999999,
      oss_access_key_id: 'LTAI-key',
      x_oss_object_acl: 'private',
      x_oss_forbid_overwrite: 'true',
    },
  };

  it('DashScope: gets a policy, posts the form to the upload host with the file last, returns oss://key', async () => {
    const { client, calls } = dashscope((call) =>
      call.method === 'GET' ? json(policy) : new Response(null, { status: 200 }),
    );
    const uploaded = await client.uploadFile(new Uint8Array([1, 2, 3]), {
      filename: 'my speech.wav',
      contentType: 'audio/wav',
    });
    expect(uploaded.url).toBe('oss://dashscope-instant/abc/2026-01-01/xyz/my_speech.wav');
    expect(calls[0]!.url).toBe(
      'https://dashscope.aliyuncs.com/api/v1/uploads?action=getPolicy&model=videoretalk',
    );
    expect(calls[1]!.url).toBe(policy.data.upload_host);
    expect(calls[1]!.headers.authorization).toBeUndefined();
    const form = calls[1]!.body as FormData;
    const keys = [...form.keys()];
    expect(keys.at(-1)).toBe('file');
    expect(keys).toEqual(
      expect.arrayContaining(['OSSAccessKeyId', 'Signature', 'policy', 'key', 'success_action_status']),
    );
    expect(form.get('key')).toBe('dashscope-instant/abc/2026-01-01/xyz/my_speech.wav');
  });

  it('DashScope: refuses a file over the policy size before uploading it', async () => {
    const { client, calls } = dashscope(() => json(policy));
    const err = await caught(
      client.uploadFile(new Uint8Array(2 * 1024 * 1024), { filename: 'big.mp4', contentType: 'video/mp4' }),
    );
    expect(err).toMatchObject({ code: 'invalid_request', allowed: 'at most 1 MB' });
    expect(calls).toHaveLength(1);
  });

  it('EvoLink: streams to the files API (default host, baseUrl when only it is overridden, or filesBaseUrl)', async () => {
    const answer = () =>
      json({
        success: true,
        code: 200,
        msg: 'File uploaded successfully',
        data: {
          file_id: 'file_1',
          file_url: 'https://files.evolink.ai/u/a.png',
          expires_at: '2026-01-04T00:00:00+08:00',
        },
      });
    const official = evolink(answer);
    const up = await official.client.uploadFile(new Uint8Array([1]), {
      filename: 'a.png',
      contentType: 'image/png',
    });
    expect(up).toEqual({ url: 'https://files.evolink.ai/u/a.png', expiresAt: '2026-01-03T16:00:00.000Z' });
    expect(official.calls[0]!.url).toBe('https://files-api.evolink.ai/api/v1/files/upload/stream');
    expect(official.calls[0]!.headers.authorization).toBe('Bearer ek-secret');
    expect((official.calls[0]!.body as FormData).get('file')).toBeInstanceOf(Blob);

    const proxied = evolink(answer, { baseUrl: 'http://127.0.0.1:9/' });
    await proxied.client.uploadFile(new Uint8Array([1]), { filename: 'a.png', contentType: 'image/png' });
    expect(proxied.calls[0]!.url).toBe('http://127.0.0.1:9/api/v1/files/upload/stream');

    const split = evolink(answer, { baseUrl: 'http://127.0.0.1:9', filesBaseUrl: 'http://127.0.0.1:10' });
    await split.client.uploadFile(new Uint8Array([1]), { filename: 'a.png', contentType: 'image/png' });
    expect(split.calls[0]!.url).toBe('http://127.0.0.1:10/api/v1/files/upload/stream');
  });

  it('EvoLink: turns success:false into an error that says what to do', async () => {
    const { client } = evolink(() => json({ success: false, code: 400, msg: 'Unsupported file type' }));
    expect(
      await caught(
        client.uploadFile(new Uint8Array([1]), {
          filename: 'a.gif',
          contentType: 'image/gif',
        }),
      ),
    ).toMatchObject({
      code: 'invalid_request',
    });
  });

  it('needs a filename and a content type', async () => {
    const { client } = evolink(() => json({}));
    expect(
      await caught(client.uploadFile(new Uint8Array([1]), { filename: '', contentType: 'audio/wav' })),
    ).toMatchObject({ field: 'filename' });
    expect(
      await caught(client.uploadFile(new Uint8Array([1]), { filename: 'a', contentType: 'wav' })),
    ).toMatchObject({ field: 'contentType' });
  });
});

describe('provider answers the audit found misread', () => {
  it('never retries DashScope billing and free-tier answers and says what to do (audit row 4)', async () => {
    for (const [status, code, words] of [
      [429, 'Throttling.AllocationQuota', /pay-as-you-go/],
      [403, 'AllocationQuota.FreeTierOnly', /free tier only/],
      [429, 'PostpaidBillOverdue', /overdue/],
      [429, 'CommodityNotPurchased', /activate/],
    ] as const) {
      const { client, calls } = dashscope(() => json({ request_id: 'r', code, message: 'x' }, status));
      const err = await caught(client.submit(REQ));
      expect(err).toMatchObject({ code: 'quota', retryable: false, providerCode: code });
      expect(err.message).toMatch(words);
      expect(calls).toHaveLength(1);
    }
  });

  it('gives the region hint for DashScope’s 400 InvalidParameter "Model not exist." (audit row 5)', async () => {
    const { client } = dashscope(() =>
      json({ request_id: 'r', code: 'InvalidParameter', message: 'Model not exist.' }, 400),
    );
    const err = await caught(client.submit(REQ));
    expect(err).toMatchObject({ code: 'invalid_request' });
    expect(err.message).toContain('China (Beijing)');
  });

  it('retries a DashScope RequestTimeOut query, at 408 or 500 (audit row 13)', async () => {
    for (const status of [408, 500]) {
      const { client, calls } = dashscope((_, i) =>
        i === 0
          ? json({ request_id: 'r', code: 'RequestTimeOut', message: 'Request timed out' }, status)
          : json(dashscopeTask('RUNNING')),
      );
      expect((await client.get(TASK_ID)).status).toBe('running');
      expect(calls).toHaveLength(2);
    }
  });

  it('reads every DashScope error body form: flat, msg, an error envelope, snake_case codes (audit row 14)', async () => {
    for (const body of [
      { request_id: 'r1', code: 'InvalidApiKey', message: 'Invalid API-key provided.' },
      { request_id: 'r1', code: 'InvalidApiKey', msg: 'Invalid API-key provided.' },
      { error: { code: 'invalid_api_key', message: 'Invalid API-key provided.', request_id: 'r1' } },
    ]) {
      const { client } = dashscope(() => json(body, 401));
      const err = await caught(client.get(TASK_ID));
      expect(err).toMatchObject({ code: 'auth', providerCode: 'InvalidApiKey', requestId: 'r1' });
      expect(err.message).toContain('Invalid API-key provided.');
    }
  });

  it('always sends parameters.video_extension to DashScope (audit row 18)', async () => {
    const { client, calls } = dashscope(() => json(dashscopeTask('PENDING')));
    await client.submit(REQ);
    expect((calls[0]!.body as { parameters: unknown }).parameters).toEqual({ video_extension: false });
  });

  it('captures EvoLink request ids from x-request-id (audit row 21)', async () => {
    const { client } = evolink(() =>
      json({ error: { code: 'task_not_found', message: 'gone' } }, 404, { 'x-request-id': 'req-9' }),
    );
    expect(await caught(client.get('task-unified-1-abcdefgh'))).toMatchObject({ requestId: 'req-9' });
  });

  it('tells EvoLink balance, key-limit and key-state answers apart (audit §4.6)', async () => {
    for (const [code, kind, words] of [
      ['account_balance_insufficient', 'quota', /balance/],
      ['key_quota_exhausted', 'quota', /key's own spending limit/],
      ['key_daily_quota_exhausted', 'quota', /midnight/],
      ['key_disabled', 'auth', /disabled/],
      ['key_model_not_allowed', 'permission', /model list/],
    ] as const) {
      const { client } = evolink(() => json({ error: { code, message: 'x' } }, 402));
      const err = await caught(client.get('task-unified-1-abcdefgh'));
      expect(err).toMatchObject({ code: kind, providerCode: code });
      expect(err.message).toMatch(words);
    }
  });

  it('reports EvoLink’s actual charge, and none for a refunded failure (audit row 9)', async () => {
    const done = evolinkTask({
      status: 'completed',
      progress: 100,
      results: ['https://r'],
      usage: { credits_reserved: 480, credits_used: 36 },
    });
    const { client } = evolink(() => json(done));
    expect((await client.get('task-unified-1-abcdefgh')).usage).toMatchObject({
      credits: 36,
      creditsReserved: 480,
    });
    const viaCost = evolink(() => json({ ...done, usage: { credits_reserved: 480, cost: { credits: 40 } } }));
    expect((await viaCost.client.get('task-unified-1-abcdefgh')).usage?.credits).toBe(40);
    const failed = evolink(() =>
      json(
        evolinkTask({
          status: 'failed',
          progress: 0,
          usage: { credits_reserved: 480 },
          error: { code: 'service_error' },
        }),
      ),
    );
    const task = await failed.client.get('task-unified-1-abcdefgh');
    expect(task.usage?.credits).toBeUndefined();
    expect(task.usage?.creditsReserved).toBe(480);
  });

  it('advises a retry for an EvoLink task that failed with quota_exceeded (audit row 8)', async () => {
    const { client } = evolink(() =>
      json(evolinkTask({ status: 'failed', progress: 0, error: { code: 'quota_exceeded', message: 'x' } })),
    );
    const err = await caught(client.wait('task-unified-1-abcdefgh'));
    expect(err).toMatchObject({ code: 'task_failed', retryable: true, providerCode: 'quota_exceeded' });
    expect(err.message).toMatch(/submit again in a few minutes/);
  });
});
