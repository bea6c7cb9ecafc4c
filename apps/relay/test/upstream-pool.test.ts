import fs from 'node:fs';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { serveRelay } from '../src/serve.js';
import type { Harness, JobBody } from './harness.js';
import { startRelay, tempDir, upstreamsCli, withoutInstanceLabel, withStoreOf } from './harness.js';

const ADMIN_TOKEN = 'admin-token-for-the-upstream-pool-suite-0123';
// Keys distinctive enough that finding one anywhere is a real leak (the harness scans for them).
const KEYS = [
  'sk-pool-ACCOUNT-A-7d1e90c2b4f64a1e',
  'sk-pool-ACCOUNT-B-3a5c71e8d2094b6f',
  'sk-pool-ACCOUNT-C1-9b2f4e6a8c1d3057',
  'sk-pool-ACCOUNT-C2-5e7a9c1b3d5f7092',
] as const;
const [KEY_A, KEY_B, KEY_C1, KEY_C2] = KEYS;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function postJobs(harness: Harness, token: string, count: number, title: string): Promise<string[]> {
  const [video, audio] = await Promise.all([
    harness.upload('video', 'talking-640x640-25fps-3s.mp4', token),
    harness.upload('audio', 'speech-4s.wav', token),
  ]);
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    const res = await harness.api('POST', '/v1/jobs', {
      token,
      body: { video: { uploadId: video }, audio: { uploadId: audio }, title: `${title} ${i}` },
    });
    expect(res.status, res.text).toBe(201);
    ids.push(res.json.id as string);
  }
  return ids;
}

async function upstreamsView(harness: Harness) {
  const res = await harness.api('GET', '/admin/upstreams', { token: ADMIN_TOKEN });
  expect(res.status, res.text).toBe(200);
  for (const key of KEYS) expect(res.text).not.toContain(key);
  return res.json.upstreams as Array<{
    name: string;
    health: string;
    reason: string | null;
    lastError: { code: string; message: string } | null;
    inFlight: number;
    liveJobs: number;
  }>;
}

async function upstreamOfJobs(dataDir: string, ids: string[]): Promise<Map<string, string | null>> {
  return withStoreOf(dataDir, async (store) => {
    const out = new Map<string, string | null>();
    for (const id of ids) out.set(id, (await store.getJob(id))?.upstreamName ?? null);
    return out;
  });
}

