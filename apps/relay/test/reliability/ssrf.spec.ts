import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildRelay, TERMINAL } from './child-relay.js';
import { recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

const FAKE_DNS = path.resolve(import.meta.dirname, 'fake-dns.mjs');

/** A loopback HTTP server standing for an internal service; it counts every request it gets. */
async function listen(
  handler: http.RequestListener,
): Promise<{ server: http.Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

describe('the relay refuses input URLs that reach private addresses (SSRF)', () => {
  let stack: Stack;
  let relay: ChildRelay;
  let token: string;
  let canary: Awaited<ReturnType<typeof listen>>;
  let redirector: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    canary = await listen((_req, res) => res.end('internal secret'));
    // A media server on the LAN the admin allowed, which redirects to an internal address.
    redirector = await listen((req, res) => {
      const target = req.url?.includes('file')
        ? 'file:///etc/passwd'
        : `http://127.0.0.1:${canary.port}/internal`;
      res.writeHead(302, { location: target }).end();
    });
    // The simulator does not fetch inputs here, so every hit on the canary came from the relay.
    stack = await startStack('dashscope', { fetchInputs: false });
    relay = await stack.relay({
      nodeArgs: ['--import', FAKE_DNS],
      allowedInputHosts: [new URL(stack.sim.url).host, `127.0.0.1:${redirector.port}`],
    });
    token = await relay.addMember('mallory', { maxConcurrentJobs: 1000 });
  });
  afterAll(async () => {
    await stack.close();
    canary.server.close();
    redirector.server.close();
  });

  const post = (video: string, field: 'video' | 'audio' | 'refImage' = 'video') => {
    const body: Record<string, unknown> = stack.inputs();
    body[field] = { url: video };
    return relay.api('POST', '/v1/jobs', { token, body });
  };

  it('refuses loopback, private, link-local and reserved targets in every spelling, and never connects to them', async () => {
    const p = () => canary.port;
    const urls = [
      `http://127.0.0.1:${p()}/v.mp4`,
      `http://localhost:${p()}/v.mp4`,
      `http://LOCALHOST:${p()}/v.mp4`,
      `http://foo.localhost:${p()}/v.mp4`,
      `http://127.1:${p()}/v.mp4`,
      `http://127.0.0.1.:${p()}/v.mp4`,
      `http://0x7f000001:${p()}/v.mp4`,
      `http://0x7f.0.0.1:${p()}/v.mp4`,
      `http://2130706433:${p()}/v.mp4`,
      `http://017700000001:${p()}/v.mp4`,
      `http://0177.0.0.1:${p()}/v.mp4`,
      `http://0:${p()}/v.mp4`,
      `http://0.0.0.0:${p()}/v.mp4`,
      `http://[::1]:${p()}/v.mp4`,
      `http://[0:0:0:0:0:0:0:1]:${p()}/v.mp4`,
      `http://[::ffff:127.0.0.1]:${p()}/v.mp4`,
      `http://[::ffff:7f00:1]:${p()}/v.mp4`,
      `http://[0:0:0:0:0:ffff:127.0.0.1]:${p()}/v.mp4`,
      `http://[::127.0.0.1]:${p()}/v.mp4`,
      `http://[::]:${p()}/v.mp4`,
      'http://[fe80::1]/v.mp4',
      'http://[fc00::1]/v.mp4',
      'http://[fd12:3456:789a::1]/v.mp4',
      'http://[64:ff9b::7f00:1]/v.mp4',
      'http://10.0.0.1/v.mp4',
      'http://172.16.0.1/v.mp4',
      'http://172.31.255.255/v.mp4',
      'http://192.168.1.1/v.mp4',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.64.0.1/v.mp4',
      'http://224.0.0.1/v.mp4',
      'http://255.255.255.255/v.mp4',
      `http://example.com@127.0.0.1:${p()}/v.mp4`,
      `http://loopback.rebind.test:${p()}/v.mp4`,
      'http://private.rebind.test/v.mp4',
      'http://metadata.rebind.test/latest/meta-data/',
      `http://mapped.rebind.test:${p()}/v.mp4`,
      `http://v6loop.rebind.test:${p()}/v.mp4`,
      `http://mixed.rebind.test:${p()}/v.mp4`,
    ];
    const rec = recordScenario(
      'hostile-input',
      'ssrf-private-targets',
      `${urls.length} private/loopback URL spellings (numeric, IPv6, mapped, DNS names resolving privately)`,
    );
    const answers = [];
    for (const url of urls) {
      for (const field of ['video', 'refImage'] as const) {
        const res = await post(url, field);
        answers.push({
          url,
          field,
          status: res.status,
          code: res.json?.error?.code,
          errorField: res.json?.error?.field,
        });
      }
    }
    const wrong = answers.filter(
      (a) => a.status !== 400 || a.code !== 'url_not_allowed' || a.errorField !== `${a.field}.url`,
    );
    Object.assign(rec, {
      inputsTried: answers.length,
      ...relayTotals([relay]),
      details: { wrong, canaryHits: canary.hits.length },
    });
    expect(wrong).toEqual([]);
    expect(canary.hits).toEqual([]);
  });

  it('refuses non-http schemes, credentials and oversized URLs with a clear field error', async () => {
    const urls = [
      'file:///etc/passwd',
      'ftp://example.com/v.mp4',
      `gopher://127.0.0.1:${canary.port}/_GET`,
      'data:video/mp4;base64,AAAAIGZ0eXBpc29t',
      'javascript:alert(1)',
      'ws://example.com/v.mp4',
      'blob:https://example.com/0f0e',
      `dict://127.0.0.1:${canary.port}/`,
      'https://user:secret@example.com/v.mp4',
      '//example.com/v.mp4',
      'not a url',
    ];
    const rec = recordScenario(
      'hostile-input',
      'ssrf-schemes-and-size',
      `${urls.length} non-http schemes / credentials / relative URLs, plus 2 KiB+, 100 KiB and 1 MiB URLs`,
    );
    const answers = [];
    for (const url of urls) {
      const res = await post(url);
      answers.push({
        url,
        status: res.status,
        code: res.json?.error?.code,
        message: res.json?.error?.message,
      });
    }
    const just = await post(`https://example.com/${'a'.repeat(2_100)}`);
    const hundredK = await post(`https://example.com/${'a'.repeat(100_000)}`);
    const mega = await post(`https://example.com/${'a'.repeat(1_100_000)}`);
    Object.assign(rec, {
      inputsTried: answers.length + 3,
      ...relayTotals([relay]),
      details: { answers, oversize: [just.status, hundredK.status, mega.status] },
    });
    for (const a of answers) {
      expect(a.status, a.url).toBe(400);
      expect(['url_not_allowed', 'invalid_request'], a.url).toContain(a.code);
      expect(a.message, a.url).toMatch(/video\.url/);
    }
    expect(just.status).toBe(400);
    expect(just.json.error.field).toBe('video.url');
    expect(hundredK.status).toBe(400);
    expect(mega.status).toBe(413);
    expect(canary.hits).toEqual([]);
    expect(relay.alive()).toBe(true);
  });

  it('never follows a redirect from an allowed host to an internal address', async () => {
    const rec = recordScenario(
      'hostile-input',
      'ssrf-redirect',
      'an allowed LAN media host answering 302 to a loopback service and to file://',
    );
    const before = canary.hits.length;
    const a = await post(`http://127.0.0.1:${redirector.port}/video.mp4`);
    const b = await post(`http://127.0.0.1:${redirector.port}/file.mp4`);
    // The URLs themselves are allowed; the redirects are met when the relay fetches its copy.
    expect([a.status, b.status]).toEqual([201, 201]);
    const jobs = await Promise.all(
      [a, b].map((r) => relay.waitForJob(r.json.id, token, (j) => TERMINAL.includes(j.status))),
    );
    Object.assign(rec, {
      inputsTried: 2,
      ...relayTotals([relay]),
      details: { statuses: [a.status, b.status], redirectorHits: redirector.hits.length },
    });
    expect(redirector.hits.length).toBeGreaterThan(0);
    expect(canary.hits.length - before).toBe(0);
    // The fetch follows redirects itself and checks each hop: both are refused by name.
    expect(jobs.map((j) => j.status)).toEqual(['failed', 'failed']);
    expect(jobs.map((j) => j.error?.code)).toEqual(['url_not_allowed', 'url_not_allowed']);
    expect(jobs.every((j) => j.error?.message.startsWith('video.url: '))).toBe(true);
  });

  it('is not fooled by a DNS name that answers a public address to the check and loopback to the fetch (rebinding)', async () => {
    const rec = recordScenario(
      'hostile-input',
      'ssrf-dns-rebinding',
      'a name resolving to a public address at the check, then to 127.0.0.1 when the relay probes the media',
    );
    const before = canary.hits.length;
    const res = await post(`http://flip.rebind.test:${canary.port}/video.mp4`);
    // Accepted or refused at once; when accepted, the fetch of the relay's copy is where a rebinding
    // would strike, so the canary is read only once the job has ended.
    if (res.status === 201) {
      const job = await relay.waitForJob(res.json.id, token, (j) => TERMINAL.includes(j.status));
      expect(job.status).toBe('failed');
    }
    const hits = canary.hits.slice(before);
    Object.assign(rec, {
      inputsTried: 1,
      ...relayTotals([relay]),
      details: { status: res.status, canaryHits: hits },
    });
    expect(res.status).toBeLessThan(500);
    expect(hits).toEqual([]);
    expect(rec.secretsLeaked).toBe(0);
  });
});
