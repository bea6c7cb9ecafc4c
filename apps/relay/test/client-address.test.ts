import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, seen, startRelay } from './harness.js';

const guess = (i: number) => `rtk_${String(i).padStart(43, 'x')}`;

describe('client addresses and the access log (findings L2, L3)', () => {
  let h: Harness;
  beforeAll(async () => {
    // The proxy on this machine (loopback) is trusted; what it appended is the client's address.
    h = await startRelay({ provider: 'evolink', env: { RETALK_TRUST_PROXY: 'true' } });
  });
  afterAll(async () => {
    await h.close();
  });

  it('limits failed sign-ins by the address the proxy saw, whatever X-Forwarded-For the client forged', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      // The client sends its own X-Forwarded-For; an appending proxy adds the real address last.
      const res = await h.api('GET', '/v1/me', {
        token: guess(i),
        headers: { 'x-forwarded-for': `198.51.100.${i}, 192.0.2.50` },
      });
      statuses.push(res.status);
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(10);
  });

  it('logs each request with method, path, address and status, and failed sign-ins with the address only', async () => {
    const before = seen.logLines.length;
    await h.api('GET', '/healthz?secret=1', { token: null, headers: { 'x-forwarded-for': '192.0.2.77' } });
    await h.api('GET', '/v1/me', { token: guess(99), headers: { 'x-forwarded-for': '192.0.2.78' } });
    interface LogLine {
      msg?: string;
      reqId?: string;
      req?: { url?: string };
      res?: { statusCode?: number };
    }
    const lines = seen.logLines.slice(before).map((l) => JSON.parse(l) as LogLine);
    const incoming = lines.find((l) => l.msg === 'incoming request' && l.req?.url === '/healthz');
    expect(incoming?.req).toEqual({ method: 'GET', url: '/healthz', remoteAddress: '192.0.2.77' });
    const completed = lines.find((l) => l.msg === 'request completed' && l.reqId === incoming?.reqId);
    expect(completed?.res?.statusCode).toBe(200);
    const failed = lines.find((l) => l.msg === 'failed sign-in');
    expect(failed).toMatchObject({ remoteAddress: '192.0.2.78', reason: 'unknown' });
    expect(seen.logLines.slice(before).join('\n')).not.toContain(guess(99));
  });
});