describe('a pool of DashScope upstreams', () => {
  it('places jobs on three accounts, one task per account at a time (two keys of one account share its slot)', async () => {
    h = await startRelay({
      provider: 'dashscope',
      jobMs: 400,
      simKeys: { apiKeys: [...KEYS], dashscopeAccounts: [[KEY_A], [KEY_B], [KEY_C1, KEY_C2]] },
      env: { RETALK_ADMIN_TOKEN: ADMIN_TOKEN },
      upstreams: [
        { name: 'a', provider: 'dashscope', key: KEY_A, account: 'acct-a' },
        { name: 'b', provider: 'dashscope', key: KEY_B, account: 'acct-b' },
        { name: 'c1', provider: 'dashscope', key: KEY_C1, account: 'acct-c' },
        { name: 'c2', provider: 'dashscope', key: KEY_C2, account: 'acct-c' },
      ],
    });
    const harness = h;
    const team = await harness.addMember('team', { maxConcurrentJobs: 50 });
    const ids = await postJobs(harness, team, 9, 'job');
    for (const id of ids) await harness.waitForJob(id, (j) => j.status === 'succeeded', 90_000, team);

    const stats = harness.sim.stats();
    expect(stats.submits).toBe(9);
    // The simulator's own count: no account ever held two unfinished tasks.
    expect(Object.keys(stats.peakTasksPerAccount).sort()).toEqual(['account-1', 'account-2', 'account-3']);
    for (const peak of Object.values(stats.peakTasksPerAccount)) expect(peak).toBe(1);
    const placed = await upstreamOfJobs(harness.dataDir, ids);
    const accounts = new Set(
      [...placed.values()].map((name) => (name === 'c1' || name === 'c2' ? 'acct-c' : name)),
    );
    expect(accounts).toEqual(new Set(['a', 'b', 'acct-c']));
    const view = await upstreamsView(harness);
    expect(view.map((u) => [u.name, u.health])).toEqual([
      ['a', 'healthy'],
      ['b', 'healthy'],
      ['c1', 'healthy'],
      ['c2', 'healthy'],
    ]);
    const text = withoutInstanceLabel((await harness.api('GET', '/metrics')).text);
    expect(text).toMatch(/retalk_upstream_submits_total\{upstream="a"\} [1-9]/);
    expect(text).toMatch(/retalk_upstream_healthy\{upstream="c2"\} 1/);
  });

  it('marks an upstream unhealthy from the failed attempts of a read that is still retrying, not only after three whole calls failed', async () => {
    h = await startRelay({
      provider: 'dashscope',
      // The job runs until the test ends: its polls are the only calls to the stormy upstream.
      jobMs: 600_000,
      simKeys: { apiKeys: [KEY_A, KEY_B] },
      env: { RETALK_ADMIN_TOKEN: ADMIN_TOKEN },
      upstreams: [
        { name: 'stormy', provider: 'dashscope', key: KEY_A, priority: 1, cooldownSeconds: 600 },
        { name: 'calm', provider: 'dashscope', key: KEY_B, priority: 2 },
      ],
    });
    const harness = h;
    const team = await harness.addMember('team', { maxConcurrentJobs: 5 });
    await postJobs(harness, team, 1, 'polled');
    // Sent to the preferred upstream; from now on the relay polls it there.
    await until(async () => harness.sim.stats().submits === 1);
    harness.sim.setOutage(KEY_A, { status: 503 });
    await until(
      async () => (await upstreamsView(harness)).find((u) => u.name === 'stormy')?.health === 'unhealthy',
    );
    const metrics = withoutInstanceLabel((await harness.api('GET', '/metrics')).text);
    const errors = (op: string) =>
      Number(
        new RegExp(
          `retalk_upstream_errors_total\\{upstream="stormy",op="${op}",code="provider_unavailable"\\} (\\d+)`,
        ).exec(metrics)?.[1] ?? 0,
      );
    // Each poll retries a 503 four times over several seconds: the mark came from those attempts,
    // before three polls had failed whole.
    expect(errors('retry')).toBeGreaterThanOrEqual(1);
    expect(errors('get')).toBeLessThan(3);
  });

  it('fails over during a 5xx storm: jobs not yet sent go elsewhere, the stormy upstream is marked unhealthy with its reason, and recovers after it', async () => {
    h = await startRelay({
      provider: 'dashscope',
      jobMs: 300,
      readRetries: 0,
      simKeys: { apiKeys: [KEY_A, KEY_B] },
      env: { RETALK_ADMIN_TOKEN: ADMIN_TOKEN },
      upstreams: [
        // Preferred (priority 1) and in a storm from the start.
        { name: 'stormy', provider: 'dashscope', key: KEY_A, priority: 1, cooldownSeconds: 0.3 },
        { name: 'calm', provider: 'dashscope', key: KEY_B, priority: 2, cooldownSeconds: 0.3 },
      ],
    });
    const harness = h;
    harness.sim.setOutage(KEY_A, { status: 503 });
    const team = await harness.addMember('team', { maxConcurrentJobs: 50 });
    const ids = await postJobs(harness, team, 4, 'storm');
    // Every job but the one caught in the storm (its outcome unknown, it stays with its upstream)
    // finishes on the calm upstream while the storm lasts.
    await until(async () => {
      const jobs = await Promise.all(
        ids.map(async (id) => (await harness.api('GET', `/v1/jobs/${id}`, { token: team })).json as JobBody),
      );
      return jobs.filter((j) => j.status === 'succeeded').length >= 3;
    });
    const stormy = (await upstreamsView(harness)).find((u) => u.name === 'stormy');
    expect(stormy?.health).toBe('unhealthy');
    expect(stormy?.reason).toMatch(/failed calls in a row, the last provider_unavailable/);
    expect(stormy?.lastError?.message).toMatch(/503/);
    const placed = await upstreamOfJobs(harness.dataDir, ids);
    expect([...placed.values()].filter((name) => name === 'calm').length).toBeGreaterThanOrEqual(3);
    // The CLI, another process on the same store, reads the health the relay stored.
    const { code, printed } = await upstreamsCli(harness.dataDir);
    expect(code).toBe(0);
    expect(printed).toMatch(/^name\tprovider\taccount\tpriority/);
    expect(printed).toMatch(
      /\nstormy\tdashscope\tstormy\t1\t0\tunhealthy\t\d+\t\d+\/1\t\S+\t\S+Z\t\d+ failed calls in a row/,
    );
    expect(printed).toMatch(/\ncalm\tdashscope\tcalm\t2\t0\thealthy\t/);
    for (const key of KEYS) expect(printed).not.toContain(key);

    // The storm ends: the probe finds the upstream answering and the last job finishes too.
    harness.sim.setOutage(KEY_A, undefined);
    for (const id of ids) await harness.waitForJob(id, (j) => j.status === 'succeeded', 60_000, team);
    await until(async () => (await upstreamsView(harness)).every((u) => u.health === 'healthy'));
    // Nothing was sent twice.
    expect(harness.sim.stats().submits).toBe(4);
  });

  it('takes a refused key out at once and sends the job to another upstream', async () => {
    h = await startRelay({
      provider: 'dashscope',
      jobMs: 300,
      simKeys: { apiKeys: [KEY_A, KEY_B] },
      env: { RETALK_ADMIN_TOKEN: ADMIN_TOKEN },
      upstreams: [
        { name: 'unpaid', provider: 'dashscope', key: KEY_A, priority: 1, cooldownSeconds: 600 },
        { name: 'paid', provider: 'dashscope', key: KEY_B, priority: 2 },
      ],
    });
    const harness = h;
    harness.sim.setOutage(KEY_A, { status: 400, code: 'Arrearage' });
    const team = await harness.addMember('team', { maxConcurrentJobs: 50 });
    const [id] = await postJobs(harness, team, 1, 'refused');
    await harness.waitForJob(id as string, (j) => j.status === 'succeeded', 60_000, team);
    expect((await upstreamOfJobs(harness.dataDir, [id as string])).get(id as string)).toBe('paid');
    const unpaid = (await upstreamsView(harness)).find((u) => u.name === 'unpaid');
    expect(unpaid?.health).toBe('unhealthy');
    expect(unpaid?.reason).toMatch(/refused the key \(quota\)/);
  });

  it("serves a colleague's single job before a batch of 40 is through, across the pool", async () => {
    h = await startRelay({
      provider: 'dashscope',
      // Held still: nothing finishes until the test moves the simulator's clock.
      jobMs: 60_000,
      pollIntervalMs: 100,
      simKeys: { apiKeys: [KEY_A, KEY_B, KEY_C1] },
      upstreams: [
        { name: 'a', provider: 'dashscope', key: KEY_A },
        { name: 'b', provider: 'dashscope', key: KEY_B },
        { name: 'c', provider: 'dashscope', key: KEY_C1 },
      ],
    });
    const harness = h;
    const ann = await harness.addMember('ann', { maxConcurrentJobs: 50 });
    const bob = await harness.addMember('bob');
    const batch = await postJobs(harness, ann, 40, 'batch');
    // The three accounts each take one of the batch.
    await until(async () => {
      const jobs = await Promise.all(
        batch.map(async (id) => (await harness.api('GET', `/v1/jobs/${id}`, { token: ann })).json as JobBody),
      );
      return jobs.filter((j) => j.status !== 'received').length === 3;
    });
    const [single] = await postJobs(harness, bob, 1, 'single');
    // One account frees up: the colleague's job goes next, not the batch's fourth.
    harness.sim.advanceTime(60_000);
    await harness.waitForJob(single as string, (j) => j.status !== 'received', 30_000, bob);
    const sent = await withStoreOf(harness.dataDir, async (store) =>
      (await Promise.all(batch.map((id) => store.getJob(id)))).filter((j) => j?.submitStartedAt != null),
    );
    // At most the three first and the ones that took the other freed slots went before it.
    expect(sent.length).toBeLessThanOrEqual(5);
  });
});

