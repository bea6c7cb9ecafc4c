import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import {
  AUTH,
  call,
  closedPortUrl,
  DS_HEADERS,
  dsBody,
  dsCreate,
  dsGet,
  fixtureBytes,
  JSON_AUTH,
  type Json,
  VIDEO,
  waitFor,
} from './sim-requests.js';

const HOUR_MS = 3_600_000;
const TIME_FORMAT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UNLIMITED = {
  dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY,
  dashscopeQueriesPerSecond: Number.POSITIVE_INFINITY,
  dashscopeConcurrentTasks: Number.POSITIVE_INFINITY,
};
let sim: Simulator;

beforeAll(async () => {
  sim = await createSimulator({
    jobMs: 200,
    limits: UNLIMITED,
    apiKeys: ['sim-key', 'other'],
  });
});
afterAll(() => sim.close());

async function finish(id: string, base = sim.dashscopeUrl): Promise<Json> {
  return waitFor(
    () => dsGet(sim, id, base).then((r) => r.body),
    (b) => ['SUCCEEDED', 'FAILED', 'CANCELED'].includes(b.output.task_status),
  );
}

async function failureOf(input: Json, parameters: Json = {}): Promise<Json> {
  const { status, body } = await dsCreate(sim, dsBody(sim, input, parameters));
  expect(status).toBe(200);
  const done = await finish(body.output.task_id);
  expect(done.output.task_status).toBe('FAILED');
  expect(done.usage).toBeUndefined();
  return done.output;
}

describe('DashScope headers and auth', () => {
  it('answers 403 AccessDenied without X-DashScope-Async: enable', async () => {
    const res = await dsCreate(sim, dsBody(sim), JSON_AUTH);
    expect(res.status).toBe(403);
    expect(res.body).toEqual({
      request_id: expect.stringMatching(UUID),
      code: 'AccessDenied',
      message: 'current user api does not support synchronous calls.',
    });
  });

  it('answers 401 InvalidApiKey for a missing and for a wrong key, with distinct messages', async () => {
    const missing = await dsCreate(sim, dsBody(sim), {
      'content-type': 'application/json',
      'x-dashscope-async': 'enable',
    });
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ code: 'InvalidApiKey', message: 'No API-key provided.' });
    const wrong = await dsCreate(sim, dsBody(sim), { ...DS_HEADERS, authorization: 'Bearer wrong' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: 'InvalidApiKey', message: 'Invalid API-key provided.' });
    const query = await dsGet(sim, '00000000-0000-0000-0000-000000000000', sim.dashscopeUrl, {});
    expect(query.body).toMatchObject({ code: 'InvalidApiKey', message: 'No API-key provided.' });
  });

  it('answers errors in every documented body form when asked (audit row 14)', async () => {
    const wrongKey = { ...DS_HEADERS, authorization: 'Bearer wrong' };
    const expected = {
      flat: { code: 'InvalidApiKey', message: 'Invalid API-key provided.' },
      msg: { code: 'InvalidApiKey', msg: 'Invalid API-key provided.' },
      envelope: { error: { code: 'InvalidApiKey', message: 'Invalid API-key provided.' } },
      snake_case: { code: 'invalid_api_key', message: 'Invalid API-key provided.' },
    } as const;
    for (const [form, body] of Object.entries(expected)) {
      const own = await createSimulator({ dashscopeErrorForm: form as keyof typeof expected });
      try {
        const res = await dsCreate(own, dsBody(own), wrongKey);
        expect(res.status).toBe(401);
        expect(res.body).toMatchObject(body);
        const requestId = form === 'envelope' ? res.body.error.request_id : res.body.request_id;
        expect(requestId).toMatch(UUID);
      } finally {
        await own.close();
      }
    }
  });
});

