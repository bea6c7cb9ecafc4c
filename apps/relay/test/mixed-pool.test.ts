import fs from 'node:fs';
import net from 'node:net';
import { Writable } from 'node:stream';
import { checkMedia, MEDIA_LIMITS, strictestMediaLimits } from '@retalk/core';
import { MeSchema } from '@retalk/core/relay';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { serveRelay } from '../src/serve.js';
import type { Harness, JobBody } from './harness.js';
import { startRelay, storeEnv, tempDir, upstreamsCli, withStoreOf } from './harness.js';

// Issue 13: one pool of DashScope accounts and EvoLink keys.

const ADMIN_TOKEN = 'admin-token-for-the-mixed-pool-suite-0123456';
// Keys distinctive enough that finding one anywhere is a real leak (the harness scans for them).
const DS_KEY = 'sk-mixed-DASHSCOPE-ACCOUNT-4e2a9c71b3d5f608';
const EVO_KEY = 'sk-mixed-EVOLINK-KEY-8b1d3f5a7c9e0246';
const KEYS = [DS_KEY, EVO_KEY];

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function postJobs(
  harness: Harness,
  token: string,
  count: number,
  video = 'talking-640x640-25fps-3s.mp4',
) {
  const [videoId, audioId] = await Promise.all([
    harness.upload('video', video, token),
    harness.upload('audio', 'speech-4s.wav', token),
  ]);
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    const res = await harness.api('POST', '/v1/jobs', {
      token,
      body: { video: { uploadId: videoId }, audio: { uploadId: audioId }, title: `mixed ${i}` },
    });
    expect(res.status, res.text).toBe(201);
    ids.push(res.json.id as string);
  }
  return ids;
}

async function storedJobs(dataDir: string, ids: string[]) {
  return withStoreOf(dataDir, async (store) =>
    Promise.all(
      ids.map(async (id) => {
        const job = await store.getJob(id);
        return {
          id,
          upstream: job?.upstreamName ?? null,
          provider: job?.provider,
          upstreamId: job?.upstreamId,
        };
      }),
    ),
  );
}

async function until(predicate: () => Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((r) => setTimeout(r, 50));
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the upstreams file with both providers', () => {
  const load = (upstreams: unknown) => {
    const dir = tempDir();
    const file = `${dir}/upstreams.json`;
    fs.writeFileSync(file, JSON.stringify(upstreams));
    return () => loadConfig({ RETALK_UPSTREAMS_FILE: file, RETALK_DATA_DIR: dir }, dir);
  };

  it('loads DashScope accounts and EvoLink keys in one pool, each with its own provider defaults', () => {
    const config = load({
      upstreams: [
        { name: 'ds-main', provider: 'dashscope', key: 'sk-ds-main-abcdef', account: 'alibaba-1' },
        { name: 'evo-1', provider: 'evolink', key: 'sk-evo-1-abcdef', priority: 2 },
        {
          name: 'reseller',
          provider: 'dashscope',
          key: 'sk-res-abcdef',
          baseUrl: 'https://example.com/qwen/api/v1',
        },
      ],
    })();
    expect(config.provider).toBe('dashscope');
    expect(config.upstreams?.map((u) => [u.name, u.provider, u.concurrency, u.submitIntervalMs])).toEqual([
      ['ds-main', 'dashscope', 1, 1100],
      ['evo-1', 'evolink', 32, 111],
      ['reseller', 'dashscope', 1, 1100],
    ]);
  });

  it('starts as `retalk-relay serve` does (the file alone names the keys), scrubbing every key of the pool', async () => {
    const dir = tempDir();
    const file = `${dir}/upstreams.json`;
    fs.writeFileSync(
      file,
      JSON.stringify({
        upstreams: [
          { name: 'ds', provider: 'dashscope', key: DS_KEY, baseUrl: 'http://127.0.0.1:9/api/v1' },
          { name: 'evo', provider: 'evolink', key: EVO_KEY, baseUrl: 'http://127.0.0.1:9' },
        ],
      }),
    );
    const logged: string[] = [];
    const running = await serveRelay(
      loadConfig({ ...(await storeEnv(dir)), RETALK_UPSTREAMS_FILE: file, PORT: '0' }, dir),
      {
        print: (line) => logged.push(line),
        logStream: new Writable({
          write: (chunk, _e, cb) => {
            logged.push(String(chunk));
            cb();
          },
        }),
      },
    );
    try {
      const ready = await fetch(`${running.url}/readyz`);
      expect(await ready.json()).toMatchObject({ providers: ['dashscope', 'evolink'] });
      running.relay.app.log.warn({ echoed: `${DS_KEY} ${EVO_KEY}` }, 'a key reached a log line');
    } finally {
      await running.close();
    }
    const text = logged.join('\n');
    expect(text).toContain('a key reached a log line');
    for (const key of KEYS) expect(text).not.toContain(key);
  });

  it('refuses one account named by upstreams of both providers, naming the entries', () => {
    expect(
      load([
        { name: 'ds', provider: 'dashscope', key: 'sk-ds-abcdef', account: 'shared' },
        { name: 'evo', provider: 'evolink', key: 'sk-evo-abcdef', account: 'shared' },
      ]),
    ).toThrow(
      /upstream "evo": account "shared" is also the account of upstream "ds", which uses dashscope, not evolink/,
    );
  });
});

