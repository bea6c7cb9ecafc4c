// The conformance suite: one table of cases, run against every provider's adapter (through the
// provider-neutral client) and its simulator module, over HTTP. A provider differs only in the
// facts of its row in PROVIDERS_UNDER_TEST; where a capability is missing, the case checks the
// documented "not supported" answer instead of skipping. Adding a provider = one adapter, one
// simulator module, one row here (docs/architecture.md).
import { createSimulator, SIMULATOR_API_KEY, type Simulator, type SimulatorOptions } from '@retalk/simulator';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClientOptions, createClient } from '../src/client.js';
import type { RetalkErrorCode } from '../src/errors.js';
import { hintFor, taskHintFor } from '../src/provider-errors.js';
import { PROVIDER_CAPABILITIES } from '../src/providers/capabilities.js';
import { PROVIDERS, type Provider, type Task, type TaskStatus } from '../src/task.js';
import { AUDIO, caught, VIDEO } from './support.js';

/** What one provider's simulator module answers, as the cases need it. */
interface ProviderUnderTest {
  /** The client's `baseUrl` on the simulator. */
  baseUrl(sim: Simulator): string;
  /** `fail:<code>` scenarios and how each must end. */
  failures: Array<{ code: string; status: TaskStatus; simulator?: SimulatorOptions }>;
  /** The simulator's forms of an error body (audit row 14; EvoLink numeric codes). */
  errorForms: SimulatorOptions[];
  /** `reject:<HTTP>[:<code>]` of a rate limit that does not go away, and the create requests it costs. */
  rateLimit: { scenario: string; requests: number };
  /** `reject:` of a billing answer (audit row 4, §4.6). */
  billing: string;
  /** Simulator options under which the task reports what it was charged, and the check. */
  charge: { simulator: SimulatorOptions; check(task: Task): void };
}

const PROVIDERS_UNDER_TEST: Record<Provider, ProviderUnderTest> = {
  evolink: {
    baseUrl: (sim) => sim.url,
    failures: [
      { code: 'generation_failed_no_content', status: 'failed' },
      { code: 'content_policy_violation', status: 'failed' },
      { code: 'request_cancelled', status: 'canceled' },
      // EvoLink's own client knows a `cancelled` status (audit row 1).
      { code: 'request_cancelled', status: 'canceled', simulator: { evolinkCancelledStatus: 'cancelled' } },
    ],
    errorForms: [{}, { evolinkNumericErrorCodes: true }, { evolinkRequestIdHeader: 'x-oneapi-request-id' }],
    // One repeat with the same Idempotency-Key, never more (audit row 2).
    rateLimit: { scenario: 'reject:429', requests: 2 },
    billing: 'reject:402:insufficient_quota',
    charge: {
      simulator: { evolinkChargeReport: 'credits_used' },
      // 3 s of output at the simulator's 4 credits/s, not the 480 reserved (audit row 9).
      check: (task) => expect(task.usage).toMatchObject({ credits: 12, creditsReserved: 480 }),
    },
  },
  dashscope: {
    baseUrl: (sim) => sim.dashscopeUrl,
    failures: [
      { code: 'InvalidFile.FPS', status: 'failed' },
      { code: 'InvalidFile.FaceNotMatch', status: 'failed' },
      { code: 'InternalError.Algo', status: 'failed' },
    ],
    errorForms: [
      { dashscopeErrorForm: 'flat' },
      { dashscopeErrorForm: 'msg' },
      { dashscopeErrorForm: 'envelope' },
      { dashscopeErrorForm: 'snake_case' },
    ],
    // The first try and the client's 3 submit retries: a DashScope 429 created nothing.
    rateLimit: { scenario: 'reject:429:Throttling.RateQuota', requests: 4 },
    billing: 'reject:429:Throttling.AllocationQuota',
    charge: {
      simulator: {},
      check: (task) => expect(task.usage?.videoSeconds).toBeCloseTo(3, 0),
    },
  },
};

/**
 * Virtual time shared by the client and the simulator: a client wait ends at once and moves both
 * clocks on, but only once every request already sent has been answered (so a request is never
 * stamped with time that passed after it was sent). Retries and pacing cost no real time, and the
 * simulator's limits still hold.
 */
