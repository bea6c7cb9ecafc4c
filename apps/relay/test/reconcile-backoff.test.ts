import path from 'node:path';
import { createSimulator } from '@retalk/simulator';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, PROVIDER_KEY, type Simulator, seen, startRelay, tempDir } from './harness.js';
import { createFaultProxy, type FaultProxy } from './reliability/fault-proxy.js';

async function until<T>(read: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface LogLine {
  msg?: string;
  jobs?: number;
  attempt?: number;
  retryInMs?: number;
}

describe('interrupted submits while the provider is down (findings L4)', () => {
  let sim: Simulator | undefined;
  let proxy: FaultProxy | undefined;
  const open: Harness[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    await proxy?.close();
    await sim?.close();
  });

  it('are reconciled in one shared pass with exponential backoff, then all of them are sent', async () => {
    sim = await createSimulator({ jobMs: 200, apiKeys: [PROVIDER_KEY] });
    proxy = await createFaultProxy(sim.url);
    const dataDir = tempDir();
    const first = await startRelay({ provider: 'dashscope', sim, dataDir });
    open.push(first);
    await first.stopRelay();

    // Three jobs whose submit began but whose answer was lost: what a crash leaves behind.
    const db = new Database(path.join(dataDir, 'relay.db'));
    const member = db.prepare(`SELECT id FROM members WHERE name = 'alice'`).get() as { id: string };
    const input = JSON.stringify({
      video: { url: sim.fixtureUrl('talking-640x640-25fps-3s.mp4') },
      audio: { url: sim.fixtureUrl('speech-4s.wav') },
      videoExtension: false,
    });
    const ids = ['job_RECONCILEAAAAAAA', 'job_RECONCILEBBBBBBB', 'job_RECONCILECCCCCCC'];
    const now = Date.now();
    for (const [i, id] of ids.entries()) {
      db.prepare(
        `INSERT INTO jobs (id, member_id, status, progress, provider, input_json, estimated_seconds, submit_started_at, callback_token, created_at, updated_at)
         VALUES (?, ?, 'received', 0, 'dashscope', ?, 3, ?, ?, ?, ?)`,
      ).run(id, member.id, input, now, `cbtoken${i}cbtokencbtokencbtokencbtok`, now, now);
    }
    db.close();

    // The provider answers 503 to every task-list call until the rule is removed.
    const outage = proxy.add({
      match: (r) => r.method === 'GET' && /\/api\/v1\/tasks(\?|$)/.test(r.path),
      action: 'respond',
      status: 503,
      body: '{"code":"ServiceUnavailable","message":"down"}',
      times: Number.POSITIVE_INFINITY,
    });
    const logFrom = seen.logLines.length;
    const second = await startRelay({
      provider: 'dashscope',
      sim,
      dataDir,
      port: Number(new URL(first.url).port),
      pollIntervalMs: 50,
      readRetries: 0,
      env: { RETALK_BASE_URL: `${proxy.url}/api/v1`, RETALK_RATE_LIMIT_PER_MINUTE: '100000' },
    });
    open.push(second);

    const failedPasses = () =>
      seen.logLines
        .slice(logFrom)
        .map((l) => JSON.parse(l) as LogLine)
        .filter((l) => l.msg === 'recovering interrupted submits failed; will retry');
    const passes = await until(() => {
      const p = failedPasses();
      return p.length >= 5 ? p.slice(0, 5) : undefined;
    }, 'five failed reconcile passes');
    // Each pass asks the provider once for all three jobs, and waits twice as long as the last.
    expect(passes.map((p) => p.jobs)).toEqual([3, 3, 3, 3, 3]);
    expect(passes.map((p) => p.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(passes.map((p) => p.retryInMs)).toEqual([100, 200, 400, 800, 1600]);
    const listCalls = proxy.log.filter((e) => e.outcome === 'respond').length;
    expect(listCalls).toBeLessThanOrEqual(failedPasses().length + 1);

    // The provider is back: every job is recovered (never sent, so submitted once each).
    outage.remove();
    for (const id of ids) {
      const sent = await second.waitForJob(id, (j) => j.upstreamId !== undefined, 30_000, first.token);
      expect(sent.upstreamId).toBeTruthy();
    }
    expect(sim.stats().submits).toBe(3);
  });
});