describe('strictestMediaLimits', () => {
  it('takes the strictest of each limit, so a file that fits fits every provider', () => {
    const base = MEDIA_LIMITS.dashscope;
    const wider = {
      ...base,
      video: { ...base.video, maxDurationSec: 300, formats: [...base.video.formats, 'webm'], minFps: 10 },
      audio: { ...base.audio, formats: [...base.audio.formats, 'm4a'], maxSizeBytes: 50 * 1024 * 1024 },
    };
    const limits = strictestMediaLimits(['dashscope', 'evolink'], { dashscope: base, evolink: wider });
    expect(limits.video.maxDurationSec).toBe(120);
    expect(limits.video.minFps).toBe(15);
    expect(limits.video.formats).toEqual(['mp4', 'avi', 'mov']);
    expect(limits.audio.formats).toEqual(['wav', 'mp3', 'aac']);
    expect(limits.audio.maxSizeBytes).toBe(30 * 1024 * 1024);
    // The same checks against the strictest limits: a 200 s video fits one provider, not the pool.
    expect(checkMedia({ kind: 'video', durationSec: 200 }, 'evolink', { limits: wider })).toEqual([]);
    expect(checkMedia({ kind: 'video', durationSec: 200 }, 'evolink', { limits })[0]?.field).toBe('duration');
  });
});

