import path from 'node:path';
import { createSimulator } from '@retalk/simulator';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, PROVIDER_KEY, type Simulator, startRelay, tempDir } from './harness.js';

/** Rewinds a submitted job to "submit started, upstream id never recorded" — what a crash leaves. */
function simulateCrashBeforeIdWasStored(dataDir: string, jobId: string, submitStartedAt?: number): void {
  const db = new Database(path.join(dataDir, 'relay.db'));
  db.prepare(`UPDATE jobs SET upstream_id = NULL, status = 'received', submitted_at = NULL WHERE id = ?`).run(
    jobId,
  );
  if (submitStartedAt !== undefined) {
    db.prepare('UPDATE jobs SET submit_started_at = ? WHERE id = ?').run(submitStartedAt, jobId);
  }
  db.close();
}

// The relay fetches URL inputs and hands the provider its own copies (issue 8, H1), so a provider
// downloading them would race the relay's restart; here the simulator does not fetch inputs (the
// download itself is covered by the upload and conform tests).
function inputsAt(sim: Simulator) {
  return {
    video: { url: sim.fixtureUrl('talking-640x640-25fps-3s.mp4') },
    audio: { url: sim.fixtureUrl('speech-4s.wav') },
  };
}

describe('a relay restarted on the same data', () => {
  let sim: Simulator;
  const open: Harness[] = [];
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
    await sim?.close();
  });

  /**
   * Submits one job, stops the relay once the provider has it, optionally rewinds the store to "id
   * never recorded", and starts a second relay on the same data and port.
   */
  async function submitThenRestart(
    provider: 'evolink' | 'dashscope',
    crashBeforeIdStored: boolean,
    submitStartedAt?: number,
  ) {
    sim = await createSimulator({ jobMs: 800, apiKeys: [PROVIDER_KEY], fetchInputs: false });
    const dataDir = tempDir();
    const first = await startRelay({ provider, sim, dataDir });
    open.push(first);
    const created = await first.api('POST', '/v1/jobs', { body: inputsAt(sim) });
    // Preparing (fetching and measuring the inputs in a child process) comes first.
    const submitted = await first.waitForJob(created.json.id, (j) => j.upstreamId !== undefined, 30_000);
    await first.stopRelay();
    if (crashBeforeIdStored) simulateCrashBeforeIdWasStored(dataDir, created.json.id, submitStartedAt);
    const second = await startRelay({ provider, sim, dataDir, port: Number(new URL(first.url).port) });
    open.push(second);
    const waitFor = (done: Parameters<Harness['waitForJob']>[1]) =>
      second.waitForJob(created.json.id, done, 10_000, first.token);
    return { first, second, submitted, waitFor };
  }

  it.each(['evolink', 'dashscope'] as const)(
    'finishes a %s job that was mid-flight without a second submit',
    async (provider) => {
      const { waitFor } = await submitThenRestart(provider, false);
      const done = await waitFor((j) => j.status === 'succeeded');
      expect(done.result?.archived).toBe(true);
      expect(sim.stats().submits).toBe(1);
    },
  );

  it('adopts the DashScope task of a submit interrupted before its id was stored (task list), never submitting twice', async () => {
    const { submitted, waitFor } = await submitThenRestart('dashscope', true);
    const done = await waitFor((j) => j.status === 'succeeded');
    expect(done.upstreamId).toBe(submitted.upstreamId);
    expect(sim.stats().submits).toBe(1);
    expect(sim.stats().requests['dashscope.list']).toBeGreaterThanOrEqual(1);
  });

  it('adopts the EvoLink task of a submit interrupted before its id was stored (same Idempotency-Key), never submitting twice', async () => {
    const { submitted, waitFor } = await submitThenRestart('evolink', true);
    const done = await waitFor((j) => j.status === 'succeeded');
    expect(done.upstreamId).toBe(submitted.upstreamId);
    expect(sim.stats().submits).toBe(1);
    expect(sim.stats().requests['evolink.create.replayed']).toBe(1);
    const keys = sim.stats().createRequests.map((r) => r.idempotencyKey);
    expect(keys).toEqual([`retalk-${submitted.id}`, `retalk-${submitted.id}`]);
  });

  it('adopts an interrupted EvoLink submit through its task list once the key may be forgotten (GET /v1/tasks)', async () => {
    // The interrupted submit began 20 min ago: past the idempotency window, so the list decides.
    const { submitted, waitFor } = await submitThenRestart('evolink', true, Date.now() - 20 * 60_000);
    const done = await waitFor((j) => j.status === 'succeeded');
    expect(done.upstreamId).toBe(submitted.upstreamId);
    expect(sim.stats().submits).toBe(1);
    expect(sim.stats().requests['evolink.list']).toBeGreaterThanOrEqual(1);
  });

  it('resubmits a job whose interrupted DashScope submit never reached the provider', async () => {
    sim = await createSimulator({ jobMs: 300, apiKeys: [PROVIDER_KEY] });
    const dataDir = tempDir();
    const first = await startRelay({ provider: 'dashscope', sim, dataDir });
    open.push(first);
    await first.stopRelay();
    // A job stored with the submit marker set, but the provider never saw it.
    const db = new Database(path.join(dataDir, 'relay.db'));
    const member = db.prepare(`SELECT id FROM members WHERE name = 'alice'`).get() as { id: string };
    const now = Date.now();
    db.prepare(
      `INSERT INTO jobs (id, member_id, status, progress, provider, input_json, estimated_seconds, submit_started_at, callback_token, created_at, updated_at)
       VALUES ('job_AAAAAAAAAAAAAAAA', ?, 'received', 0, 'dashscope', ?, 3, ?, 'cbtokencbtokencbtokencbtokencbto', ?, ?)`,
    ).run(member.id, JSON.stringify({ ...inputsAt(sim), videoExtension: false }), now, now, now);
    db.close();

    const second = await startRelay({
      provider: 'dashscope',
      sim,
      dataDir,
      port: Number(new URL(first.url).port),
    });
    open.push(second);
    const done = await second.waitForJob(
      'job_AAAAAAAAAAAAAAAA',
      (j) => j.status === 'succeeded',
      10_000,
      first.token,
    );
    expect(done.upstreamId).toBeTruthy();
    expect(sim.stats().submits).toBe(1);
  });
});
