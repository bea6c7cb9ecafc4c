import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../src/auth.js';
import { runCli } from '../src/commands.js';
import { loadConfig } from '../src/config.js';
import { serveRelay } from '../src/serve.js';
import { type Harness, startRelay, storedText, storeEnv, tempDir } from './harness.js';

const ADMIN = 'admin-token-for-connect-links-0123456789';
const CODE = /#code=(rtc_[A-Za-z0-9_-]{32})$/;

function codeOf(url: string): string {
  const match = CODE.exec(url);
  if (!match) throw new Error(`not a connect link: ${url}`);
  return match[1] as string;
}

describe('connect links: a browser connects without its member pasting a token', () => {
  let h: Harness;
  let clock = Date.now();
  beforeAll(async () => {
    h = await startRelay({ provider: 'evolink', env: { RETALK_ADMIN_TOKEN: ADMIN }, now: () => clock });
  });
  afterAll(async () => {
    await h.close();
  });

  const claim = (code: string) => h.api('POST', '/v1/connect', { token: null, body: { code } });

  it('gives the browser a token of its own, once; the member keeps theirs', async () => {
    const made = await h.api('POST', '/v1/me/connect-links');
    expect(made.status).toBe(201);
    expect(made.json.url.startsWith(`${h.url}/connect#code=rtc_`)).toBe(true);
    expect(Date.parse(made.json.expiresAt) - clock).toBe(30 * 60_000);

    const first = await claim(codeOf(made.json.url));
    expect(first.status).toBe(201);
    expect(first.json.member.name).toBe('alice');
    expect(first.json.token).toMatch(/^rtk_[A-Za-z0-9_-]{43}$/);
    expect(first.json.token).not.toBe(h.token);
    const asBrowser = await h.api('GET', '/v1/me', { token: first.json.token });
    expect(asBrowser.status).toBe(200);
    expect(asBrowser.json.member.name).toBe('alice');
    expect((await h.api('GET', '/v1/me')).status).toBe(200);

    const again = await claim(codeOf(made.json.url));
    expect(again.status).toBe(410);
    expect(again.json.error).toMatchObject({ code: 'link_expired', field: 'code' });
    expect(again.json.error.message).toContain('used already');
  });

  it('stops working when it expires, and says so', async () => {
    const made = await h.api('POST', '/v1/me/connect-links', { body: { ttlMinutes: 5 } });
    expect(made.status).toBe(201);
    clock += 5 * 60_000;
    const late = await claim(codeOf(made.json.url));
    expect(late.status).toBe(410);
    expect(late.json.error.message).toContain('expired');
  });

  it('names the field and the allowed values of a bad request', async () => {
    const malformed = await claim('rtk_not-a-connect-code');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.field).toBe('code');
    expect(malformed.json.error.message).toContain('rtc_');
    const unknown = await claim(`rtc_${'A'.repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.field).toBe('code');
    const tooLong = await h.api('POST', '/v1/me/connect-links', { body: { ttlMinutes: 20_000 } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.error.field).toBe('ttlMinutes');
    const extra = await h.api('POST', '/v1/me/connect-links', { body: { minutes: 5 } });
    expect(extra.status).toBe(400);
    expect(extra.json.error.message).toContain('"minutes"');
    expect((await h.api('POST', '/v1/me/connect-links', { token: null })).status).toBe(401);
  });

  it('serves the page the link opens, with nothing cached, framed or referred', async () => {
    const page = await h.api('GET', '/connect', { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.text).toContain('Connect this browser');
    expect(page.text).not.toContain('<script');
  });

  it('lets the admin make a link for a member; revoking the member ends its browsers and links', async () => {
    const bob = await h.addMember('bob');
    const asAdmin = { token: ADMIN } as const;
    const made = await h.api('POST', '/admin/members/bob/connect-links', asAdmin);
    expect(made.status).toBe(201);
    const unused = await h.api('POST', '/admin/members/bob/connect-links', asAdmin);
    const browser = (await claim(codeOf(made.json.url))).json.token as string;
    expect((await h.api('GET', '/v1/me', { token: browser })).json.member.name).toBe('bob');
    expect((await h.api('POST', '/admin/members/nobody/connect-links', asAdmin)).status).toBe(404);
    expect((await h.api('POST', '/admin/members/bob/connect-links', { token: bob })).status).toBe(401);

    expect((await h.api('POST', '/admin/members/bob/revoke', asAdmin)).status).toBe(200);
    const revoked = await h.api('GET', '/v1/me', { token: browser });
    expect(revoked.status).toBe(401);
    expect(revoked.json.error.message).toContain('revoked');
    const late = await claim(codeOf(unused.json.url));
    expect(late.status).toBe(403);
    expect(late.json.error.field).toBe('code');
  });

  it('keeps only hashes of codes and tokens in the database', async () => {
    const made = await h.api('POST', '/v1/me/connect-links');
    const code = codeOf(made.json.url);
    const token = (await claim(code)).json.token as string;
    const bytes = await storedText(h.dataDir);
    expect(bytes).toContain(hashToken(code));
    expect(bytes).not.toContain(code);
    expect(bytes).not.toContain(token);
  });
});

describe('connect links from the command line', () => {
  async function cli(dataDir: string, env: Record<string, string> = {}) {
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      env: { ...(await storeEnv(dataDir)), ...env },
      cwd: process.cwd(),
      out: (l: string) => out.push(l),
      err: (l: string) => err.push(l),
    };
    return { out, err, run: (...argv: string[]) => runCli(argv, io) };
  }

  it('members add and members link print a link to the public URL that a relay on that data honours', async () => {
    const dataDir = tempDir();
    const env = { RETALK_PUBLIC_URL: 'https://relay.example.com' };
    const add = await cli(dataDir, env);
    expect(await add.run('members', 'add', 'zoe')).toBe(0);
    const added = add.out.find((l) => l.includes('/connect#code='));
    expect(added).toContain('https://relay.example.com/connect#code=rtc_');

    const link = await cli(dataDir, env);
    expect(await link.run('members', 'link', 'zoe', '--minutes', '90')).toBe(0);
    const line = link.out.find((l) => l.includes('/connect#code=')) as string;
    const url = line.slice(line.indexOf('https://'));

    const h = await startRelay({ provider: 'evolink', dataDir });
    try {
      const claimed = await h.api('POST', '/v1/connect', { token: null, body: { code: codeOf(url) } });
      expect(claimed.status).toBe(201);
      expect(claimed.json.member.name).toBe('zoe');
    } finally {
      await h.close();
    }

    const bad = await cli(dataDir);
    expect(await bad.run('members', 'link', 'zoe', '--minutes', '0')).toBe(2);
    expect(bad.err.join('\n')).toContain('--minutes must be a whole number from 1 to 10080');
    expect(await bad.run('members', 'link', 'nobody')).toBe(1);
    expect(bad.err.join('\n')).toContain('No active member named "nobody"');
  });

  it('the simulator relay prints a fresh link for the demo member at each start', async () => {
    const dataDir = tempDir();
    const links: string[] = [];
    for (let i = 0; i < 2; i++) {
      const printed: string[] = [];
      const running = await serveRelay(
        loadConfig({ ...(await storeEnv(dataDir)), PORT: '0' }, process.cwd()),
        {
          print: (l) => printed.push(l),
          logStream: new Writable({ write: (_c, _e, cb) => cb() }),
        },
      );
      await running.close();
      const line = printed.find((l) => l.includes('/connect#code=')) as string;
      expect(line).toContain(`${running.url}/connect#code=rtc_`);
      links.push(line);
    }
    expect(links[0]).not.toBe(links[1]);
  });
});
