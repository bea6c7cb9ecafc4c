import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RELAY_JOB_ERRORS } from '@retalk/core/relay';
import { createSimulator } from '@retalk/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, type JobBody, PROVIDER_KEY, seen, startRelay } from './harness.js';

interface Server {
  url: string;
  hits: string[];
  close(): Promise<void>;
}

async function listen(handler: http.RequestListener): Promise<Server & { server: http.Server }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the relay fetching URLs it did not choose', () => {
  let h: Harness;
  let sim: Awaited<ReturnType<typeof createSimulator>>;
  /** Loopback, not in the relay's allowed hosts: the relay must never connect to it. */
  let privateServer: Server;
  /** Loopback but allowed (RETALK_ALLOWED_INPUT_HOSTS): redirects to the private server or the simulator. */
  let redirector: Server;
  /** The upstream the relay talks to: the simulator, with result links rewritten to `resultBase`. */
  let upstream: Server;
  let resultBase = '';

  beforeAll(async () => {
    sim = await createSimulator({ jobMs: 150, apiKeys: [PROVIDER_KEY] });
    privateServer = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4' });
      res.end('not a result the relay may fetch');
    });
    redirector = await listen((req, res) => {
      const path = req.url ?? '';
      const target = path.startsWith('/to-private/')
        ? `${privateServer.url}/${path.slice('/to-private/'.length)}`
        : path.startsWith('/to-sim/')
          ? `${sim.url}/${path.slice('/to-sim/'.length)}`
          : undefined;
      res.writeHead(target ? 302 : 404, target ? { location: target } : {});
      res.end();
    });
    upstream = await listen(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(
          (e): e is [string, string] =>
            typeof e[1] === 'string' && !['host', 'content-length'].includes(e[0]),
        ),
      );
      const answer = await fetch(`${sim.url}${req.url}`, {
        method: req.method ?? 'GET',
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      const text = await answer.text();
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
      res.end(resultBase ? text.split(`${sim.url}/`).join(`${resultBase}/`) : text);
    });
    h = await startRelay({
      provider: 'evolink',
      sim,
      env: {
        RETALK_BASE_URL: upstream.url,
        RETALK_ALLOWED_INPUT_HOSTS: new URL(redirector.url).host,
      },
    });
  });
  afterAll(async () => {
    await h.close();
    await Promise.all([upstream.close(), redirector.close(), privateServer.close()]);
    await sim.close();
  });

  async function runJob(token: string): Promise<JobBody> {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4', token);
    const audio = await h.upload('audio', 'speech-4s.wav', token);
    const created = await h.api('POST', '/v1/jobs', {
      token,
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    expect(created.status).toBe(201);
    return h.waitForJob(
      created.json.id,
      (j) => ['succeeded', 'failed', 'canceled'].includes(j.status),
      10_000,
      token,
    );
  }

  it('fails the job with a retryable error and refunds the budget when the result link points at a private address', async () => {
    const token = await h.addMember('bob', { budgetSeconds: 600, period: 'month' });
    resultBase = privateServer.url;
    const job = await runJob(token);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({
      code: 'result_url_not_allowed',
      retryable: true,
      // The relay's own codes take their advice from the contract's table.
      hint: RELAY_JOB_ERRORS.result_url_not_allowed.hint,
    });
    expect(job.error?.message).toMatch(/refused to download the provider's result link/);
    expect(job.error?.message).toMatch(/Nothing was charged/);
    expect((job as { billedSeconds?: number }).billedSeconds).toBeUndefined();
    expect(privateServer.hits).toEqual([]);
    const me = await h.api('GET', '/v1/me', { token });
    expect(me.json.budget).toMatchObject({ usedSeconds: 0, reservedSeconds: 0, remainingSeconds: 600 });
    const result = await h.api('GET', `/v1/jobs/${job.id}/result`, { token });
    expect(result.status).toBe(409);
    const logged = seen.logLines.filter((l) => l.includes('archiving refused') && l.includes(job.id));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/private or loopback address \(127\.0\.0\.1\)/);
  });

  it('refuses a result link on an allowed host that redirects to a private one', async () => {
    const token = await h.addMember('carol');
    resultBase = `${redirector.url}/to-private`;
    const job = await runJob(token);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'result_url_not_allowed', retryable: true });
    expect(privateServer.hits).toEqual([]);
    const logged = seen.logLines.find((l) => l.includes('archiving refused') && l.includes(job.id));
    expect(logged).toMatch(/redirect 1 \(to http:\/\/127\.0\.0\.1:\d+\//);
  });

  it('archives a result link whose redirects stay on allowed hosts', async () => {
    const token = await h.addMember('dave');
    resultBase = `${redirector.url}/to-sim`;
    const job = await runJob(token);
    expect(job.status).toBe('succeeded');
    const done = await h.api('GET', `/v1/jobs/${job.id}`, { token });
    expect(done.json.result).toMatchObject({ archived: true });
    expect(redirector.hits.some((p) => p.startsWith('/to-sim/'))).toBe(true);
  });

  it('refuses an input URL whose redirect leads to a private address, naming the field', async () => {
    resultBase = '';
    const before = privateServer.hits.length;
    const submitsBefore = sim.stats().submits;
    const res = await h.api('POST', '/v1/jobs', {
      body: {
        video: { url: `${redirector.url}/to-private/fixtures/talking-640x640-25fps-3s.mp4` },
        audio: { url: sim.fixtureUrl('speech-4s.wav') },
      },
    });
    // The URL itself is allowed; the redirect is met when the relay fetches its copy (preparing).
    expect(res.status).toBe(201);
    const failed = await h.waitForJob(res.json.id, (j) => j.status === 'failed');
    expect(failed.error).toMatchObject({ code: 'url_not_allowed', retryable: false });
    expect(failed.error?.message).toMatch(
      /^video\.url: redirect 1 \(to http:\/\/127\.0\.0\.1:\d+\/fixtures\/talking-640x640-25fps-3s\.mp4\) points at a private/,
    );
    expect(privateServer.hits.length).toBe(before);
    expect(sim.stats().submits).toBe(submitsBefore);
  });

  it('probes an input URL whose redirects stay on allowed hosts', async () => {
    const res = await h.api('POST', '/v1/jobs', {
      body: {
        video: { url: `${redirector.url}/to-sim/fixtures/talking-640x640-25fps-3s.mp4` },
        audio: { url: sim.fixtureUrl('speech-4s.wav') },
        title: 'probe through a redirect',
      },
    });
    expect(res.status).toBe(201);
    const done = await h.waitForJob(res.json.id, (j) =>
      ['succeeded', 'failed', 'canceled'].includes(j.status),
    );
    // The relay fetched the real video through the redirect: the estimate is its length, not the maximum.
    expect(done.status).toBe('succeeded');
    expect(done.estimatedSeconds).toBeLessThan(10);
  });
});
