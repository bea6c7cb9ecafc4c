import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSimulator, SIMULATOR_API_KEY, type Simulator } from '@retalk/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCallback } from '../src/callback.js';
import { type ClientOptions, createClient } from '../src/client.js';
import { systemClock } from '../src/clock.js';
import type { TaskFailedError } from '../src/errors.js';
import { uploadFilePath } from '../src/node/index.js';
import { PROVIDER_ERRORS, TASK_ERRORS } from '../src/provider-errors.js';
import type { Task } from '../src/task.js';
import { AUDIO, caught, FIXTURES, VIDEO } from './support.js';

const STATUS = {
  auth: 401,
  quota: 402,
  permission: 403,
  not_found: 404,
  rate_limited: 429,
  provider_unavailable: 500,
  invalid_request: 400,
  not_supported: 400,
} as const;

describe('EvoLink client against the simulator', () => {
  let sim: Simulator;
  const client = (extra: Partial<ClientOptions> = {}) =>
    createClient({
      provider: 'evolink',
      apiKey: SIMULATOR_API_KEY,
      baseUrl: sim.url,
      poll: { intervalMs: 20 },
      ...extra,
    });
  const video = (scenario?: string) =>
    `${sim.fixtureUrl(VIDEO)}${scenario ? `?sim=${encodeURIComponent(scenario)}` : ''}`;

  beforeAll(async () => {
    sim = await createSimulator({
      jobMs: 150,
      apiKeys: [SIMULATOR_API_KEY, 'other-key'],
      allowInsecureCallbacks: true,
    });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('runs a job from pending through processing to completed, with progress, ETA and credits', async () => {
    const seen: Array<{ status: string; progress: number }> = [];
    const c = client();
    const submitted = await c.submit({ video: video(), audio: sim.fixtureUrl(AUDIO) });
    expect(submitted).toMatchObject({ status: 'queued', progress: 0 });
    expect(submitted.id).toMatch(/^task-unified-\d+-[a-z0-9]{8}$/);
    expect(submitted.etaMs).toBeGreaterThan(0);
    expect(submitted.usage?.credits).toBeGreaterThan(0);
    const task = await c.wait(submitted.id, {
      onUpdate: (t) => seen.push({ status: t.status, progress: t.progress }),
    });
    expect(task).toMatchObject({
      status: 'succeeded',
      progress: 100,
      usage: { credits: submitted.usage?.credits },
    });
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.progress).toBeGreaterThanOrEqual(seen[i - 1]!.progress);
    expect(Date.parse(task.resultExpiresAt!) - Date.now()).toBeGreaterThan(23 * 3600_000);
    const result = await fetch(task.resultUrl!);
    expect(result.status).toBe(200);
    expect((await result.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it('sees the result link die after its 24 h expiry', async () => {
    const expiring = await createSimulator({ jobMs: 100 });
    try {
      const c = createClient({
        provider: 'evolink',
        apiKey: SIMULATOR_API_KEY,
        baseUrl: expiring.url,
        poll: { intervalMs: 20 },
      });
      const task = await c.run({ video: expiring.fixtureUrl(VIDEO), audio: expiring.fixtureUrl(AUDIO) });
      expiring.advanceTime(Date.parse(task.resultExpiresAt!) - Date.now() + 60_000);
      const dead = await fetch(task.resultUrl!);
      expect([403, 404, 410]).toContain(dead.status);
    } finally {
      await expiring.close();
    }
  });

  it('rejects with task_failed for every task-level error code, and reports request_cancelled as canceled', async () => {
    const table = PROVIDER_ERRORS.evolink;
    const codes = Object.keys(table).filter(
      (c) => !['invalid_task_id', 'unauthorized', 'permission_denied', 'task_not_found'].includes(c),
    );
    const c = client();
    const errors = await Promise.all(
      codes.map((code) => caught(c.run({ video: video(`fail:${code}`), audio: sim.fixtureUrl(AUDIO) }))),
    );
    errors.forEach((err, i) => {
      const code = codes[i]!;
      expect(err, code).toMatchObject({
        code: 'task_failed',
        providerCode: code,
        taskStatus: code === 'request_cancelled' ? 'canceled' : 'failed',
        retryable: (TASK_ERRORS.evolink?.[code] ?? table[code]!).retryable,
      });
    });
  });

  it('fails a face-less video (EvoLink, unlike DashScope, refuses it)', async () => {
    const err = await caught(client().run({ video: video('noface'), audio: sim.fixtureUrl(AUDIO) }));
    expect(err).toMatchObject({ code: 'task_failed', taskStatus: 'failed' });
  });

  it('maps every documented HTTP error code at create to its Retalk error', async () => {
    const c = client({ submitRetries: 0 });
    for (const [code, entry] of Object.entries(PROVIDER_ERRORS.evolink)) {
      const status = STATUS[entry.error];
      const err = await caught(
        c.submit({ video: video(`reject:${status}:${code}`), audio: sim.fixtureUrl(AUDIO) }),
      );
      expect(err, code).toMatchObject({ code: entry.error, providerCode: code, status });
    }
  });

  it('maps the query errors: bad id, unknown task, another account, wrong key', async () => {
    const c = client();
    expect(await caught(c.get('not-a-task'))).toMatchObject({
      code: 'invalid_request',
      providerCode: 'invalid_task_id',
      field: 'task_id',
    });
    expect(await caught(c.get('task-unified-1700000000-zzzzzzzz'))).toMatchObject({
      code: 'not_found',
      providerCode: 'task_not_found',
    });
    const mine = await c.submit({ video: video(), audio: sim.fixtureUrl(AUDIO) });
    expect(await caught(client({ apiKey: 'other-key' }).get(mine.id))).toMatchObject({
      code: 'permission',
      providerCode: 'permission_denied',
    });
    const denied = await caught(client({ apiKey: 'ek-wrong-999' }).get(mine.id));
    expect(denied).toMatchObject({ code: 'auth', status: 401 });
    expect(denied.message).not.toContain('ek-wrong-999');
  });

  it('reads numeric error codes (EvoLink MCP variant)', async () => {
    const numeric = await createSimulator({ jobMs: 150, evolinkNumericErrorCodes: true });
    try {
      const c = createClient({ provider: 'evolink', apiKey: 'nope', baseUrl: numeric.url });
      expect(
        await caught(c.submit({ video: numeric.fixtureUrl(VIDEO), audio: numeric.fixtureUrl(AUDIO) })),
      ).toMatchObject({
        code: 'auth',
        providerCode: '401',
      });
    } finally {
      await numeric.close();
    }
  });

  it('retries a 429 create after Retry-After and creates exactly one task', async () => {
    sim.resetStats();
    const started = Date.now();
    const task = await client().submit({ video: video('retry-after:1'), audio: sim.fixtureUrl(AUDIO) });
    expect(task.status).toBe('queued');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(sim.stats().requests['evolink.create']).toBe(2);
    expect(sim.stats().submits).toBe(1);
  });

  it('sends one Idempotency-Key per submit and repeats it on the one retry after a 429 (audit row 2)', async () => {
    sim.resetStats();
    await client().submit({ video: video('retry-after:0'), audio: sim.fixtureUrl(AUDIO) });
    const keys = sim.stats().createRequests.map((r) => r.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^retalk-/);
    expect(keys[1]).toBe(keys[0]);
    expect(sim.stats().submits).toBe(1);
  });

  it('stops after one retry when EvoLink keeps answering 429', async () => {
    sim.resetStats();
    const err = await caught(client().submit({ video: video('reject:429'), audio: sim.fixtureUrl(AUDIO) }));
    expect(err).toMatchObject({ code: 'rate_limited' });
    expect(sim.stats().requests['evolink.create']).toBe(2);
  });

  it('recovers a submit whose answer was lost by repeating it with the same key: one task, billed once', async () => {
    sim.resetStats();
    const task = await client().submit({ video: video('lost-answer'), audio: sim.fixtureUrl(AUDIO) });
    expect(task.status).toBe('queued');
    expect(sim.stats().submits).toBe(1);
    expect(sim.stats().requests['evolink.create.replayed']).toBe(1);
  });

  it('repeats a submit with a caller key as the same task, and refuses the key for another request', async () => {
    sim.resetStats();
    const c = client();
    const request = { video: video(), audio: sim.fixtureUrl(AUDIO) };
    const first = await c.submit(request, { idempotencyKey: 'job-42' });
    const again = await c.submit(request, { idempotencyKey: 'job-42' });
    expect(again.id).toBe(first.id);
    expect(sim.stats().submits).toBe(1);
    const conflict = await caught(
      c.submit({ ...request, videoExtension: true }, { idempotencyKey: 'job-42' }),
    );
    expect(conflict).toMatchObject({ code: 'invalid_request', providerCode: 'idempotency_conflict' });
  });

  it('recovers a lost submit by repeating it under its key within the idempotency window', async () => {
    sim.resetStats();
    const c = client();
    const request = { video: video(), audio: sim.fixtureUrl(AUDIO) };
    const sent = await c.submit(request, { idempotencyKey: 'job-recover-1' });
    const found = await c.recoverSubmit(request, {
      idempotencyKey: 'job-recover-1',
      startedAt: Date.now() - 1000,
      isKnown: () => false,
    });
    expect(found).toMatchObject({ outcome: 'found', via: 'idempotency', task: { id: sent.id } });
    expect(sim.stats().submits).toBe(1);
  });

  it('recovers a lost submit through GET /v1/tasks once the key may be forgotten (audit §4.7)', async () => {
    const own = await createSimulator({ jobMs: 150 });
    try {
      // The client's clock runs 20 min ahead, past the idempotency window of the "lost" submit.
      const later = { now: () => Date.now() + 20 * 60_000, sleep: systemClock.sleep };
      const c = createClient({
        provider: 'evolink',
        apiKey: SIMULATOR_API_KEY,
        baseUrl: own.url,
        clock: later,
      });
      const request = { video: own.fixtureUrl(VIDEO), audio: own.fixtureUrl(AUDIO) };
      const startedAt = Date.now() - 2000;
      const recover = (isKnown: (id: string) => boolean) =>
        c.recoverSubmit(request, { idempotencyKey: 'job-recover-2', startedAt, isKnown });
      expect(await recover(() => false)).toEqual({ outcome: 'absent' });
      const lost = await c.submit(request);
      const found = await recover(() => false);
      expect(found).toMatchObject({ outcome: 'found', via: 'task_list', task: { id: lost.id } });
      const other = await c.submit(request);
      expect(await recover((id) => id === 'nobody')).toMatchObject({ outcome: 'unknown' });
      expect(await recover((id) => id === other.id)).toMatchObject({
        outcome: 'found',
        task: { id: lost.id },
      });
      expect((await c.listTasks({ sinceMs: startedAt })).map((t) => t.id)).toEqual([other.id, lost.id]);
      expect(own.stats().submits).toBe(2);
    } finally {
      await own.close();
    }
  });

  it('ends a task EvoLink reports as cancelled instead of polling it forever (audit row 1)', async () => {
    const own = await createSimulator({ jobMs: 100, evolinkCancelledStatus: 'cancelled' });
    try {
      const c = createClient({
        provider: 'evolink',
        apiKey: SIMULATOR_API_KEY,
        baseUrl: own.url,
        poll: { intervalMs: 20 },
      });
      const t = await c.submit({
        video: `${own.fixtureUrl(VIDEO)}?sim=fail:request_cancelled`,
        audio: own.fixtureUrl(AUDIO),
      });
      const err = (await caught(c.wait(t.id, { timeoutMs: 10_000 }))) as TaskFailedError;
      expect(err).toMatchObject({
        code: 'task_failed',
        taskStatus: 'canceled',
        providerCode: 'request_cancelled',
      });
      expect((err.task as Task).raw).toMatchObject({ status: 'cancelled' });
      const callback = parseCallback(JSON.stringify((err.task as Task).raw), 'evolink');
      expect(callback.status).toBe('canceled');
    } finally {
      await own.close();
    }
  });

  it('rides out 5xx bursts on queries', async () => {
    const task = await client().run({ video: video('flaky:2:502'), audio: sim.fixtureUrl(AUDIO) });
    expect(task.status).toBe('succeeded');
  });

  it('times out and aborts distinctly on a stuck task; cancel is not supported', async () => {
    const c = client();
    const stuck = await c.submit({ video: video('stuck'), audio: sim.fixtureUrl(AUDIO) });
    expect(await caught(c.wait(stuck.id, { timeoutMs: 150 }))).toMatchObject({ code: 'timeout' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 80);
    expect(await caught(c.wait(stuck.id, { signal: controller.signal }))).toMatchObject({ code: 'aborted' });
    expect(await caught(c.cancel(stuck.id))).toMatchObject({ code: 'not_supported' });
  });

  it('uploads a reference image through the files API and submits the returned URL', async () => {
    sim.resetStats();
    const c = client();
    const face = await uploadFilePath(c, join(FIXTURES, 'face.png'));
    expect(face.url).toMatch(/^https?:\/\//);
    expect(Date.parse(face.expiresAt!) - Date.now()).toBeGreaterThan(71 * 3600_000);
    const task = await c.run({ video: video(), audio: sim.fixtureUrl(AUDIO), refImage: face.url });
    expect(task.status).toBe('succeeded');
    expect(sim.stats().requests['evolink.files.upload']).toBe(1);
  });

  it('refuses audio and video for the files API, which documents images only, before sending anything (audit row 3)', async () => {
    sim.resetStats();
    const c = client();
    const err = await caught(
      c.uploadFile(await readFile(join(FIXTURES, AUDIO)), { filename: AUDIO, contentType: 'audio/wav' }),
    );
    expect(err).toMatchObject({ code: 'not_supported', provider: 'evolink' });
    expect(err.message).toContain('images only');
    expect(await caught(uploadFilePath(c, join(FIXTURES, VIDEO)))).toMatchObject({ code: 'not_supported' });
    expect(sim.stats().requests['evolink.files.upload']).toBeUndefined();
  });

  it('sends audio and video through the files API with evolinkUploadMedia where it takes them', async () => {
    const media = await createSimulator({ jobMs: 150, evolinkFilesMimeTypes: 'media' });
    try {
      const c = createClient({
        provider: 'evolink',
        apiKey: SIMULATOR_API_KEY,
        baseUrl: media.url,
        poll: { intervalMs: 20 },
        evolinkUploadMedia: true,
      });
      const audio = await uploadFilePath(c, join(FIXTURES, AUDIO));
      const vid = await uploadFilePath(c, join(FIXTURES, VIDEO));
      expect((await c.run({ video: vid.url, audio: audio.url })).status).toBe('succeeded');
      expect(media.stats().requests['evolink.files.upload']).toBe(2);
    } finally {
      await media.close();
    }
  });

  it('uses baseUrl for the files API when only baseUrl is overridden', () => {
    // Proven by the upload test above reaching the simulator; here the explicit override wins.
    const explicit = createClient({
      provider: 'evolink',
      apiKey: 'k',
      baseUrl: sim.url,
      filesBaseUrl: 'https://files.example',
    });
    expect(explicit.baseUrl).toBe(sim.url);
  });

  it('reports a quota-exhausted files API as quota', async () => {
    const tight = await createSimulator({ jobMs: 150, evolinkFilesQuota: 1 });
    try {
      const c = createClient({ provider: 'evolink', apiKey: SIMULATOR_API_KEY, baseUrl: tight.url });
      const bytes = await readFile(join(FIXTURES, 'face.png'));
      await c.uploadFile(bytes, { filename: 'a.png', contentType: 'image/png' });
      expect(
        await caught(c.uploadFile(bytes, { filename: 'b.png', contentType: 'image/png' })),
      ).toMatchObject({ code: 'quota' });
    } finally {
      await tight.close();
    }
  });

  it('parses the callback the service posts when a task ends', async () => {
    const received: string[] = [];
    const hook = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const port = (hook.address() as AddressInfo).port;
      // The client only sends https callback URLs, so this test posts the create request itself.
      const res = await fetch(`${sim.url}/v1/videos/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SIMULATOR_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'videoretalk',
          video_url: video(),
          audio_url: sim.fixtureUrl(AUDIO),
          callback_url: `http://127.0.0.1:${port}/cb`,
        }),
      });
      const { id } = (await res.json()) as { id: string };
      const deadline = Date.now() + 5000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const task = parseCallback(received[0], 'evolink');
      expect(task).toMatchObject({ id, status: 'succeeded', progress: 100 });
      expect(task.resultUrl).toMatch(/^http/);
    } finally {
      await new Promise((r) => hook.close(r));
    }
  });
});

describe('forward compatibility over HTTP', () => {
  let sim: Simulator;
  let proxyUrl: string;
  let close: () => Promise<void>;

  // A loopback proxy in front of the real simulator that renames statuses and adds fields, as a
  // future provider version might.
  beforeAll(async () => {
    sim = await createSimulator({ jobMs: 800, limits: { dashscopeSubmitsPerSecond: Infinity } });
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const upstream = await fetch(`${sim.url}${req.url}`, {
        method: req.method ?? 'GET',
        headers: Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length'),
        ) as Record<string, string>,
        ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
      });
      let text = await upstream.text();
      if (req.method === 'GET' && upstream.ok) {
        const body = JSON.parse(text);
        body.future_field = { nested: [1, 2, 3] };
        if (body.output) {
          body.output.brand_new = 'x';
          if (/RUNNING|PROCESSING/.test(body.output.task_status)) body.output.task_status = 'WARMING-UP';
        } else if (body.status === 'processing') {
          body.status = 'rendering';
        }
        text = JSON.stringify(body);
      }
      res.writeHead(upstream.status, { 'content-type': 'application/json' });
      res.end(text);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    close = () => new Promise((r) => proxy.close(() => r()));
  });
  afterAll(async () => {
    await close();
    await sim.close();
  });

  it('treats unknown statuses as running and keeps unknown fields in raw, on both providers', async () => {
    for (const [provider, baseUrl] of [
      ['dashscope', `${proxyUrl}/api/v1`],
      ['evolink', proxyUrl],
    ] as const) {
      const c = createClient({ provider, apiKey: SIMULATOR_API_KEY, baseUrl, poll: { intervalMs: 15 } });
      const statuses: string[] = [];
      const raws: unknown[] = [];
      const task = await c.run(
        { video: sim.fixtureUrl(VIDEO), audio: sim.fixtureUrl(AUDIO) },
        {
          onUpdate: (t) => {
            statuses.push(t.status);
            raws.push(t.raw);
          },
        },
      );
      expect(task.status, provider).toBe('succeeded');
      expect(statuses).toContain('running');
      expect((task.raw as { future_field?: unknown }).future_field).toEqual({ nested: [1, 2, 3] });
      const renamed = raws.some((r) => {
        const body = r as { status?: string; output?: { task_status?: string } };
        return body.status === 'rendering' || body.output?.task_status === 'WARMING-UP';
      });
      expect(renamed, provider).toBe(true);
    }
  });
});
