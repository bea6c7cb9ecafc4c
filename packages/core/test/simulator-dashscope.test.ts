import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSimulator, SIMULATOR_API_KEY, type Simulator } from '@retalk/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientOptions, createClient } from '../src/client.js';
import { checkMedia } from '../src/limits.js';
import { uploadFilePath } from '../src/node/index.js';
import { PROVIDER_ERRORS } from '../src/provider-errors.js';
import { parseDashscopeTime } from '../src/providers/dashscope.js';
import { createAccountPacing } from '../src/rate-limiter.js';
import { createClockDriver, createManualClock } from './fakes.js';
import { AUDIO, caught, FIXTURES, VIDEO } from './support.js';

describe('DashScope client against the simulator', () => {
  let sim: Simulator;
  const client = (extra: Partial<ClientOptions> = {}) =>
    createClient({
      provider: 'dashscope',
      apiKey: SIMULATOR_API_KEY,
      baseUrl: sim.dashscopeUrl,
      poll: { intervalMs: 20 },
      // This simulator lifts the 1 submit/s limit, so the client's own pacing is lifted too.
      submitsPerSecond: Infinity,
      ...extra,
    });
  const video = (scenario?: string) =>
    `${sim.fixtureUrl(VIDEO)}${scenario ? `?sim=${encodeURIComponent(scenario)}` : ''}`;

  beforeAll(async () => {
    // Submit pacing and the single running slot are lifted here; their own tests restore them.
    sim = await createSimulator({
      jobMs: 150,
      limits: { dashscopeSubmitsPerSecond: Infinity, dashscopeConcurrentTasks: Infinity },
    });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('runs a job through PENDING, the processing states and SUCCEEDED, with progress, expiry and usage', async () => {
    const seen: string[] = [];
    const task = await client().run(
      { video: video(), audio: sim.fixtureUrl(AUDIO), videoExtension: true },
      { onUpdate: (t) => seen.push(t.status) },
    );
    expect(task.status).toBe('succeeded');
    expect(task.progress).toBe(100);
    expect(seen[0]).toBe('queued');
    expect(seen).toContain('running');
    expect(task.usage?.videoSeconds).toBeCloseTo(4, 0);
    const expires = Date.parse(task.resultExpiresAt!);
    expect(expires - Date.now()).toBeGreaterThan(23 * 3600_000);
    const result = await fetch(task.resultUrl!);
    expect(result.status).toBe(200);
    expect((await result.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it('works the same under a reseller prefix (/qwen/api/v1)', async () => {
    const reseller = client({ baseUrl: `${sim.url}/qwen/api/v1` });
    expect(reseller.baseUrl).toBe(`${sim.url}/qwen/api/v1`);
    const task = await reseller.run({ video: video(), audio: sim.fixtureUrl(AUDIO) });
    expect(task.status).toBe('succeeded');
    expect(task.usage?.videoSeconds).toBeCloseTo(3, 0);
  });

  it('rejects with task_failed for every input failure code, keeping the provider code', async () => {
    const codes = Object.keys(PROVIDER_ERRORS.dashscope).filter((c) =>
      /^(InvalidFile|InvalidURL|InternalError)/.test(c),
    );
    const c = client();
    const errors = await Promise.all(
      codes.map((code) => caught(c.run({ video: video(`fail:${code}`), audio: sim.fixtureUrl(AUDIO) }))),
    );
    errors.forEach((err, i) => {
      expect(err, codes[i]).toMatchObject({
        code: 'task_failed',
        providerCode: codes[i],
        taskStatus: 'failed',
      });
      expect(err.retryable).toBe(PROVIDER_ERRORS.dashscope[codes[i]!]!.retryable);
    });
  });

  it('fails a job whose media breaks the limits, as the real service does', async () => {
    const err = await caught(
      client().run({ video: sim.fixtureUrl('small-320x240-10fps-3s.mp4'), audio: sim.fixtureUrl(AUDIO) }),
    );
    expect(err.code).toBe('task_failed');
    expect(['InvalidFile.Resolution', 'InvalidFile.FPS']).toContain(err.providerCode);
    const short = await caught(client().run({ video: video(), audio: sim.fixtureUrl('short-1s.wav') }));
    expect(short.providerCode).toBe('InvalidFile.Duration');
  });

  it('fails a 640×480 video on the documented "each side ≥ 640 px" rule, as checkMedia does, with the fix in the message', async () => {
    const landscape = sim.fixtureUrl('talking-640x480-25fps-3s.mp4');
    const err = await caught(client().run({ video: landscape, audio: sim.fixtureUrl(AUDIO) }));
    expect(err).toMatchObject({ code: 'task_failed', providerCode: 'InvalidFile.Resolution' });
    expect(err.message).toContain('Each side of the video, width and height, must be 640–2048 px');
    expect(checkMedia({ kind: 'video', width: 640, height: 480 }, 'dashscope')[0]?.field).toBe('resolution');
    // The same bytes declared 640×640 through the simulator's metadata override pass.
    const square = await client().run({ video: `${landscape}?sim_height=640`, audio: sim.fixtureUrl(AUDIO) });
    expect(square.status).toBe('succeeded');
  });

  it('maps every documented HTTP error code at submit to its Retalk error', async () => {
    const c = client({ submitRetries: 0 });
    const table = PROVIDER_ERRORS.dashscope;
    const status = {
      auth: 401,
      quota: 400,
      permission: 403,
      not_found: 404,
      rate_limited: 429,
      provider_unavailable: 503,
      invalid_request: 400,
      not_supported: 400,
    } as const;
    for (const [code, entry] of Object.entries(table)) {
      const err = await caught(
        c.submit({ video: video(`reject:${status[entry.error]}:${code}`), audio: sim.fixtureUrl(AUDIO) }),
      );
      expect(err, code).toMatchObject({ code: entry.error, providerCode: code, status: status[entry.error] });
      expect(err.requestId).toBeTruthy();
    }
  });

  it('answers a wrong key with auth and never echoes it', async () => {
    const err = await caught(
      client({ apiKey: 'sk-wrong-key-123' }).submit({ video: video(), audio: sim.fixtureUrl(AUDIO) }),
    );
    expect(err).toMatchObject({ code: 'auth', status: 401, providerCode: 'InvalidApiKey' });
    expect(JSON.stringify(err.toJSON())).not.toContain('sk-wrong-key-123');
  });

  it('retries a throttled submit after Retry-After and creates exactly one task', async () => {
    sim.resetStats();
    const started = Date.now();
    const task = await client().submit({ video: video('retry-after:1'), audio: sim.fixtureUrl(AUDIO) });
    expect(task.status).toBe('queued');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(sim.stats().requests['dashscope.create']).toBe(2);
    expect(sim.stats().submits).toBe(1);
  });

  it('rides out 5xx bursts on queries', async () => {
    sim.resetStats();
    const task = await client().run({ video: video('flaky:3'), audio: sim.fixtureUrl(AUDIO) });
    expect(task.status).toBe('succeeded');
    expect(sim.stats().tasks[task.id]!.queries).toBeGreaterThanOrEqual(4);
  });

  it('distinguishes a deadline (timeout) from an abort (aborted) on a stuck task', async () => {
    const c = client();
    const stuck = await c.submit({ video: video('stuck'), audio: sim.fixtureUrl(AUDIO) });
    const started = Date.now();
    const late = await caught(c.wait(stuck.id, { timeoutMs: 200 }));
    expect(late).toMatchObject({ code: 'timeout', name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(1500);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    expect(await caught(c.wait(stuck.id, { signal: controller.signal }))).toMatchObject({ code: 'aborted' });
  });

  it('picks up a task another process submitted, with progress based on its scheduled time', async () => {
    // `stuck` stays running however long a loaded machine takes to get here (`slow` ended in 1.5 s).
    const task = await client().submit({ video: video('stuck'), audio: sim.fixtureUrl(AUDIO) });
    // Progress is estimated from the time since submit: at least 300 ms of a typical 1000 ms.
    await new Promise((r) => setTimeout(r, 300));
    const fresh = client({ typicalJobMs: 1000 });
    const seen = await fresh.get(task.id);
    expect(seen.status).toBe('running');
    expect(seen.progress).toBeGreaterThan(10);
  });

  it('reports a task the service no longer knows as expired', async () => {
    const c = client();
    const done = await c.run({ video: video(), audio: sim.fixtureUrl(AUDIO) });
    expect((await c.get('00000000-0000-4000-8000-000000000000')).status).toBe('expired');
    sim.advanceTime(25 * 3600_000);
    const gone = await caught(c.wait(done.id));
    expect(gone).toMatchObject({ code: 'task_failed', taskStatus: 'expired', providerCode: 'UNKNOWN' });
  });

  it('uploads a local file to temporary storage and submits it as oss:// with the resolve header', async () => {
    sim.resetStats();
    const c = client();
    const bytes = await readFile(join(FIXTURES, AUDIO));
    const audio = await c.uploadFile(new Uint8Array(bytes), { filename: AUDIO, contentType: 'audio/wav' });
    expect(audio.url).toMatch(/^oss:\/\//);
    expect(Date.parse(audio.expiresAt!) - Date.now()).toBeGreaterThan(47 * 3600_000);
    const fromPath = await uploadFilePath(c, join(FIXTURES, VIDEO));
    expect(fromPath.url).toMatch(/^oss:\/\/.*talking/);
    const task = await c.run({ video: fromPath.url, audio: audio.url });
    expect(task.status).toBe('succeeded');
    // The header the client added is what made this work: without it the service refuses oss://.
    const raw = await fetch(`${sim.dashscopeUrl}/services/aigc/image2video/video-synthesis/`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${SIMULATOR_API_KEY}`,
        'content-type': 'application/json',
        'x-dashscope-async': 'enable',
      },
      body: JSON.stringify({
        model: 'videoretalk',
        input: { video_url: fromPath.url, audio_url: audio.url },
        parameters: {},
      }),
    });
    expect(raw.status).toBe(400);
    expect(sim.stats().requests['dashscope.getPolicy']).toBe(2);
    expect(sim.stats().requests['oss.upload']).toBe(2);
  });
});

describe('DashScope limits against the simulator', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await createSimulator({ jobMs: 300 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('cancels a queued task, and refuses to cancel a running one (one task runs at a time)', async () => {
    // Client and simulator share a manual clock: the client's 1 s wait between submits and the
    // service's one-second window are the same second, however late a loaded machine delivers.
    const clock = createManualClock(Date.now());
    const own = await createSimulator({ jobMs: 300, now: clock.now });
    const driver = createClockDriver(clock);
    try {
      const c = createClient({
        provider: 'dashscope',
        apiKey: SIMULATOR_API_KEY,
        baseUrl: own.dashscopeUrl,
        poll: { intervalMs: 20 },
        clock,
        fetch: driver.fetch,
      });
      const req = { video: own.fixtureUrl(VIDEO), audio: own.fixtureUrl(AUDIO) };
      const first = await c.submit({ ...req, video: `${req.video}?sim=slow` });
      // The second submit waits for its turn in the client (1 submit/s) instead of drawing a 429.
      const submitting = c.submit(req);
      await expect.poll(() => clock.pending).toBe(1);
      expect(own.stats().submits).toBe(1);
      clock.next();
      const second = await submitting;
      expect(own.stats().submits).toBe(2);
      expect(own.stats().throttled).toBe(0);
      // From here the clock follows the client's own waits (its query pacing, its polls).
      driver.start();
      try {
        // One second in, the slow first task (3 s) holds the only running slot; the second waits.
        expect((await c.get(first.id)).status).toBe('running');
        expect((await c.get(second.id)).status).toBe('queued');
        expect((await c.cancel(second.id)).status).toBe('canceled');
        await expect(c.wait(second.id)).rejects.toMatchObject({
          code: 'task_failed',
          taskStatus: 'canceled',
        });
        const err = await caught(c.cancel(first.id));
        expect(err).toMatchObject({ code: 'not_supported', providerCode: 'UnsupportedOperation' });
      } finally {
        await driver.stop();
      }
    } finally {
      await own.close();
    }
  });

  it('spaces a burst of concurrent submits from one client 1 s apart on the service clock: no 429', async () => {
    const clock = createManualClock(Date.now());
    const paced = await createSimulator({ jobMs: 300, now: clock.now });
    try {
      const c = createClient({
        provider: 'dashscope',
        apiKey: SIMULATOR_API_KEY,
        baseUrl: paced.dashscopeUrl,
        clock,
      });
      const req = { video: paced.fixtureUrl(VIDEO), audio: paced.fixtureUrl(AUDIO) };
      const n = 4;
      let settled = false;
      const submits = Promise.all(Array.from({ length: n }, () => c.submit(req))).finally(() => {
        settled = true;
      });
      // Move the shared clock only once the submit let through by the last move reached the service.
      for (let moves = 0; !settled; ) {
        await new Promise((r) => setTimeout(r, 2));
        const arrived = paced.stats().requests['dashscope.create'] ?? 0;
        if (!settled && clock.pending > 0 && arrived > moves) moves += clock.next() ? 1 : 0;
      }
      const tasks = await submits;
      expect(new Set(tasks.map((t) => t.id)).size).toBe(n);
      const stats = paced.stats();
      expect(stats.submits).toBe(n);
      expect(stats.throttled).toBe(0);
      expect(stats.requests['dashscope.create']).toBe(n);
      const submittedAt: number[] = [];
      for (const t of tasks) {
        const res = await fetch(`${paced.dashscopeUrl}/tasks/${t.id}`, {
          headers: { authorization: `Bearer ${SIMULATOR_API_KEY}` },
        });
        const body = (await res.json()) as { output: { submit_time: string } };
        submittedAt.push(parseDashscopeTime(body.output.submit_time)!);
      }
      submittedAt.sort((a, b) => a - b);
      for (let i = 1; i < n; i++) expect(submittedAt[i]! - submittedAt[i - 1]!).toBeGreaterThanOrEqual(1000);
    } finally {
      await paced.close();
    }
  });

  it('shares one pacing between the keys of one Alibaba Cloud account: no 429, and each sees the other’s tasks (audit row 6)', async () => {
    const clock = createManualClock(Date.now());
    const account = await createSimulator({
      jobMs: 300,
      now: clock.now,
      apiKeys: ['key-a', 'key-b'],
      dashscopeAccounts: [['key-a', 'key-b']],
    });
    try {
      const pacing = createAccountPacing({ clock });
      const on = (apiKey: string) =>
        createClient({ provider: 'dashscope', apiKey, baseUrl: account.url, clock, pacing });
      const [a, b] = [on('key-a'), on('key-b')];
      const req = { video: account.fixtureUrl(VIDEO), audio: account.fixtureUrl(AUDIO) };
      let settled = false;
      const submits = Promise.all([a.submit(req), b.submit(req), a.submit(req)]).finally(() => {
        settled = true;
      });
      for (let moves = 0; !settled; ) {
        await new Promise((r) => setTimeout(r, 2));
        const arrived = account.stats().requests['dashscope.create'] ?? 0;
        if (!settled && clock.pending > 0 && arrived > moves) moves += clock.next() ? 1 : 0;
      }
      const [fromA] = await submits;
      expect(account.stats()).toMatchObject({ submits: 3, throttled: 0 });
      expect((await b.get(fromA!.id)).status).not.toBe('expired');
    } finally {
      await account.close();
    }
  });

  it('keeps many concurrent waits of one client under 20 queries per second', async () => {
    // The client and the simulator share one manual clock, moved only while no query is in flight:
    // each query reaches the service at the instant the client sent it. On the real clock a busy
    // machine delays some queries and delivers them together, which the service's one-second
    // window counts as a burst the client never sent.
    const clock = createManualClock(Date.now());
    const concurrent = await createSimulator({
      jobMs: 2000,
      now: clock.now,
      limits: { dashscopeSubmitsPerSecond: Infinity, dashscopeConcurrentTasks: Infinity },
    });
    try {
      const queryTimes: number[] = [];
      const driver = createClockDriver(clock);
      const c = createClient({
        provider: 'dashscope',
        apiKey: SIMULATOR_API_KEY,
        baseUrl: concurrent.dashscopeUrl,
        poll: { intervalMs: 10 },
        clock,
        // The simulator lifts the submit limit here, so the client does too: only queries count.
        submitsPerSecond: Infinity,
        fetch: (url, init) => {
          if (init?.method === 'GET' && url.includes('/tasks/')) queryTimes.push(clock.now());
          return driver.fetch(url, init);
        },
      });
      const req = { video: concurrent.fixtureUrl(VIDEO), audio: concurrent.fixtureUrl(AUDIO) };
      const tasks = await Promise.all(Array.from({ length: 24 }, () => c.submit(req)));
      concurrent.resetStats();
      driver.start();
      const waits = Promise.all(tasks.map((t) => c.wait(t.id, { intervalMs: 10 }))).finally(() =>
        driver.stop(),
      );
      const done = await waits;
      expect(done.every((t) => t.status === 'succeeded')).toBe(true);
      const stats = concurrent.stats();
      expect(stats.throttled).toBe(0);
      expect(stats.requests['dashscope.query']).toBe(queryTimes.length);
      for (const t of queryTimes) {
        expect(queryTimes.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(20);
      }
      // The clients wanted far more than 20/s (24 waits polling every 10 ms) for over a second.
      expect(queryTimes.length).toBeGreaterThan(20);
      expect(queryTimes.at(-1)! - queryTimes[0]!).toBeGreaterThan(1000);
    } finally {
      await concurrent.close();
    }
  });
});
