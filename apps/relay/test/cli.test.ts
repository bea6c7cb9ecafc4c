import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/commands.js';
import { type Harness, startRelay, tempDir } from './harness.js';

function io(dataDir: string) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      env: { RETALK_DATA_DIR: dataDir },
      cwd: process.cwd(),
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
    },
  };
}

describe('retalk-relay CLI', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('adds a member whose token works at once, lists it, and revokes it effective on the next request', async () => {
    const dataDir = tempDir();
    h = await startRelay({ provider: 'evolink', dataDir });

    const add = io(dataDir);
    expect(
      await runCli(
        ['members', 'add', 'zoe', '--budget-seconds', '60', '--period', 'day', '--max-concurrent', '2'],
        add.io,
      ),
    ).toBe(0);
    const token = /rtk_[A-Za-z0-9_-]{43}/.exec(add.out.join('\n'))?.[0] as string;
    expect(token).toBeTruthy();

    const me = await h.api('GET', '/v1/me', { token });
    expect(me.status).toBe(200);
    expect(me.json.member.name).toBe('zoe');
    expect(me.json.member.maxConcurrentJobs).toBe(2);
    expect(me.json.budget).toMatchObject({ limitSeconds: 60, period: 'day' });

    const list = io(dataDir);
    expect(await runCli(['members', 'list'], list.io)).toBe(0);
    expect(list.out.join('\n')).toMatch(/zoe\s+mem_\S+\s+\S+\s+active\s+60s\/day/);
    expect(list.out.join('\n')).not.toContain(token);

    const usage = io(dataDir);
    expect(await runCli(['usage', '--member', 'zoe'], usage.io)).toBe(0);
    expect(usage.out[1]).toMatch(/^zoe\tday\t60\t0\t0\t60\t0$/);

    const revoke = io(dataDir);
    expect(await runCli(['members', 'revoke', 'zoe'], revoke.io)).toBe(0);
    const after = await h.api('GET', '/v1/me', { token });
    expect(after.status).toBe(401);
    expect(after.json.error.message).toMatch(/revoked/);
  });

  it('refuses bad arguments with a message and a non-zero exit code', async () => {
    const dataDir = tempDir();
    const cases: [string[], RegExp][] = [
      [['members', 'add'], /needs a name/],
      [['members', 'add', 'x', '--budget-seconds', 'lots'], /positive number/],
      [['members', 'add', 'x', '--budget-seconds', '5', '--period', 'week'], /day or month/],
      [['members', 'add', 'x', '--max-concurrent', '0'], /1 to 1000/],
      [['members', 'revoke', 'nobody'], /No active member/],
      [['frobnicate'], /Unknown command/],
      [['members', 'add', 'x', '--colour'], /Unknown option/],
    ];
    for (const [argv, message] of cases) {
      const run = io(dataDir);
      expect(await runCli(argv, run.io), argv.join(' ')).toBeGreaterThan(0);
      expect(run.err.join('\n')).toMatch(message);
    }
    const bad = io(dataDir);
    bad.io.env = { RETALK_DATA_DIR: dataDir, PORT: 'eighty' } as never;
    expect(await runCli(['members', 'list'], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toMatch(/PORT must be a whole number/);
  });

  it('lets the admin token manage members over HTTP', async () => {
    const admin = 'an-admin-token-that-is-long-enough-0123';
    h = await startRelay({ provider: 'evolink', env: { RETALK_ADMIN_TOKEN: admin } });
    const auth = { headers: { authorization: `Bearer ${admin}` } };
    const created = await h.api('POST', '/admin/members', {
      ...auth,
      body: { name: 'gus', budgetSeconds: 30, period: 'day' },
    });
    expect(created.status).toBe(201);
    expect(created.json.token).toMatch(/^rtk_[A-Za-z0-9_-]{43}$/);
    expect((await h.api('GET', '/v1/me', { token: created.json.token })).status).toBe(200);
    const list = await h.api('GET', '/admin/members', auth);
    expect(list.json.members.map((m: { name: string }) => m.name)).toContain('gus');
    expect(list.text).not.toContain(created.json.token);
    expect((await h.api('POST', '/admin/members', { ...auth, body: { name: 'gus' } })).status).toBe(409);
    expect((await h.api('POST', '/admin/members/gus/revoke', auth)).status).toBe(200);
    expect((await h.api('GET', '/v1/me', { token: created.json.token })).status).toBe(401);
  });
});