describe('a pool of DashScope accounts and EvoLink keys', () => {
  it('reports both providers and the limits every one accepts, conforms jobs to them, and shows both in the admin view and the CLI', async () => {
    h = await startRelay({
      provider: 'dashscope',
      // Held still: nothing finishes until the test moves the simulator's clock.
      jobMs: 60_000,
      simKeys: { apiKeys: KEYS },
      env: { RETALK_ADMIN_TOKEN: ADMIN_TOKEN },
      upstreams: [
        { name: 'ds', provider: 'dashscope', key: DS_KEY, account: 'alibaba-1' },
        { name: 'evo', provider: 'evolink', key: EVO_KEY, priority: 2 },
      ],
    });
    const harness = h;
    const team = await harness.addMember('team', { maxConcurrentJobs: 50 });

    const me = await harness.api('GET', '/v1/me', { token: team });
    expect(me.status, me.text).toBe(200);
    const parsed = MeSchema.parse(me.json);
    expect(parsed.providers).toEqual(['dashscope', 'evolink']);
    expect(parsed.provider).toBe('dashscope');
    expect(parsed.limits.video).toMatchObject({ maxDurationSec: 120, minFps: 15, maxSidePx: 2048 });
    expect(parsed.canCancel).toBe(true);
    const ready = await harness.api('GET', '/readyz', { token: null });
    expect(ready.json).toMatchObject({
      ok: true,
      provider: 'dashscope',
      providers: ['dashscope', 'evolink'],
    });

    // A 320×240 10 fps screen recording is made to fit the pool's limits before it is placed.
    const ids = await postJobs(harness, team, 3, 'small-320x240-10fps-3s.mp4');
    // Held still until all are sent: DashScope runs one task at a time, so two go to EvoLink.
    for (const id of ids)
      await harness.waitForJob(id, (j) => j.status === 'submitted' || j.status === 'running', 90_000, team);
    const placed = await storedJobs(harness.dataDir, ids);
    expect(placed.map((p) => `${p.upstream}:${p.provider}`).sort()).toEqual([
      'ds:dashscope',
      'evo:evolink',
      'evo:evolink',
    ]);
    harness.sim.advanceTime(60_000);
    const done = await Promise.all(
      ids.map((id) =>
        harness.waitForJob(id, (j) => j.status === 'succeeded' || j.status === 'failed', 60_000, team),
      ),
    );
    for (const job of done) {
      expect(job.error).toBeUndefined();
      expect(job.status).toBe('succeeded');
      expect(job.conform?.video?.changes).toEqual(
        expect.arrayContaining([expect.stringMatching(/^scaled 320×240 → /), 'frame rate 10 → 25 fps']),
      );
    }
    // What each provider received fits both providers' limits.
    const videos = harness.sim.stats().inputs.filter((i) => i.kind === 'video');
    expect(videos.length).toBe(3);
    for (const v of videos) {
      expect(checkMedia(v.meta, 'dashscope')).toEqual([]);
      expect(checkMedia(v.meta, 'evolink')).toEqual([]);
    }
    const view = await harness.api('GET', '/admin/upstreams', { token: ADMIN_TOKEN });
    expect(view.status, view.text).toBe(200);
    expect(
      (view.json.upstreams as Array<{ name: string; provider: string; health: string }>).map((u) => [
        u.name,
        u.provider,
        u.health,
      ]),
    ).toEqual([
      ['ds', 'dashscope', 'healthy'],
      ['evo', 'evolink', 'healthy'],
    ]);
    const { code, printed } = await upstreamsCli(harness.dataDir);
    expect(code).toBe(0);
    expect(printed).toMatch(/\nds\tdashscope\talibaba-1\t1\t0\thealthy\t/);
    expect(printed).toMatch(/\nevo\tevolink\tevo\t2\t0\thealthy\t/);
    for (const key of KEYS) {
      expect(printed).not.toContain(key);
      expect(view.text).not.toContain(key);
    }
  });

  it('fails over from a DashScope outage to EvoLink: jobs not yet sent finish there, each sent once', async () => {
    h = await startRelay({
      provider: 'dashscope',
      jobMs: 300,
      readRetries: 0,
      simKeys: { apiKeys: KEYS },
      env: { RETALK_ADMIN_TOKEN: ADMIN_TOKEN },
      upstreams: [
        // Preferred (priority 1) and down from the start.
        { name: 'ds', provider: 'dashscope', key: DS_KEY, priority: 1, cooldownSeconds: 0.3 },
        { name: 'evo', provider: 'evolink', key: EVO_KEY, priority: 2, cooldownSeconds: 0.3 },
      ],
    });
    const harness = h;
    harness.sim.setOutage(DS_KEY, { status: 503 });
    const team = await harness.addMember('team', { maxConcurrentJobs: 50 });
    const ids = await postJobs(harness, team, 4);
    // Every job but the one caught in the outage (its outcome unknown, it stays with its upstream
    // until DashScope can say it never got it) finishes on EvoLink while the outage lasts.
    await until(async () => {
      const jobs = await Promise.all(
        ids.map(async (id) => (await harness.api('GET', `/v1/jobs/${id}`, { token: team })).json as JobBody),
      );
      return jobs.filter((j) => j.status === 'succeeded').length >= 3;
    });
    const during = await storedJobs(harness.dataDir, ids);
    expect(
      during.filter((p) => p.upstream === 'evo' && p.provider === 'evolink').length,
    ).toBeGreaterThanOrEqual(3);
    const ds = (
      (await harness.api('GET', '/admin/upstreams', { token: ADMIN_TOKEN })).json.upstreams as Array<{
        name: string;
        health: string;
        reason: string | null;
      }>
    ).find((u) => u.name === 'ds');
    expect(ds?.health).toBe('unhealthy');
    expect(ds?.reason).toMatch(/provider_unavailable/);

    harness.sim.setOutage(DS_KEY, undefined);
    for (const id of ids) await harness.waitForJob(id, (j) => j.status === 'succeeded', 60_000, team);
    const after = await storedJobs(harness.dataDir, ids);
    // One provider task per job: nothing was sent twice, on either provider.
    expect(harness.sim.stats().submits).toBe(ids.length);
    expect(new Set(after.map((p) => p.upstreamId)).size).toBe(ids.length);
    for (const p of after) expect(Object.keys(harness.sim.stats().tasks)).toContain(p.upstreamId);
  });
});