describe('DashScope create', () => {
  it('accepts the path with and without the trailing slash under every reseller prefix', async () => {
    for (const prefix of ['/api/v1', '/qwen/api/v1', '/alibailian/api/v1']) {
      for (const path of [
        '/services/aigc/image2video/video-synthesis/',
        '/services/aigc/image2video/video-synthesis',
      ]) {
        const res = await dsCreate(sim, dsBody(sim), DS_HEADERS, sim.url + prefix, path);
        expect(res.status, prefix + path).toBe(200);
        expect(res.body).toEqual({
          output: { task_id: expect.stringMatching(UUID), task_status: 'PENDING' },
          request_id: expect.stringMatching(UUID),
        });
        const got = await dsGet(sim, res.body.output.task_id, sim.url + prefix);
        expect(got.body.output.task_id).toBe(res.body.output.task_id);
      }
    }
  });

  it('answers 400 InvalidParameter "Field required: …" for missing fields and bad values', async () => {
    const cases: Array<[Json, string]> = [
      [{ ...dsBody(sim), model: undefined }, 'Field required: model'],
      [{ model: 'videoretalk', parameters: {} }, 'Field required: input'],
      [dsBody(sim, { video_url: undefined }), 'Field required: input.video_url'],
      [dsBody(sim, { audio_url: '' }), 'Field required: input.audio_url'],
    ];
    for (const [body, message] of cases) {
      const res = await dsCreate(sim, body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'InvalidParameter', message });
    }
    for (const threshold of [100, 201, 'x']) {
      const res = await dsCreate(sim, dsBody(sim, {}, { query_face_threshold: threshold }));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('InvalidParameter');
      expect(res.body.message).toContain('query_face_threshold');
    }
    const local = await dsCreate(sim, dsBody(sim, { video_url: '/home/me/video.mp4' }));
    expect(local.status).toBe(400);
    expect(local.body.message).toContain('input.video_url');
    const model = await dsCreate(sim, { ...dsBody(sim), model: 'wanx' });
    // Audit row 5: the error page lists "Model not exist." under 400 InvalidParameter.
    expect(model.status).toBe(400);
    expect(model.body).toMatchObject({ code: 'InvalidParameter', message: 'Model not exist.' });
  });

  it('answers DataInspectionFailed as an HTTP 400 at submit when asked to', async () => {
    const res = await dsCreate(sim, dsBody(sim), {
      ...DS_HEADERS,
      'x-sim-scenario': 'reject:400:DataInspectionFailed',
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'DataInspectionFailed' });
    expect(Object.keys(res.body).sort()).toEqual(['code', 'message', 'request_id']);
  });
});

