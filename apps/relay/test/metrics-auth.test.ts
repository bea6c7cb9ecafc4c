import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { metricsExposureWarning } from '../src/serve.js';
import { type Harness, startRelay } from './harness.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

describe('/metrics with RETALK_METRICS_TOKEN', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({ provider: 'evolink', env: { RETALK_METRICS_TOKEN: METRICS_TOKEN } });
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers 401 in the standard envelope without a token, naming what to send', async () => {
    const res = await h.api('GET', '/metrics', { token: null });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(res.json.error).toMatchObject({ code: 'unauthorized', field: 'authorization' });
    expect(res.json.error.message).toContain('Authorization: Bearer <RETALK_METRICS_TOKEN>');
    expect(typeof res.json.error.requestId).toBe('string');
    expect(res.text).not.toContain('retalk_jobs');
  });

  it('answers 401 to a wrong token and to a member token', async () => {
    const wrong = await h.api('GET', '/metrics', { token: `${METRICS_TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('unauthorized');
    const member = await h.api('GET', '/metrics', { token: h.token });
    expect(member.status).toBe(401);
    expect(member.text).not.toContain(METRICS_TOKEN);
  });

  it('serves the Prometheus text to the configured token', async () => {
    const res = await h.api('GET', '/metrics', { token: METRICS_TOKEN });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/^retalk_jobs\{status="succeeded"\} \d+$/m);
  });

  it('keeps health checks open', async () => {
    expect((await h.api('GET', '/healthz', { token: null })).status).toBe(200);
  });
});

describe('/metrics without RETALK_METRICS_TOKEN', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({ provider: 'evolink' });
  });
  afterAll(async () => {
    await h.close();
  });

  it('stays open on a loopback listener', async () => {
    const res = await h.api('GET', '/metrics', { token: null });
    expect(res.status).toBe(200);
    expect(res.text).toContain('retalk_jobs');
  });
});

describe('RETALK_METRICS_TOKEN configuration', () => {
  it('is read from the environment', () => {
    expect(loadConfig({ RETALK_METRICS_TOKEN: METRICS_TOKEN }, '/').metricsToken).toBe(METRICS_TOKEN);
    expect(loadConfig({}, '/').metricsToken).toBeUndefined();
  });

  it('refuses a token shorter than 24 characters without echoing it', () => {
    let error: unknown;
    try {
      loadConfig({ RETALK_METRICS_TOKEN: 'short-secret-value' }, '/');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(['RETALK_METRICS_TOKEN must be at least 24 characters']);
    expect((error as Error).message).not.toContain('short-secret-value');
  });

  it('warns at start when /metrics is open on an address other machines can reach', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.20', 'relay.example.com']) {
      expect(metricsExposureWarning({ host, metricsToken: undefined })).toMatch(/set RETALK_METRICS_TOKEN/);
      expect(metricsExposureWarning({ host, metricsToken: METRICS_TOKEN })).toBeUndefined();
    }
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost']) {
      expect(metricsExposureWarning({ host, metricsToken: undefined })).toBeUndefined();
    }
  });
});