describe('a job that needs what only some providers have', () => {
  it('goes only to DashScope when its uploads can reach a provider only through DashScope storage', async () => {
    h = await startRelay({
      provider: 'evolink',
      jobMs: 300,
      simKeys: { apiKeys: KEYS },
      // Relay links off: files reach a provider through its own storage (EvoLink's takes images only).
      env: { RETALK_INPUT_ROUTE: 'provider' },
      upstreams: [
        // EvoLink first and cheaper: without the rule every job would go there and fail upstream.
        { name: 'evo', provider: 'evolink', key: EVO_KEY, priority: 1 },
        { name: 'ds', provider: 'dashscope', key: DS_KEY, priority: 2 },
      ],
    });
    const harness = h;
    const team = await harness.addMember('team', { maxConcurrentJobs: 50 });
    const ids = await postJobs(harness, team, 2);
    for (const id of ids) {
      const job = await harness.waitForJob(
        id,
        (j) => j.status === 'succeeded' || j.status === 'failed',
        60_000,
        team,
      );
      expect(job.error).toBeUndefined();
      expect(job.status).toBe('succeeded');
    }
    const placed = await storedJobs(harness.dataDir, ids);
    expect(placed.map((p) => [p.upstream, p.provider])).toEqual([
      ['ds', 'dashscope'],
      ['ds', 'dashscope'],
    ]);
    // Both inputs of both jobs went through DashScope's temporary storage.
    expect(harness.sim.stats().requests['oss.upload']).toBe(4);
    expect(harness.sim.stats().createRequests.every((r) => r.provider === 'dashscope')).toBe(true);
  });

  it('fails instead of looping when the only upstream that can take it refuses its key', async () => {
    h = await startRelay({
      provider: 'evolink',
      jobMs: 300,
      simKeys: { apiKeys: KEYS },
      env: { RETALK_INPUT_ROUTE: 'provider' },
      upstreams: [
        { name: 'ds', provider: 'dashscope', key: DS_KEY, priority: 1, cooldownSeconds: 600 },
        // Healthy, but its storage cannot take the job's video: no place for it.
        { name: 'evo', provider: 'evolink', key: EVO_KEY, priority: 2 },
      ],
    });
    const harness = h;
    harness.sim.setOutage(DS_KEY, { status: 400, code: 'Arrearage' });
    const [id] = await postJobs(harness, harness.token, 1);
    const job = await harness.waitForJob(id as string, (j) => j.status === 'failed', 60_000);
    expect(job.error?.message).toMatch(/The provider refused the job/);
    // One create, not a loop of them between the refusal and the requeue.
    expect(harness.sim.stats().createRequests.filter((r) => r.provider === 'dashscope').length).toBe(1);
    expect(harness.sim.stats().createRequests.some((r) => r.provider === 'evolink')).toBe(false);
  });

  it('is refused at once, naming the field, when no upstream of the pool can take it', async () => {
    h = await startRelay({
      provider: 'evolink',
      jobMs: 300,
      simKeys: { apiKeys: KEYS },
      env: { RETALK_INPUT_ROUTE: 'provider' },
      upstreams: [{ name: 'evo', provider: 'evolink', key: EVO_KEY }],
    });
    const harness = h;
    const [video, audio] = await Promise.all([
      harness.upload('video', 'talking-640x640-25fps-3s.mp4'),
      harness.upload('audio', 'speech-4s.wav'),
    ]);
    const res = await harness.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    expect(res.status, res.text).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'no_capable_upstream', field: 'video' });
    expect(res.json.error.message).toMatch(/EvoLink's storage takes image\/jpeg.* only/);
    expect(res.json.error.message).toMatch(/RETALK_PUBLIC_URL/);
    expect(harness.sim.stats().submits).toBe(0);
  });

  it('goes to EvoLink again once the relay has a public address for its links', async () => {
    const port = await freePort();
    h = await startRelay({
      provider: 'evolink',
      jobMs: 300,
      port,
      simKeys: { apiKeys: KEYS },
      env: { RETALK_INPUT_ROUTE: 'provider', RETALK_PUBLIC_URL: `http://127.0.0.1:${port}` },
      upstreams: [
        { name: 'evo', provider: 'evolink', key: EVO_KEY, priority: 1 },
        { name: 'ds', provider: 'dashscope', key: DS_KEY, priority: 2 },
      ],
    });
    const harness = h;
    const [id] = await postJobs(harness, harness.token, 1);
    await harness.waitForJob(id as string, (j) => j.status === 'succeeded', 60_000);
    expect((await storedJobs(harness.dataDir, [id as string]))[0]?.upstream).toBe('evo');
  });
});
