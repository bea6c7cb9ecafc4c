import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, type ChildRelay, PROVIDER_KEY } from './child-relay.js';
import { recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

const forged = () => `rtk_${randomBytes(32).toString('base64url')}`;

describe('the relay against hostile credentials', () => {
  let stack: Stack;
  let relay: ChildRelay;
  let alice: string;
  let bob: string;
  let aliceJob: string;
  let aliceUpload: string;

  beforeAll(async () => {
    stack = await startStack('dashscope', { jobMs: 200 });
    relay = await stack.relay();
    alice = await relay.addMember('alice');
    bob = await relay.addMember('bob');
    aliceUpload = await relay.upload('video', 'talking-640x640-25fps-3s.mp4', alice);
    aliceJob = (await relay.api('POST', '/v1/jobs', { token: alice, body: stack.inputs() })).json.id;
    await relay.waitForJob(aliceJob, alice, (j) => j.status === 'succeeded');
  });
  afterAll(async () => {
    await stack.close();
  });

  it('refuses forged, truncated, altered and misplaced tokens with 401 and says why', async () => {
    const rec = recordScenario(
      'hostile-input',
      'auth-bad-tokens',
      'forged, truncated, one-character-altered, provider-key and query-string tokens',
    );
    const tries: { name: string; headers: Record<string, string>; path?: string }[] = [];
    for (let i = 0; i < 10; i++)
      tries.push({ name: 'forged', headers: { authorization: `Bearer ${forged()}` } });
    for (const n of [4, 10, 20, 40, alice.length - 1])
      tries.push({ name: `truncated to ${n}`, headers: { authorization: `Bearer ${alice.slice(0, n)}` } });
    const flipped = `${alice.slice(0, -1)}${alice.endsWith('A') ? 'B' : 'A'}`;
    tries.push({ name: 'one character altered', headers: { authorization: `Bearer ${flipped}` } });
    tries.push({ name: 'lower-cased', headers: { authorization: `Bearer ${alice.toLowerCase()}` } });
    tries.push({ name: 'token plus suffix', headers: { authorization: `Bearer ${alice}x` } });
    tries.push({ name: 'two tokens', headers: { authorization: `Bearer ${alice} ${alice}` } });
    tries.push({
      name: 'Basic scheme',
      headers: { authorization: `Basic ${Buffer.from(`alice:${alice}`).toString('base64')}` },
    });
    tries.push({ name: 'the provider key', headers: { authorization: `Bearer ${PROVIDER_KEY}` } });
    tries.push({
      name: 'the admin token on member routes',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    tries.push({
      name: 'token in the query string',
      headers: {},
      path: `/v1/me?token=${alice}&access_token=${alice}`,
    });
    tries.push({ name: 'token in a cookie', headers: { cookie: `token=${alice}` } });
    const results = [];
    for (const t of tries) {
      const res = await relay.api('GET', t.path ?? '/v1/me', {
        headers: { ...t.headers, 'x-forwarded-for': `198.51.100.${results.length}` },
      });
      results.push({
        name: t.name,
        status: res.status,
        code: res.json?.error?.code,
        message: res.json?.error?.message as string,
      });
    }
    Object.assign(rec, { inputsTried: tries.length, ...relayTotals([relay]), details: { results } });
    for (const r of results) {
      expect(r.status, r.name).toBe(401);
      expect(r.code, r.name).toBe('unauthorized');
      expect(r.message, r.name).toMatch(/token|Authorization|Sign in/);
    }
    expect(rec.secretsLeaked).toBe(0);
  });

  it("never shows or touches another member's jobs, uploads or events", async () => {
    const rec = recordScenario(
      'hostile-input',
      'auth-foreign-ids',
      "another member's job id on every job route, their upload id in a job, their events",
    );
    const sse = await fetch(`${relay.url}/v1/events`, { headers: { authorization: `Bearer ${bob}` } });
    const reader = sse.body?.getReader();
    const seen: string[] = [];
    const reading = (async () => {
      for (;;) {
        const chunk = await reader?.read().catch(() => undefined);
        if (!chunk || chunk.done) return;
        seen.push(Buffer.from(chunk.value).toString('utf8'));
      }
    })();
    const missing = 'job_AAAAAAAAAAAAAAAA';
    const routes: [string, string][] = [
      ['GET', `/v1/jobs/${aliceJob}`],
      ['POST', `/v1/jobs/${aliceJob}/cancel`],
      ['GET', `/v1/jobs/${aliceJob}/result`],
      ['HEAD', `/v1/jobs/${aliceJob}/result`],
      ['POST', `/v1/jobs/${aliceJob}/result-link`],
    ];
    const answers = [];
    for (const [method, p] of routes) {
      const foreign = await relay.api(method, p, { token: bob });
      const nothing = await relay.api(method, p.replace(aliceJob, missing), { token: bob });
      answers.push({
        route: `${method} ${p.replace(aliceJob, ':id')}`,
        foreign: foreign.status,
        missing: nothing.status,
        sameShape: foreign.json?.error?.code === nothing.json?.error?.code,
      });
    }
    const list = await relay.api('GET', '/v1/jobs?limit=100', { token: bob });
    const useUpload = await relay.api('POST', '/v1/jobs', {
      token: bob,
      body: { video: { uploadId: aliceUpload }, audio: stack.inputs().audio },
    });
    // A new job of alice's must not appear on bob's stream.
    const another = await relay.api('POST', '/v1/jobs', { token: alice, body: stack.inputs() });
    await relay.waitForJob(another.json.id, alice, (j) => j.status === 'succeeded');
    await reader?.cancel();
    await reading;
    const stream = seen.join('');
    Object.assign(rec, { inputsTried: routes.length * 2 + 3, ...relayTotals([relay]), details: { answers } });
    for (const a of answers) {
      expect(a.foreign, a.route).toBe(404);
      expect(a.missing, a.route).toBe(404);
      expect(a.sameShape, a.route).toBe(true);
    }
    expect(list.json.jobs.map((j: { id: string }) => j.id)).not.toContain(aliceJob);
    expect(useUpload.status).toBe(400);
    expect(useUpload.json.error.field).toBe('video.uploadId');
    expect(stream).toContain('event: ready');
    expect(stream).not.toContain(aliceJob);
    expect(stream).not.toContain(another.json.id);
  });

  it('keeps admin routes closed to member tokens and applies a revocation on the very next request', async () => {
    const rec = recordScenario(
      'hostile-input',
      'auth-admin-and-revocation',
      'admin routes with member/forged tokens; revocation takes effect immediately',
    );
    const carol = await relay.addMember('carol');
    const attempts = [
      await relay.api('GET', '/admin/members', { token: alice }),
      await relay.api('POST', '/admin/members', { token: alice, body: { name: 'eve' } }),
      await relay.api('POST', '/admin/members/bob/revoke', { token: alice }),
      await relay.api('GET', '/admin/members', { token: `${ADMIN_TOKEN}x` }),
      await relay.api('GET', '/admin/members', { token: ADMIN_TOKEN.slice(0, -1) }),
      await relay.api('GET', '/admin/members', { headers: { 'x-admin-token': ADMIN_TOKEN } }),
    ];
    const carolBefore = await relay.api('GET', '/v1/me', { token: carol });
    const revoke = await relay.api('POST', '/admin/members/carol/revoke', { token: ADMIN_TOKEN });
    const carolAfter = await relay.api('GET', '/v1/me', { token: carol });
    const bobStill = await relay.api('GET', '/v1/me', { token: bob });
    const members = await relay.api('GET', '/admin/members', { token: ADMIN_TOKEN });
    Object.assign(rec, {
      inputsTried: attempts.length + 2,
      ...relayTotals([relay]),
      details: { attempts: attempts.map((a) => a.status) },
    });
    for (const a of attempts) expect(a.status).toBe(401);
    expect(members.json.members.map((m: { name: string }) => m.name)).not.toContain('eve');
    expect(carolBefore.status).toBe(200);
    expect(revoke.status).toBe(200);
    expect(carolAfter.status).toBe(401);
    expect(carolAfter.json.error.message).toMatch(/revoked/);
    expect(bobStill.status).toBe(200);
  });

  it('rate-limits brute-force guessing of member and admin tokens, even with rotating X-Forwarded-For', async () => {
    const rec = recordScenario(
      'hostile-input',
      'auth-brute-force',
      '60 guessed member tokens and 40 guessed admin tokens from one address',
    );
    const fresh = await stack.relay();
    const member = await fresh.addMember('dave');
    const memberStatuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const res = await fresh.api('GET', '/v1/me', {
        token: forged(),
        headers: { 'x-forwarded-for': `203.0.113.${i}` },
      });
      memberStatuses.push(res.status);
    }
    const adminStatuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await fresh.api('GET', '/admin/members', {
        token: `admin-guess-${i}-${randomBytes(8).toString('hex')}`,
      });
      adminStatuses.push(res.status);
    }
    const limited = await fresh.api('GET', '/v1/me', { token: forged() });
    const honest = await fresh.api('GET', '/v1/me', { token: member });
    Object.assign(rec, {
      inputsTried: 100,
      ...relayTotals([fresh]),
      details: {
        first429Member: memberStatuses.indexOf(429) + 1,
        first429Admin: adminStatuses.indexOf(429) + 1,
        retryAfter: limited.headers['retry-after'],
      },
    });
    expect(memberStatuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(memberStatuses.slice(30).every((s) => s === 429)).toBe(true);
    expect(adminStatuses.slice(30).every((s) => s === 429)).toBe(true);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(honest.status).toBe(200);
    expect(rec.secretsLeaked).toBe(0);
  });
});
