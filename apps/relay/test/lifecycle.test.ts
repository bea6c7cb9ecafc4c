import { createHash } from 'node:crypto';
import { jobErrorHint } from '@retalk/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Harness,
  type JobBody,
  PROVIDER_KEY,
  seen,
  startRelay,
  withoutInstanceLabel,
} from './harness.js';
import { TEST_STORE_IS_POSTGRES } from './pg.js';

/** A provider-side failure each provider reports as a task error. */
const FAILURE_CODE = { evolink: 'generation_timeout', dashscope: 'InternalError.Timeout' } as const;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe.each(['evolink', 'dashscope'] as const)('the relay on %s', (provider) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({ provider, jobMs: 300 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('takes uploads, runs a job through every state to succeeded and serves the archived result', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const created = await h.api('POST', '/v1/jobs', {
      body: {
        video: { uploadId: video },
        audio: { uploadId: audio },
        title: 'Lifecycle',
        sourcePageUrl: 'https://example.com/page',
      },
    });
    expect(created.status).toBe(201);
    expect(created.json.status).toBe('received');
    expect(created.json.estimatedSeconds).toBe(3);
    expect(created.json.provider).toBe(provider);

    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded');
    expect(done.upstreamId).toBeTruthy();
    expect(done.progress).toBe(100);
    expect(done.result?.archived).toBe(true);
    expect(done.billedSeconds).toBe(3);
    expect(h.sim.stats().submits).toBe(1);

    const res = await fetch(`${h.url}/v1/jobs/${done.id}/result`, {
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(sha256(bytes)).toBe(done.result?.sha256);
    expect(bytes.byteLength).toBe(done.result?.sizeBytes);

    const ranged = await fetch(`${h.url}/v1/jobs/${done.id}/result`, {
      headers: { authorization: `Bearer ${h.token}`, range: 'bytes=10-19' },
    });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 10-19/${bytes.byteLength}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(bytes.subarray(10, 20));
    // RFC 9110 §14.2: a range unit the server does not know is ignored; unit names ignore case.
    const otherUnit = await fetch(`${h.url}/v1/jobs/${done.id}/result`, {
      headers: { authorization: `Bearer ${h.token}`, range: 'items=0-1' },
    });
    expect(otherUnit.status).toBe(200);
    expect((await otherUnit.arrayBuffer()).byteLength).toBe(bytes.byteLength);
    const upperCase = await fetch(`${h.url}/v1/jobs/${done.id}/result`, {
      headers: { authorization: `Bearer ${h.token}`, range: 'Bytes=0-3' },
    });
    expect(upperCase.status).toBe(206);
    expect(new Uint8Array(await upperCase.arrayBuffer())).toEqual(bytes.subarray(0, 4));
  });

  it('accepts public URLs as inputs, fetching and measuring them before anything is spent', async () => {
    const created = await h.api('POST', '/v1/jobs', {
      body: {
        video: { url: h.sim.fixtureUrl('talking-640x640-25fps-3s.mp4') },
        audio: { url: h.sim.fixtureUrl('speech-5s.mp3') },
        videoExtension: true,
      },
    });
    expect(created.status).toBe(201);
    // Not measured yet: the reservation is an upper bound until the relay holds its own copy.
    expect(created.json.estimatedSeconds).toBeGreaterThanOrEqual(5);
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded');
    // videoExtension: the output follows the measured audio length.
    expect(done.estimatedSeconds).toBeCloseTo(5, 0);
    expect(done.conform?.audio?.media.durationSec).toBeCloseTo(5, 0);
    expect(done.result?.archived).toBe(true);
  });

  it('gives a signed result link that downloads without a token and stops working when tampered with', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded');
    const link = await h.api('POST', `/v1/jobs/${done.id}/result-link`);
    expect(link.status).toBe(200);
    const ok = await fetch(link.json.url);
    expect(ok.status).toBe(200);
    expect(sha256(new Uint8Array(await ok.arrayBuffer()))).toBe(done.result?.sha256);
    // Flip the signature's first character to a different one (a fixed 'A' was a no-op 1 run in 64).
    const tamperedUrl = new URL(link.json.url);
    const sig = tamperedUrl.searchParams.get('sig') ?? '';
    tamperedUrl.searchParams.set('sig', (sig.startsWith('A') ? 'B' : 'A') + sig.slice(1));
    expect(tamperedUrl.searchParams.get('sig')).not.toBe(sig);
    const tampered = await h.api('GET', tamperedUrl.pathname + tamperedUrl.search, { token: null });
    expect(tampered.status).toBe(403);
    expect(tampered.json.error.code).toBe('forbidden');
  });

  it('reports a provider failure with its code and a retry hint, and refunds the reservation', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const code = FAILURE_CODE[provider];
    h.sim.nextScenario(`fail:${code}`);
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    const failed = await h.waitForJob(created.json.id, (j) => j.status === 'failed');
    expect(failed.error?.code).toBe(code);
    expect(failed.error?.message).toBeTruthy();
    // The advice is core's, for this provider's code: no client guesses it from the code.
    expect(failed.error?.hint).toBe(jobErrorHint(provider, code));
    expect(failed.error?.hint).toBeTruthy();
    const me = await h.api('GET', '/v1/me');
    expect(me.json.budget.reservedSeconds).toBe(0);
  });

  it('lists jobs newest first with a cursor and a status filter', async () => {
    const first = await h.api('GET', '/v1/jobs?limit=2');
    expect(first.status).toBe(200);
    expect(first.json.jobs).toHaveLength(2);
    expect(first.json.nextCursor).toBeTruthy();
    const second = await h.api('GET', `/v1/jobs?limit=2&cursor=${first.json.nextCursor}`);
    const ids = [...first.json.jobs, ...second.json.jobs].map((j: JobBody) => j.id);
    expect(new Set(ids).size).toBe(ids.length);
    const created = first.json.jobs.map((j: { createdAt: string }) => j.createdAt);
    expect([...created].sort().reverse()).toEqual(created);
    const failedOnly = await h.api('GET', '/v1/jobs?status=failed');
    expect(failedOnly.json.jobs.length).toBeGreaterThan(0);
    expect(failedOnly.json.jobs.every((j: JobBody) => j.status === 'failed')).toBe(true);
  });

  it('answers the same Idempotency-Key with the same job and refuses it for different input', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const body = { video: { uploadId: video }, audio: { uploadId: audio } };
    const headers = { 'idempotency-key': `key-${provider}-1` };
    const a = await h.api('POST', '/v1/jobs', { body, headers });
    const b = await h.api('POST', '/v1/jobs', { body, headers });
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.json.id).toBe(a.json.id);
    const c = await h.api('POST', '/v1/jobs', { body: { ...body, title: 'other' }, headers });
    expect(c.status).toBe(409);
    expect(c.json.error.field).toBe('idempotency-key');
    await h.waitForJob(a.json.id, (j) => j.status === 'succeeded');
  });

  it('cancels a job still waiting in the relay queue, and says clearly when it cannot cancel', async () => {
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    h.sim.nextScenario('stuck');
    const stuck = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    const running = await h.waitForJob(
      stuck.json.id,
      (j) => j.status === 'running' || j.status === 'queued' || j.status === 'submitted',
    );
    if (provider === 'evolink') {
      const refused = await h.api('POST', `/v1/jobs/${running.id}/cancel`);
      expect(refused.status).toBe(409);
      expect(refused.json.error.code).toBe('not_cancelable');
      expect(refused.json.error.message).toMatch(/EvoLink/);
      return;
    }
    // DashScope runs one task at a time: the next job waits in the relay's own queue.
    const queued = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await h.api('GET', `/v1/jobs/${queued.json.id}`);
    expect(waiting.json.status).toBe('received');
    expect(waiting.json.cancelable).toBe(true);
    const canceled = await h.api('POST', `/v1/jobs/${queued.json.id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.json.status).toBe('canceled');
    const again = await h.api('POST', `/v1/jobs/${queued.json.id}/cancel`);
    expect(again.status).toBe(409);
    // The stuck one is RUNNING upstream, which DashScope cannot cancel.
    const refused = await h.api('POST', `/v1/jobs/${running.id}/cancel`);
    if (running.status === 'running') expect(refused.status).toBe(409);
  });

  it('serves /healthz, /readyz and Prometheus /metrics', async () => {
    expect((await h.api('GET', '/healthz', { token: null })).status).toBe(200);
    expect((await h.api('GET', '/readyz', { token: null })).status).toBe(200);
    const metrics = await h.api('GET', '/metrics', { token: null });
    expect(metrics.status).toBe(200);
    // On PostgreSQL several instances may share the store: every series names its instance.
    const series = metrics.text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    if (TEST_STORE_IS_POSTGRES) {
      expect(series.filter((l) => !/relay_instance="[^"]+"/.test(l))).toEqual([]);
    } else {
      expect(metrics.text).not.toContain('relay_instance');
    }
    // The rest is read without that label.
    const text = withoutInstanceLabel(metrics.text);
    expect(text).toMatch(/retalk_jobs\{status="succeeded"\} \d+/);
    expect(text).toMatch(/retalk_upstream_requests_total\{op="submit",outcome="ok"\} \d+/);
    expect(text).toMatch(/retalk_storage_bytes \d+/);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    // Provider latency as a histogram (quantiles across instances), and what a Node service's
    // dashboards expect: event-loop lag, GC, heap, CPU.
    expect(text).toMatch(/retalk_upstream_request_seconds_bucket\{le="0\.5",op="submit"\} \d+/);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(metrics.text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
  });

  it('scrubs the provider key from any log line, whatever logs it', () => {
    const before = seen.logLines.length;
    h.relay.app.log.warn(
      { upstream: { detail: `Bearer ${PROVIDER_KEY}` } },
      `provider echoed ${PROVIDER_KEY}`,
    );
    const line = seen.logLines.slice(before).join('\n');
    expect(line).toContain('[redacted]');
    expect(line).not.toContain(PROVIDER_KEY);
  });

  it("captures the relay's log lines, which the key-leak scan after every test reads", () => {
    expect(seen.logLines.length).toBeGreaterThan(10);
  });
});
