import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildRelay, fixture, TERMINAL } from './child-relay.js';
import { endpointOf } from './fault-proxy.js';
import { recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

const MIB = 1024 * 1024;
const isDownload = (r: { method: string; path: string }) =>
  endpointOf(r.method, r.path) === 'result.download';
const isQuery = (r: { method: string; path: string }) => endpointOf(r.method, r.path) === 'dashscope.query';

/** A compromised or broken upstream (findings M5, L6, L14): the relay keeps only what is plausible. */
describe('the relay against a hostile upstream', () => {
  let stack: Stack;
  let relay: ChildRelay;
  let token: string;

  beforeAll(async () => {
    stack = await startStack('dashscope');
    relay = await stack.relay();
    token = await relay.addMember('victor', { budgetSeconds: 100, maxConcurrentJobs: 10 });
  });
  afterAll(async () => {
    await stack.close();
  });

  async function runJob() {
    const created = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    expect(created.status).toBe(201);
    return relay.waitForJob(created.json.id, token, (j) => TERMINAL.includes(j.status), 60_000);
  }
  const results = () => fs.readdirSync(path.join(relay.dataDir, 'files', 'results'));
  const streamed = (since: number) =>
    stack.proxy.log.slice(since).reduce((n, e) => n + (e.bytesSent ?? 0), 0);

  it('refuses a result that is an HTML page, fails the job and bills nothing', async () => {
    const rec = recordScenario(
      'hostile-upstream',
      'result-html',
      'the result link answers 200 text/html with a script',
    );
    const page = stack.proxy.add({
      match: isDownload,
      action: 'respond',
      status: 200,
      headers: { 'content-type': 'text/html' },
      body: '<html><script>alert(document.cookie)</script></html>',
      times: Infinity,
    });
    const before = results().length;
    const job = await runJob();
    page.remove();
    const me = await relay.api('GET', '/v1/me', { token });
    Object.assign(rec, {
      faultsSurvived: page.hits(),
      ...relayTotals([relay]),
      details: { error: job.error },
    });
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('result_invalid');
    expect(job.billedSeconds).toBeUndefined();
    expect(me.json.budget.usedSeconds).toBe(0);
    expect(results().length).toBe(before);
  });

  it('serves a real MP4 the upstream labelled text/html as video/mp4', async () => {
    const rec = recordScenario(
      'hostile-upstream',
      'result-mislabelled',
      'an MP4 result sent with Content-Type text/html',
    );
    const label = stack.proxy.add({
      match: isDownload,
      action: 'rewrite',
      rewrite: ({ body, headers }) => ({ body, headers: { ...headers, 'content-type': 'text/html' } }),
      times: Infinity,
    });
    const job = await runJob();
    label.remove();
    const download = await relay.api('GET', `/v1/jobs/${job.id}/result`, { token });
    Object.assign(rec, { faultsSurvived: label.hits(), ...relayTotals([relay]) });
    expect(job.status).toBe('succeeded');
    expect(job.result?.contentType).toBe('video/mp4');
    expect(download.status).toBe(200);
    expect(download.headers['content-type']).toBe('video/mp4');
  });

  it('stops archiving an endless result at the cap for the job, fails it and keeps nothing', async () => {
    const rec = recordScenario(
      'hostile-upstream',
      'result-endless',
      'the result link streams an MP4 header followed by 400 MB for a 3 s job',
    );
    const since = stack.proxy.log.length;
    const endless = stack.proxy.add({
      match: isDownload,
      action: 'respond',
      status: 200,
      headers: { 'content-type': 'video/mp4' },
      body: fixture('talking-640x640-25fps-3s.mp4').subarray(0, 64).toString('latin1'),
      streamBytes: 400 * MIB,
      times: Infinity,
    });
    const before = results().length;
    const job = await runJob();
    endless.remove();
    const sent = streamed(since);
    Object.assign(rec, {
      faultsSurvived: endless.hits(),
      ...relayTotals([relay]),
      details: { bytesTheRelayLetIn: sent, jobEstimatedSeconds: job.estimatedSeconds },
    });
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('result_invalid');
    // 16 MiB + 3 MiB per second of the job, plus what sat in socket buffers when it hung up.
    expect(sent).toBeLessThan(64 * MIB);
    expect(results().length).toBe(before);
    expect(fs.readdirSync(path.join(relay.dataDir, 'files', '.tmp'))).toEqual([]);
  });

  it('does not read a 100 MB status answer, backs off and finishes the job', async () => {
    const rec = recordScenario(
      'hostile-upstream',
      'status-huge-body',
      'three status reads answered with 100 MB of JSON-looking bytes each',
    );
    const since = stack.proxy.log.length;
    const huge = stack.proxy.add({
      match: isQuery,
      action: 'respond',
      status: 200,
      body: '{"output":{"task_status":"',
      streamBytes: 100 * MIB,
      times: 3,
    });
    const job = await runJob();
    const sent = streamed(since);
    Object.assign(rec, {
      faultsSurvived: huge.hits(),
      ...relayTotals([relay]),
      details: { bytesTheRelayLetIn: sent, peakRssMb: relay.peakRssMb() },
    });
    expect(huge.hits()).toBe(3);
    expect(job.status).toBe('succeeded');
    expect(sent).toBeLessThan(48 * MIB);
    expect(relay.peakRssMb()).toBeLessThan(300);
  });

  it('bills a negative or inflated provider duration as the reservation, never below zero', async () => {
    const rec = recordScenario(
      'hostile-upstream',
      'usage-lies',
      'usage.video_duration of -1000 s and of 500 s for a 3 s job',
    );
    const billed: (number | undefined)[] = [];
    for (const lie of ['-1000', '500']) {
      const rewrite = stack.proxy.add({
        match: isQuery,
        action: 'rewrite',
        rewrite: ({ body, headers }) => ({
          body: Buffer.from(
            body.toString('utf8').replace(/"video_duration":\s*[-\d.e+]+/, `"video_duration":${lie}`),
          ),
          headers,
        }),
        times: Infinity,
      });
      const job = await runJob();
      rewrite.remove();
      expect(job.status).toBe('succeeded');
      billed.push(job.billedSeconds);
      expect(job.billedSeconds).toBe(job.estimatedSeconds);
    }
    const me = await relay.api('GET', '/v1/me', { token });
    Object.assign(rec, {
      inputsTried: 2,
      ...relayTotals([relay]),
      details: { billed, budget: me.json.budget },
    });
    expect(me.json.budget.usedSeconds).toBeGreaterThanOrEqual(0);
    expect(me.json.budget.remainingSeconds).toBeLessThanOrEqual(100);
    expect(relay.logs.some((l) => l.includes('more output seconds than the job reserved'))).toBe(true);
  });

  it('never shows the provider key', () => {
    expect(relayTotals([relay]).secretsLeaked).toBe(0);
  });
});
