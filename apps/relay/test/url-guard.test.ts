import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInputUrl, createGuardedFetch, isPrivateAddress, UrlRefusedError } from '../src/url-guard.js';

const publicResolver = async () => ['93.184.216.34'];

describe('checkInputUrl', () => {
  it.each([
    'http://127.0.0.1/a.mp4',
    'http://2130706433/a.mp4',
    'http://017700000001/a.mp4',
    'http://0x7f000001/a.mp4',
    'http://127.1/a.mp4',
    'http://[::1]/a.mp4',
    'http://[::ffff:127.0.0.1]/a.mp4',
    'http://[::ffff:7f00:1]/a.mp4',
    'http://[fe80::1]/a.mp4',
    'http://[fd00::1]/a.mp4',
    'http://0.0.0.0/a.mp4',
    'http://100.64.0.1/a.mp4',
    'http://172.16.5.4/a.mp4',
    'http://169.254.169.254/latest',
    'http://localhost/a.mp4',
    'http://media.local/a.mp4',
    'http://intranet/a.mp4',
  ])('refuses %s', async (url) => {
    expect(await checkInputUrl(url, { allowPrivate: false, resolve: publicResolver })).toBeDefined();
  });

  it('refuses a public-looking name that resolves to a private address', async () => {
    const problem = await checkInputUrl('https://rebind.example.com/a.mp4', {
      allowPrivate: false,
      resolve: async () => ['93.184.216.34', '10.1.2.3'],
    });
    expect(problem?.message).toMatch(/resolves to a private/);
  });

  it('accepts a public https URL and allows private ones only when configured', async () => {
    expect(
      await checkInputUrl('https://cdn.example.com/a.mp4', { allowPrivate: false, resolve: publicResolver }),
    ).toBeUndefined();
    expect(await checkInputUrl('http://127.0.0.1:9000/a.mp4', { allowPrivate: true })).toBeUndefined();
    expect(await checkInputUrl('ftp://example.com/a.mp4', { allowPrivate: true })).toBeDefined();
  });

  it('classifies addresses', () => {
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(isPrivateAddress('2606:4700::1111')).toBe(false);
    expect(isPrivateAddress('192.168.0.1')).toBe(true);
    expect(isPrivateAddress('::ffff:10.0.0.1')).toBe(true);
  });

  it.each([
    '::ffff:0:7f00:1',
    '::ffff:0:a9fe:a9fe',
    '64:ff9b:1::a9fe:a9fe',
    '2002:7f00:1::1',
    '2002:a9fe:a9fe::1',
    '2001:0:4136:e378:8000:63bf:80ff:fffe',
    'fec0::1',
    '100::1',
  ])('refuses %s, an IPv6 form that can reach a private IPv4 or is reserved (findings L10)', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it('keeps public 6to4 and Teredo addresses public', () => {
    expect(isPrivateAddress('2002:808:808::1')).toBe(false);
    expect(isPrivateAddress('2001:0:808:808::f7f7:f7f7')).toBe(false);
  });
});

/** A loopback server answering from `handle`; counts the requests it got. */
async function loopbackServer(
  handle: (path: string, base: string) => { status: number; location?: string; body?: string },
): Promise<{ url: string; host: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  let base = '';
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    const out = handle(req.url ?? '', base);
    res.writeHead(out.status, out.location ? { location: out.location } : {});
    res.end(out.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    host: new URL(base).host,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('createGuardedFetch', () => {
  let allowed: Awaited<ReturnType<typeof loopbackServer>>;
  let other: Awaited<ReturnType<typeof loopbackServer>>;
  beforeAll(async () => {
    other = await loopbackServer(() => ({ status: 200, body: 'private bytes' }));
    allowed = await loopbackServer((path, base) => {
      const hops = /^\/chain\/(\d+)$/.exec(path);
      if (hops) {
        const left = Number(hops[1]);
        return left === 0
          ? { status: 200, body: 'final bytes' }
          : { status: 302, location: `${base}/chain/${left - 1}` };
      }
      if (path === '/relative') return { status: 307, location: '/chain/0' };
      if (path === '/to-other') return { status: 302, location: `${other.url}/secret` };
      if (path === '/to-file') return { status: 301, location: 'file:///etc/passwd' };
      return { status: 404 };
    });
  });
  afterAll(async () => {
    await allowed.close();
    await other.close();
  });

  it('follows redirects between allowed hosts, relative ones too, and returns the final answer', async () => {
    const guarded = createGuardedFetch({ allowPrivate: false, allowedHosts: [allowed.host] });
    const chained = await guarded(`${allowed.url}/chain/5`);
    expect(chained.status).toBe(200);
    expect(await chained.text()).toBe('final bytes');
    const relative = await guarded(`${allowed.url}/relative`);
    expect(await relative.text()).toBe('final bytes');
  });

  it('refuses a first URL at a private address that is not in the allowed hosts, without connecting', async () => {
    const guarded = createGuardedFetch({ allowPrivate: false, allowedHosts: [allowed.host] });
    const before = other.hits.length;
    await expect(guarded(`${other.url}/secret`)).rejects.toThrow(UrlRefusedError);
    await expect(guarded(`${other.url}/secret`)).rejects.toThrow(
      /private or loopback address \(127\.0\.0\.1\)/,
    );
    expect(other.hits.length).toBe(before);
  });

  it('refuses a redirect from an allowed host to a private one, without connecting to it', async () => {
    const guarded = createGuardedFetch({ allowPrivate: false, allowedHosts: [allowed.host] });
    const before = other.hits.length;
    const error = await guarded(`${allowed.url}/to-other`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UrlRefusedError);
    expect((error as UrlRefusedError).code).toBe('url_not_allowed');
    expect((error as UrlRefusedError).url).toBe(`${other.url}/secret`);
    expect((error as Error).message).toMatch(
      /^redirect 1 \(to http:\/\/127\.0\.0\.1:\d+\/secret\) points at a private/,
    );
    expect(other.hits.length).toBe(before);
  });

  it('refuses a redirect to a scheme other than http(s), even when private addresses are allowed', async () => {
    const guarded = createGuardedFetch({ allowPrivate: true, allowedHosts: [] });
    await expect(guarded(`${allowed.url}/to-file`)).rejects.toThrow(/uses file:/);
  });

  it('gives up after the configured number of redirects', async () => {
    const guarded = createGuardedFetch({
      allowPrivate: false,
      allowedHosts: [allowed.host],
      maxRedirects: 5,
    });
    await expect(guarded(`${allowed.url}/chain/6`)).rejects.toThrow(/redirected more than 5 times/);
    const looser = createGuardedFetch({ allowPrivate: false, allowedHosts: [allowed.host], maxRedirects: 6 });
    expect((await looser(`${allowed.url}/chain/6`)).status).toBe(200);
  });

  it('lets private hosts through when private URLs are allowed (the offline demo)', async () => {
    const guarded = createGuardedFetch({ allowPrivate: true, allowedHosts: [] });
    const response = await guarded(`${allowed.url}/to-other`);
    expect(await response.text()).toBe('private bytes');
  });
});
