import { createSimulator } from '@retalk/simulator';
import { afterEach, describe, expect, it } from 'vitest';
import { newJobRecord } from '../src/jobs.js';
import { type Harness, PROVIDER_KEY, type Simulator, startRelay, tempDir, withStoreOf } from './harness.js';

/** Rewinds a submitted job to "submit started, upstream id never recorded" — what a crash leaves. */
async function simulateCrashBeforeIdWasStored(
  dataDir: string,
  jobId: string,
  submitStartedAt?: number,
): Promise<void> {
  await withStoreOf(dataDir, async (store) => {
    await store.updateJob(jobId, {
      upstreamId: null,
      status: 'received',
      submittedAt: null,
      ...(submitStartedAt !== undefined ? { submitStartedAt } : {}),
    });
  });
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
    if (crashBeforeIdStored) await simulateCrashBeforeIdWasStored(dataDir, created.json.id, submitStartedAt);
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
    await withStoreOf(dataDir, async (store) => {
      const member = await store.getMemberByName('alice');
      const now = Date.now();
      const job = newJobRecord(
        {
          memberId: member?.id as string,
          provider: 'dashscope',
          input: { ...inputsAt(sim), videoExtension: false },
          conformMode: 'off',
          needsPreparation: false,
          estimatedSeconds: 3,
          idempotencyKey: null,
          requestHash: null,
        },
        now,
      );
      await store.insertJob({ ...job, id: 'job_AAAAAAAAAAAAAAAA', submitStartedAt: now });
    });

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