function sharedVirtualTime(sim: Simulator): Pick<ClientOptions, 'clock' | 'fetch'> {
  let offset = 0;
  let inFlight = 0;
  return {
    async fetch(input, init) {
      inFlight++;
      try {
        return await globalThis.fetch(input, init);
      } finally {
        inFlight--;
      }
    },
    clock: {
      now: () => Date.now() + offset,
      async sleep(ms: number, signal?: AbortSignal) {
        // One turn of the event loop first: a request decided on just before this wait is sent.
        do await new Promise((r) => setTimeout(r, 1));
        while (inFlight > 0);
        if (signal?.aborted) throw signal.reason;
        offset += ms;
        sim.advanceTime(ms);
      },
    },
  };
}

describe.each(PROVIDERS)('conformance: %s adapter against its simulator module', (provider) => {
  const facts = PROVIDERS_UNDER_TEST[provider];
  const capabilities = PROVIDER_CAPABILITIES[provider];
  const open: Simulator[] = [];

  async function setup(simulator: SimulatorOptions = {}, o: { virtualTime?: boolean } = {}) {
    const sim = await createSimulator({ jobMs: 150, resultMode: 'echo', ...simulator });
    open.push(sim);
    const c = createClient({
      provider,
      apiKey: SIMULATOR_API_KEY,
      baseUrl: facts.baseUrl(sim),
      poll: { intervalMs: 20 },
      ...(o.virtualTime ? sharedVirtualTime(sim) : {}),
    });
    const video = (scenario?: string) =>
      `${sim.fixtureUrl(VIDEO)}${scenario ? `?sim=${encodeURIComponent(scenario)}` : ''}`;
    const request = (scenario?: string) => ({ video: video(scenario), audio: sim.fixtureUrl(AUDIO) });
    return { sim, client: c, request };
  }

  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('submits one task and answers it queued, under its provider', async () => {
    const { sim, client, request } = await setup();
    const task = await client.submit(request());
    expect(task).toMatchObject({ provider, status: 'queued' });
    expect(task.id).not.toBe('');
    expect(sim.stats().submits).toBe(1);
  });

  it('polls a task to success, with a result link that serves the video and the usage billed', async () => {
    const { client, request } = await setup(facts.charge.simulator);
    const task = await client.run(request());
    expect(task).toMatchObject({ provider, status: 'succeeded', progress: 100 });
    const result = await fetch(task.resultUrl as string);
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toContain('video/mp4');
    await result.body?.cancel();
    expect(Date.parse(task.resultExpiresAt as string)).toBeGreaterThan(Date.now());
    facts.charge.check(task);
  });

  it.each(facts.failures)(
    'ends a task failing with $code as $status, keeping the code, with advice',
    async (f) => {
      const { client, request } = await setup(f.simulator);
      const err = await caught(client.run(request(`fail:${f.code}`)));
      expect(err).toMatchObject({
        code: 'task_failed',
        providerCode: f.code,
        taskStatus: f.status,
        provider,
      });
      const hint = taskHintFor(provider, f.code);
      expect(hint).toBeTruthy();
      expect(err.message).toContain(hint);
    },
  );

  it(`cancels a queued task (capability cancel: '${capabilities.cancel}')`, async () => {
    const { sim, client, request } = await setup({ jobMs: 60_000 });
    // A stuck first task keeps the second one queued where the provider runs one at a time.
    await client.submit(request('stuck'));
    const queued = await client.submit(request());
    if (capabilities.cancel === 'queued') {
      const canceled = await client.cancel(queued.id);
      expect(canceled.status).toBe('canceled');
    } else {
      const err = await caught(client.cancel(queued.id));
      expect(err).toMatchObject({ code: 'not_supported' });
      expect(err.message).toContain(capabilities.displayName);
      // Refused before anything is sent upstream.
      expect(Object.keys(sim.stats().requests).some((name) => name.includes('cancel'))).toBe(false);
    }
  });

  it(`recovers a submit whose answer was lost (idempotentSubmit: ${capabilities.idempotentSubmit}, taskList: ${capabilities.taskList})`, async () => {
    const { sim, client, request } = await setup();
    const req = request('lost-answer');
    const startedAt = Date.now();
    const idempotencyKey = `conformance-${provider}-${startedAt}`;
    const first = await client.submit(req, { idempotencyKey }).catch((e: unknown) => e);
    if (capabilities.idempotentSubmit) {
      // The one repeat under the same key gets the task the lost answer was about.
      expect(first).toMatchObject({ provider, status: 'queued' });
    } else {
      // Not repeated (it may have created a task): the caller must recover.
      expect(first).toMatchObject({ code: 'network' });
    }
    const recovery = await client.recoverSubmit(req, { idempotencyKey, startedAt, isKnown: () => false });
    if (!capabilities.idempotentSubmit && !capabilities.taskList) {
      expect(recovery.outcome).toBe('unknown');
      return;
    }
    expect(recovery).toMatchObject({
      outcome: 'found',
      via: capabilities.idempotentSubmit ? 'idempotency' : 'task_list',
    });
    if (recovery.outcome === 'found' && first instanceof Object && 'id' in first) {
      expect(recovery.task.id).toBe((first as Task).id);
    }
    expect(sim.stats().submits).toBe(1);
  });

  it('lists the recent tasks within the window the provider allows (audit row 19)', async () => {
    const { client, request } = await setup();
    const task = await client.submit(request());
    // Asked for two days: the adapter keeps to what the list takes (DashScope: 24 h).
    const rows = await client.listTasks({ sinceMs: Date.now() - 48 * 3_600_000 });
    expect(rows.map((r) => r.id)).toContain(task.id);
  });

  it('gives up on a rate limit that does not go away as rate_limited, retryable, having created nothing', async () => {
    const { sim, client, request } = await setup({}, { virtualTime: true });
    const err = await caught(client.submit(request(facts.rateLimit.scenario)));
    expect(err).toMatchObject({ code: 'rate_limited', retryable: true, provider });
    expect(sim.stats().createRequests).toHaveLength(facts.rateLimit.requests);
    expect(sim.stats().submits).toBe(0);
  });

  if (capabilities.limits.submitsPerSecond !== undefined) {
    it(`paces submits to the documented ${capabilities.limits.submitsPerSecond}/s: a burst gets no 429`, async () => {
      const { sim, client, request } = await setup({}, { virtualTime: true });
      const tasks = await Promise.all([client.submit(request()), client.submit(request())]);
      expect(tasks).toHaveLength(2);
      expect(sim.stats().throttled).toBe(0);
    });
  } else {
    it('publishes no submit rate: a 429 is answered, then repeated at most once under the same key', async () => {
      const { sim, client, request } = await setup();
      const task = await client.submit(request('retry-after:0'));
      expect(task.status).toBe('queued');
      const keys = sim.stats().createRequests.map((r) => r.idempotencyKey);
      expect(keys).toHaveLength(2);
      expect(new Set(keys).size).toBe(1);
      expect(capabilities.limits.scope).toBe('unpublished');
    });
  }

  it('never retries a billing answer and says what to do', async () => {
    const { sim, client, request } = await setup({}, { virtualTime: true });
    const err = await caught(client.submit(request(facts.billing)));
    expect(err).toMatchObject({ code: 'quota', retryable: false, provider });
    const hint = hintFor(provider, err.providerCode);
    expect(hint).toBeTruthy();
    expect(err.message).toContain(hint);
    expect(sim.stats().createRequests).toHaveLength(1);
  });

  it.each(facts.errorForms)('reads every error body form: %o', async (form) => {
    const { sim, request } = await setup(form);
    const wrongKey = createClient({ provider, apiKey: 'sk-not-a-real-key-42', baseUrl: facts.baseUrl(sim) });
    const err = await caught(wrongKey.submit(request()));
    expect(err).toMatchObject({ code: 'auth' satisfies RetalkErrorCode, status: 401, provider });
    expect(err.requestId).toBeTruthy();
    expect(JSON.stringify(err.toJSON())).not.toContain('sk-not-a-real-key-42');
    expect(err.message).not.toContain('sk-not-a-real-key-42');
  });
});