describe('DashScope task query', () => {
  it('goes PENDING → PRE-PROCESSING → RUNNING → POST-PROCESSING → SUCCEEDED with timestamps and usage', async () => {
    // A frozen clock moved by advanceTime makes every phase observable, however loaded the machine.
    const start = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
    const own = await createSimulator({ jobMs: 1000, now: () => start, limits: UNLIMITED });
    try {
      const { body } = await dsCreate(own, dsBody(own));
      const id = body.output.task_id;
      const status = async () => (await dsGet(own, id)).body;
      const pending = await status();
      expect(pending.output).toEqual({
        task_id: id,
        task_status: 'PENDING',
        submit_time: '2030-01-02 11:04:05.678',
      });
      own.advanceTime(100);
      const pre = await status();
      expect(pre.output).toMatchObject({
        task_status: 'PRE-PROCESSING',
        scheduled_time: '2030-01-02 11:04:05.778',
      });
      expect(pre.output.end_time).toBeUndefined();
      own.advanceTime(200);
      // RUNNING once the inputs are downloaded and probed (real I/O, so wait for it).
      const running = await waitFor(status, (b) => b.output.task_status !== 'PRE-PROCESSING');
      expect(running.output.task_status).toBe('RUNNING');
      own.advanceTime(500);
      expect((await status()).output.task_status).toBe('RUNNING');
      own.advanceTime(100);
      expect((await status()).output.task_status).toBe('POST-PROCESSING');
      own.advanceTime(100);
      const done = await status();
      expect(done.output).toMatchObject({
        task_status: 'SUCCEEDED',
        submit_time: '2030-01-02 11:04:05.678',
        scheduled_time: '2030-01-02 11:04:05.778',
        end_time: '2030-01-02 11:04:06.678',
      });
      for (const b of [pending, pre, running, done]) expect(b.output.progress).toBeUndefined();
      // 3 s video + 4 s audio: the output is the shorter of the two.
      expect(done.usage).toEqual({ video_duration: 3, video_ratio: 'standard', size: '640*640', fps: 25 });
      const url = new URL(done.output.video_url);
      expect(url.protocol).toBe('http:');
      expect(Number(url.searchParams.get('Expires'))).toBe(Math.floor((start + 1000) / 1000) + 24 * 3600);
    } finally {
      await own.close();
    }
  });

  it('bills the audio length when video_extension is on', async () => {
    const { body } = await dsCreate(
      sim,
      dsBody(sim, { audio_url: sim.fixtureUrl('speech-5s.mp3') }, { video_extension: true }),
    );
    const done = await finish(body.output.task_id);
    expect(done.output.task_status).toBe('SUCCEEDED');
    expect(done.usage.video_duration).toBeGreaterThan(5);
    expect(done.usage.video_duration).toBeLessThan(5.2);
  });

  it('can leave out the *-PROCESSING states', async () => {
    const plain = await createSimulator({
      jobMs: 1000,
      now: () => Date.UTC(2030, 0, 1),
      limits: UNLIMITED,
      dashscopeProcessingStates: false,
    });
    try {
      const { body } = await dsCreate(plain, dsBody(plain));
      const status = () => dsGet(plain, body.output.task_id).then((r) => r.body.output.task_status as string);
      const seen = [await status()];
      plain.advanceTime(150);
      seen.push(await waitFor(status, (s) => s !== 'PENDING'));
      plain.advanceTime(800);
      seen.push(await status());
      plain.advanceTime(100);
      seen.push(await waitFor(status, (s) => s === 'SUCCEEDED'));
      expect(seen).toEqual(['PENDING', 'RUNNING', 'RUNNING', 'SUCCEEDED']);
    } finally {
      await plain.close();
    }
  });

  it('keeps frames of a face-less video and succeeds (noface), unlike EvoLink', async () => {
    const { body } = await dsCreate(sim, dsBody(sim), { ...DS_HEADERS, 'x-sim-scenario': 'noface' });
    expect((await finish(body.output.task_id)).output.task_status).toBe('SUCCEEDED');
  });

  it('serves the input video as the result and answers 403 once the link expired', async () => {
    const { body } = await dsCreate(sim, dsBody(sim));
    const done = await finish(body.output.task_id);
    const res = await fetch(done.output.video_url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(fixtureBytes(VIDEO))).toBe(true);
    const tampered = done.output.video_url.replace(/Expires=\d+/, 'Expires=9999999999');
    const forged = await fetch(tampered);
    expect(forged.status).toBe(403);
    await forged.arrayBuffer();
    const ranged = await fetch(done.output.video_url, { headers: { range: 'bytes=0-99' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(100);
  });

  it('reports UNKNOWN for a never-seen id and for tasks 24 h after they ended', async () => {
    const never = await dsGet(sim, '11111111-2222-3333-4444-555555555555');
    expect(never.status).toBe(200);
    expect(never.body.output).toEqual({
      task_id: '11111111-2222-3333-4444-555555555555',
      task_status: 'UNKNOWN',
    });
    const { body } = await dsCreate(sim, dsBody(sim));
    const done = await finish(body.output.task_id);
    const foreign = await dsGet(sim, body.output.task_id, sim.dashscopeUrl, {
      authorization: 'Bearer other',
    });
    expect(foreign.body.output.task_status).toBe('UNKNOWN');
    sim.advanceTime(24 * HOUR_MS);
    const expired = await dsGet(sim, body.output.task_id);
    expect(expired.body.output).toEqual({ task_id: body.output.task_id, task_status: 'UNKNOWN' });
    const link = await fetch(done.output.video_url);
    expect(link.status).toBe(403);
    expect(await link.text()).toContain('Request has expired.');
  });
});

describe('DashScope failures driven by the inputs', () => {
  it('fails with InvalidFile.Resolution for a 320×240 video', async () => {
    const out = await failureOf({ video_url: sim.fixtureUrl('small-320x240-10fps-3s.mp4') });
    expect(out).toMatchObject({
      code: 'InvalidFile.Resolution',
      message: 'The height or width of video must be 640 ~ 2048.',
    });
    expect(out.end_time).toMatch(TIME_FORMAT);
  });

  it('applies the 640 px minimum to each side by default: 640×480 fails, 640×640 passes', async () => {
    const landscape = await failureOf({ video_url: sim.fixtureUrl('talking-640x480-25fps-3s.mp4') });
    expect(landscape.code).toBe('InvalidFile.Resolution');
    const portrait = await failureOf({ video_url: `${sim.fixtureUrl(VIDEO)}?sim_width=480` });
    expect(portrait.code).toBe('InvalidFile.Resolution');
    const { body } = await dsCreate(
      sim,
      dsBody(sim, { video_url: sim.fixtureUrl('talking-640x640-25fps-3s.mp4') }),
    );
    expect((await finish(body.output.task_id)).output.task_status).toBe('SUCCEEDED');
  });

  it("reads the minimum on the longer side only with mediaLimits.videoMinSideRule: 'longer'", async () => {
    const loose = await createSimulator({
      jobMs: 100,
      limits: UNLIMITED,
      mediaLimits: { videoMinSideRule: 'longer' },
    });
    try {
      const { body } = await dsCreate(
        loose,
        dsBody(loose, { video_url: loose.fixtureUrl('talking-640x480-25fps-3s.mp4') }),
      );
      const done = await waitFor(
        () => dsGet(loose, body.output.task_id).then((r) => r.body),
        (b) => b.output.task_status === 'SUCCEEDED' || b.output.task_status === 'FAILED',
      );
      expect(done.output.task_status).toBe('SUCCEEDED');
      expect(done.usage.size).toBe('640*480');
    } finally {
      await loose.close();
    }
  });

  it('fails with InvalidFile.Duration for a 1 s audio and for a video claimed to last 200 s', async () => {
    expect((await failureOf({ audio_url: sim.fixtureUrl('short-1s.wav') })).code).toBe(
      'InvalidFile.Duration',
    );
    expect((await failureOf({ video_url: `${sim.fixtureUrl(VIDEO)}?sim_duration=200` })).code).toBe(
      'InvalidFile.Duration',
    );
  });

  it('fails with InvalidFile.FPS, InvalidFile.Size and InvalidFile.Format from metadata and bytes', async () => {
    expect((await failureOf({ video_url: `${sim.fixtureUrl(VIDEO)}?sim_fps=61` })).code).toBe(
      'InvalidFile.FPS',
    );
    expect((await failureOf({ video_url: `${sim.fixtureUrl(VIDEO)}?sim_size=400000000` })).code).toBe(
      'InvalidFile.Size',
    );
    expect(
      (await failureOf({ audio_url: `${sim.fixtureUrl('speech-4s.wav')}?sim_size=40000000` })).code,
    ).toBe('InvalidFile.Size');
    expect((await failureOf({ video_url: sim.fixtureUrl('face.png') })).code).toBe('InvalidFile.Format');
    expect((await failureOf({ audio_url: sim.fixtureUrl(VIDEO) })).code).toBe('InvalidFile.Format');
  });

  it('fails with InvalidFile.Content / FaceNotMatch / ImageSize for a bad reference image', async () => {
    const face = sim.fixtureUrl('face.png');
    expect((await failureOf({ ref_image_url: `${face}?sim_face=none` })).code).toBe('InvalidFile.Content');
    expect((await failureOf({ ref_image_url: `${face}?sim_face=nomatch` })).code).toBe(
      'InvalidFile.FaceNotMatch',
    );
    expect((await failureOf({ ref_image_url: `${face}?sim_width=5000` })).code).toBe('InvalidFile.ImageSize');
    const { body } = await dsCreate(sim, dsBody(sim, { ref_image_url: face }, { query_face_threshold: 150 }));
    expect((await finish(body.output.task_id)).output.task_status).toBe('SUCCEEDED');
  });

  it('fails with InvalidURL.ConnectionRefused for an unreachable URL and InvalidURL.Timeout for a slow one', async () => {
    const refused = await failureOf({ video_url: await closedPortUrl() });
    expect(refused.code).toBe('InvalidURL.ConnectionRefused');
    expect(refused.message).toMatch(
      /^Connection to http:\/\/127\.0\.0\.1:\d+\/video\.mp4 refused, please provide avaiable URL/,
    );
    // A simulator of its own with a short download timeout: the shared one waits as long as the
    // service does, so a loaded machine never turns another test's verdict into a timeout.
    const impatient = await createSimulator({ jobMs: 200, limits: UNLIMITED, inputTimeoutMs: 150 });
    try {
      // The input answers after 60 s, far past the 150 ms timeout however busy the machine is.
      const { body } = await dsCreate(
        impatient,
        dsBody(impatient, { audio_url: `${impatient.fixtureUrl('speech-4s.wav')}?sim_delay_ms=60000` }),
      );
      const slow = (await finish(body.output.task_id, impatient.dashscopeUrl)).output;
      expect(slow.code).toBe('InvalidURL.Timeout');
      expect(slow.message).toContain('timeout, please check network connection.');
    } finally {
      await impatient.close();
    }
  });

  it('can refuse loopback and private input hosts like the public service does', async () => {
    const strict = await createSimulator({ jobMs: 100, limits: UNLIMITED, refusePrivateInputs: true });
    try {
      const { body } = await dsCreate(strict, dsBody(strict));
      const done = await waitFor(
        () => dsGet(strict, body.output.task_id).then((r) => r.body),
        (b) => b.output.task_status === 'FAILED',
      );
      expect(done.output.code).toBe('InvalidURL.ConnectionRefused');
      expect(strict.stats().requests['fixture.download']).toBeUndefined();
    } finally {
      await strict.close();
    }
  });

  it('fails with the code a fail: scenario names, e.g. InternalError', async () => {
    const { body } = await dsCreate(sim, dsBody(sim), {
      ...DS_HEADERS,
      'x-sim-scenario': 'fail:InternalError',
    });
    const done = await finish(body.output.task_id);
    expect(done.output).toMatchObject({ task_status: 'FAILED', code: 'InternalError' });
  });

  it('takes metadata from sim_* params when it does not fetch inputs', async () => {
    const blind = await createSimulator({ jobMs: 100, limits: UNLIMITED, fetchInputs: false });
    try {
      const ok = await dsCreate(
        blind,
        dsBody(blind, {
          video_url: 'https://cdn.example.com/a.mp4?sim_duration=7.5',
          audio_url: 'https://cdn.example.com/a.wav?sim_duration=9',
        }),
      );
      const done = await waitFor(
        () => dsGet(blind, ok.body.output.task_id).then((r) => r.body),
        (b) => b.output.task_status === 'SUCCEEDED',
      );
      expect(done.usage.video_duration).toBe(7.5);
      const bad = await dsCreate(
        blind,
        dsBody(blind, { video_url: 'https://cdn.example.com/a.mp4?sim_fps=10' }),
      );
      const failed = await waitFor(
        () => dsGet(blind, bad.body.output.task_id).then((r) => r.body),
        (b) => b.output.task_status === 'FAILED',
      );
      expect(failed.output.code).toBe('InvalidFile.FPS');
      expect(blind.stats().requests['fixture.download']).toBeUndefined();
    } finally {
      await blind.close();
    }
  });
});

describe('DashScope cancel and list', () => {
  it('cancels a PENDING task and refuses to cancel one that already runs', async () => {
    const serial = await createSimulator({
      jobMs: 300,
      limits: {
        dashscopeSubmitsPerSecond: Number.POSITIVE_INFINITY,
        dashscopeQueriesPerSecond: Number.POSITIVE_INFINITY,
      },
    });
    try {
      const first = await dsCreate(serial, dsBody(serial));
      const second = await dsCreate(serial, dsBody(serial));
      await waitFor(
        () => dsGet(serial, first.body.output.task_id).then((r) => r.body.output.task_status),
        (s) => s !== 'PENDING',
      );
      const cancel = await call(`${serial.dashscopeUrl}/tasks/${second.body.output.task_id}/cancel`, {
        method: 'POST',
        headers: AUTH,
      });
      expect(cancel.status).toBe(200);
      expect(cancel.body).toEqual({ request_id: expect.stringMatching(UUID) });
      const canceled = await dsGet(serial, second.body.output.task_id);
      expect(canceled.body.output.task_status).toBe('CANCELED');
      const refused = await call(`${serial.dashscopeUrl}/tasks/${first.body.output.task_id}/cancel`, {
        method: 'POST',
        headers: AUTH,
      });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ code: 'UnsupportedOperation' });
      expect(serial.stats().requests['dashscope.cancel']).toBe(2);
    } finally {
      await serial.close();
    }
  });

  it('lists the key’s tasks with paging and a status filter', async () => {
    const lister = await createSimulator({ jobMs: 100, limits: UNLIMITED });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await dsCreate(lister, dsBody(lister))).body.output.task_id);
      for (const id of ids)
        await waitFor(
          () => dsGet(lister, id).then((r) => r.body.output.task_status),
          (s) => s === 'SUCCEEDED',
        );
      const page = await call(
        `${lister.url}/qwen/api/v1/tasks?page_no=1&page_size=2&status=SUCCEEDED&model_name=videoretalk`,
      );
      expect(page.status).toBe(200);
      expect(page.body).toMatchObject({ total: 3, total_page: 2, page_no: 1, page_size: 2 });
      expect(page.body.data).toHaveLength(2);
      expect(page.body.data[0]).toMatchObject({
        model_name: 'videoretalk',
        status: 'SUCCEEDED',
        region: 'cn-beijing',
      });
      expect(typeof page.body.data[0].gmt_create).toBe('number');
      const none = await call(`${lister.dashscopeUrl}/tasks?status=PENDING`);
      expect(none.body.total).toBe(0);
      const bad = await call(`${lister.dashscopeUrl}/tasks?start_time=yesterday`);
      expect(bad.status).toBe(400);
      expect(bad.body.message).toContain('YYYYMMDDhhmmss');
    } finally {
      await lister.close();
    }
  });

  it('keeps the list window to 24 h, filters by task_id, knows UNKNOWN and leaves out unset times (audit row 19)', async () => {
    const lister = await createSimulator({
      jobMs: 60_000,
      limits: UNLIMITED,
      now: () => Date.UTC(2030, 0, 2),
    });
    try {
      const compact = (ms: number) =>
        new Date(ms + 8 * HOUR_MS).toISOString().replace(/[-:T]/g, '').slice(0, 14);
      const now = Date.UTC(2030, 0, 2);
      const running = (await dsCreate(lister, dsBody(lister))).body.output.task_id as string;
      await dsCreate(lister, dsBody(lister));
      // No times: the last 24 h. The running task has no end_time key at all (the docs' example).
      const all = await call(`${lister.dashscopeUrl}/tasks`);
      expect(all.body.total).toBe(2);
      const row = all.body.data.find((r: Json) => r.task_id === running);
      expect(row).toBeDefined();
      expect('end_time' in row).toBe(false);
      const one = await call(`${lister.dashscopeUrl}/tasks?task_id=${running}`);
      expect(one.body.data.map((r: Json) => r.task_id)).toEqual([running]);
      expect((await call(`${lister.dashscopeUrl}/tasks?status=UNKNOWN`)).status).toBe(200);
      const wide = await call(
        `${lister.dashscopeUrl}/tasks?start_time=${compact(now - 25 * HOUR_MS)}&end_time=${compact(now)}`,
      );
      expect(wide.status).toBe(400);
      expect(wide.body).toMatchObject({ code: 'InvalidParameter' });
      expect(wide.body.message).toContain('24 hours');
      // end_time alone: the 24 h before it, which the tasks created "now" are not in.
      const before = await call(`${lister.dashscopeUrl}/tasks?end_time=${compact(now - 2 * HOUR_MS)}`);
      expect(before.body.total).toBe(0);
    } finally {
      await lister.close();
    }
  });
});