describe('the upstreams file', () => {
  const load = (upstreams: unknown, env: Record<string, string> = {}) => {
    const dir = tempDir();
    const file = `${dir}/upstreams.json`;
    fs.writeFileSync(file, JSON.stringify(upstreams));
    return () => loadConfig({ RETALK_UPSTREAMS_FILE: file, RETALK_DATA_DIR: dir, ...env }, dir);
  };

  it('names the entry, the field and what is allowed, and never quotes a key', () => {
    const secret = 'sk-never-quote-me-4b1d2f3a';
    const attempt = load({
      upstreams: [
        { name: 'a', provider: 'dashscop', key: secret },
        { name: 'b', provider: 'dashscope', key: secret, concurrency: 0, priority: 'high' },
        { name: 'c', provider: 'dashscope', keyEnv: 'NOT_SET_ANYWHERE' },
        { name: 'd', provider: 'dashscope', key: secret, concurency: 2 },
        { name: 'e', provider: 'dashscope', key: secret },
        { name: 'e', provider: 'dashscope', key: secret },
      ],
    });
    let message = '';
    try {
      attempt();
    } catch (error) {
      message = (error as Error).message;
      expect((error as { code?: string }).code).toBe('config_invalid');
    }
    expect(message).toContain('upstream "a" (entry 1): provider must be evolink or dashscope');
    expect(message).toContain('upstream "b" (entry 2): concurrency must be a whole number from 1 to 1000');
    expect(message).toContain('upstream "b" (entry 2): priority must be a whole number from 0 to 1000');
    expect(message).toContain('upstream "c" (entry 3): keyEnv names NOT_SET_ANYWHERE, which is not set');
    expect(message).toContain(
      'upstream "d" (entry 4): concurency is not a known field; allowed: name, provider',
    );
    expect(message).toContain('upstream "e" (entry 6): name "e" is used by an earlier entry');
    expect(message).not.toContain(secret);
  });

  it('refuses keys of one account that disagree on its limits, and a file beside RETALK_API_KEY', () => {
    expect(
      load({
        upstreams: [
          { name: 'x1', provider: 'dashscope', key: 'sk-x1-abcdef', account: 'acme', concurrency: 1 },
          { name: 'x2', provider: 'dashscope', key: 'sk-x2-abcdef', account: 'acme', concurrency: 2 },
        ],
      }),
    ).toThrow(/upstream "x2": concurrency differs from upstream "x1" of the same account "acme"/);
    expect(
      load([{ name: 'x', provider: 'dashscope', key: 'sk-x-abcdef' }], { RETALK_API_KEY: 'sk-other' }),
    ).toThrow(/RETALK_UPSTREAMS_FILE is set together with RETALK_API_KEY/);
  });

  it('reads the key from the variable keyEnv names, with defaults from the provider', () => {
    const config = load(
      [
        {
          name: 'only',
          provider: 'dashscope',
          keyEnv: 'POOL_KEY_ONLY',
          baseUrl: 'https://example.com/api/v1/',
        },
      ],
      { POOL_KEY_ONLY: 'sk-from-env-1234' },
    )();
    expect(config.provider).toBe('dashscope');
    expect(config.simulator).toBe(false);
    expect(config.upstreams).toEqual([
      expect.objectContaining({
        name: 'only',
        apiKey: 'sk-from-env-1234',
        account: 'only',
        baseUrl: 'https://example.com/api/v1',
        concurrency: 1,
        submitIntervalMs: 1100,
        queriesPerSecond: 20,
      }),
    ]);
  });

  it('is enough to start the relay: no RETALK_API_KEY beside it', async () => {
    const dir = tempDir();
    const file = `${dir}/upstreams.json`;
    fs.writeFileSync(
      file,
      JSON.stringify([
        { name: 'only', provider: 'dashscope', key: KEY_A, baseUrl: 'http://127.0.0.1:9/api/v1' },
      ]),
    );
    const config = loadConfig(
      {
        RETALK_UPSTREAMS_FILE: file,
        RETALK_DATA_DIR: dir,
        PORT: '0',
        RETALK_ADMIN_TOKEN: ADMIN_TOKEN,
        RETALK_LOG_LEVEL: 'warn',
      },
      dir,
    );
    const running = await serveRelay(config, {
      logStream: new Writable({ write: (_chunk, _enc, done) => done() }),
      print: () => undefined,
    });
    try {
      const res = await fetch(`${running.url}/admin/upstreams`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      expect(JSON.parse(text).upstreams).toEqual([
        expect.objectContaining({ name: 'only', health: 'healthy' }),
      ]);
      expect(text).not.toContain(KEY_A);
    } finally {
      await running.close();
    }
  });
});

async function until(predicate: () => Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((r) => setTimeout(r, 50));
}
