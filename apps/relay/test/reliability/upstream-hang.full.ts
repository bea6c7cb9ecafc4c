import { afterEach, describe, expect, it } from 'vitest';
import { TERMINAL } from './child-relay.js';
import { endpointOf } from './fault-proxy.js';
import { probeResponsiveness } from './responsiveness.js';
import { recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

// Full run only: each hang lasts the relay's 30 s upstream request timeout.
describe('the relay when the provider stops answering (full run)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('keeps other jobs moving and stays responsive while a status read hangs, then finishes the hung job (EvoLink)', async () => {
    const rec = recordScenario(
      'storms',
      'hang-query-evolink',
      'a status read that never answers (until the 30 s request timeout) while another job runs (EvoLink)',
    );
    stack = await startStack('evolink');
    const relay = await stack.relay();
    const token = await relay.addMember('alice');
    const hung = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs('hang:1') });
    const probe = probeResponsiveness(relay, [
      { path: '/healthz' },
      { path: `/v1/jobs/${hung.json.id}`, token },
    ]);
    const other = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    const otherDone = await relay.waitForJob(
      other.json.id,
      token,
      (j) => TERMINAL.includes(j.status),
      20_000,
    );
    const stillHung = await relay.api('GET', `/v1/jobs/${hung.json.id}`, { token });
    const hungDone = await relay.waitForJob(hung.json.id, token, (j) => TERMINAL.includes(j.status), 90_000);
    const latency = await probe.stop();
    Object.assign(rec, {
      faultsSurvived: 1,
      jobsLost: [otherDone, hungDone].filter((j) => !TERMINAL.includes(j.status)).length,
      duplicateSubmits: stack.sim.stats().submits - 2,
      ...relayTotals(stack.relays),
      details: { latency },
    });
    expect(otherDone.status).toBe('succeeded');
    expect(TERMINAL).not.toContain(stillHung.json.status);
    expect(hungDone.status).toBe('succeeded');
    expect(latency.failures).toBe(0);
    expect(latency.p95Ms).toBeLessThan(250);
    expect(stack.sim.stats().submits).toBe(2);
  });

  it('reconciles a DashScope create that never got an answer and submits it exactly once', async () => {
    const rec = recordScenario(
      'storms',
      'hang-create-dashscope',
      'a create request that never answers (the provider never saw it) until the 30 s request timeout (DashScope)',
    );
    stack = await startStack('dashscope');
    const relay = await stack.relay();
    const token = await relay.addMember('alice');
    const hold = stack.proxy.add({
      match: (r) => endpointOf(r.method, r.path) === 'dashscope.create',
      action: 'hold',
    });
    const created = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    await hold.hit;
    const job = await relay.waitForJob(created.json.id, token, (j) => TERMINAL.includes(j.status), 120_000);
    Object.assign(rec, {
      faultsSurvived: 1,
      jobsLost: TERMINAL.includes(job.status) ? 0 : 1,
      duplicateSubmits: stack.sim.stats().submits - 1,
      ...relayTotals(stack.relays),
    });
    expect(job.status).toBe('succeeded');
    expect(stack.sim.stats().submits).toBe(1);
    expect(stack.sim.stats().requests['dashscope.list']).toBeGreaterThanOrEqual(1);
  });
});
