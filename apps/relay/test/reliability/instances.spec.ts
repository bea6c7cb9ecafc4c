import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../pg.js';
import { type Balancer, createBalancer } from './balancer.js';
import {
  ADMIN_TOKEN,
  type ChildRelay,
  fixture,
  type JobBody,
  PROVIDER_KEY,
  sleep,
  TERMINAL,
  tempDir,
  until,
} from './child-relay.js';
import { endpointOf } from './fault-proxy.js';
import { recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

// Several relay processes on one PostgreSQL database and one data dir (the volume they share),
// behind a balancer that is their public address. Always PostgreSQL: SQLite is one process.

/** How long a job's lease lasts in these tests: a killed instance's jobs move on after this. */
const LEASE_MS = 1_500;

interface Cluster {
  databaseUrl: string;
  balancer: Balancer;
  relays: ChildRelay[];
}

async function startCluster(stack: Stack, count: number, env: Record<string, string> = {}): Promise<Cluster> {
  const databaseUrl = await createTestDatabase();
  const dataDir = tempDir();
  const balancer = await createBalancer();
  const relays: ChildRelay[] = [];
  for (let i = 0; i < count; i++) {
    const relay = await stack.relay({
      dataDir,
      env: {
        RETALK_DATABASE_URL: databaseUrl,
        RETALK_PUBLIC_URL: balancer.url,
        RETALK_LEASE_MS: String(LEASE_MS),
        ...env,
      },
    });
    balancer.add(relay.url);
    relays.push(relay);
  }
  return { databaseUrl, balancer, relays };
}

async function query(
  databaseUrl: string,
  sql: string,
  params: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Upstream tasks beyond one per job. */
function duplicates(jobs: JobBody[], submits: number): number {
  return Math.max(0, submits - new Set(jobs.map((j) => j.upstreamId).filter(Boolean)).size);
}

interface SseEvent {
  seq: number;
  jobId: string;
  status: string;
}

/** A member's event stream on one instance: collects `job` events until it ends. */
function openStream(relay: ChildRelay, token: string, lastEventId?: number) {
  const events: SseEvent[] = [];
  const controller = new AbortController();
  let ready = false;
  let ended = false;
  const done = (async () => {
    try {
      const res = await fetch(`${relay.url}/v1/events`, {
        headers: {
          authorization: `Bearer ${token}`,
          ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }),
        },
        signal: controller.signal,
      });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done: finished } = await reader.read();
        if (finished) break;
        buffer += decoder.decode(value, { stream: true });
        let cut = buffer.indexOf('\n\n');
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          cut = buffer.indexOf('\n\n');
          const field = (name: string) =>
            block
              .split('\n')
              .find((l) => l.startsWith(`${name}: `))
              ?.slice(name.length + 2);
          const event = field('event');
          if (event === 'ready') ready = true;
          if (event === 'reset') throw new Error(`the stream was reset: ${field('data')}`);
          if (event === 'job') {
            const job = JSON.parse(field('data') as string).job as JobBody;
            events.push({ seq: Number(field('id')), jobId: job.id, status: job.status });
          }
        }
      }
    } catch (error) {
      if (!controller.signal.aborted && !(error instanceof TypeError)) throw error;
    } finally {
      ended = true;
    }
  })();
  return {
    events,
    isReady: () => ready,
    hasEnded: () => ended,
    close: () => controller.abort(),
    done,
  };
}

/** DashScope times are Beijing wall-clock strings (`2026-12-03 16:55:21.123`). */
function dashscopeMs(time: string): number {
  return Date.parse(`${time.replace(' ', 'T')}+08:00`);
}

/** What the simulator hands back as the result (the input video, in the suite's echo mode). */
const RESULT = fixture('talking-640x640-25fps-3s.mp4');

/** A second provider account's key, for the pool scenarios (as distinctive as PROVIDER_KEY). */
const BACKUP_KEY = 'sk-reliability-BACKUP-8c3d1e5f7a9b2c4d6e';

/** An upstreams file naming `entries` on the stack's DashScope (through the fault proxy). */
function upstreamsFile(stack: Stack, entries: Record<string, unknown>[]): string {
  const file = path.join(tempDir('retalk-upstreams-'), 'upstreams.json');
  const baseUrl = `${stack.proxy.url}/api/v1`;
  fs.writeFileSync(
    file,
    JSON.stringify({ upstreams: entries.map((e) => ({ provider: 'dashscope', baseUrl, ...e })) }),
  );
  return file;
}

interface UpstreamStatusBody {
  name: string;
  health: string;
  reason: string | null;
  since: string | null;
  probeAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
}

async function upstreamStatus(relay: ChildRelay, name: string): Promise<UpstreamStatusBody> {
  const res = await relay.api('GET', '/admin/upstreams', { token: ADMIN_TOKEN });
  expect(res.status, res.text).toBe(200);
  const found = (res.json.upstreams as UpstreamStatusBody[]).find((u) => u.name === name);
  if (!found) throw new Error(`no upstream ${name} in ${res.text}`);
  return found;
}

/** Resolves once `ready()` resolves true, checking every 50 ms; fails after `timeoutMs` naming what it waited for. */
async function untilAsync(what: string, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('several relay instances on one PostgreSQL database', () => {
  let stack: Stack | undefined;
  let balancer: Balancer | undefined;
  afterEach(async () => {
    await stack?.close();
    await balancer?.close();
    stack = undefined;
    balancer = undefined;
  });

  /**
   * Two instances on one DashScope account; a job created on the first, whose submit the fault
   * proxy holds (`hold`: the provider has not heard of it; `hold-response`: it created the task
   * and the instance has not heard back). The provider does not fetch inputs: a cut download is
   * another scenario (as in the one-instance crash tests).
   */
  async function submitHeld(action: 'hold' | 'hold-response') {
    stack = await startStack('dashscope', { fetchInputs: false });
    const cluster = await startCluster(stack, 2);
    balancer = cluster.balancer;
    const [first, second] = cluster.relays as [ChildRelay, ChildRelay];
    const token = await first.addMember('alice');
    const held = stack.proxy.add({
      match: (r) => endpointOf(r.method, r.path) === 'dashscope.create',
      action,
    });
    const created = await first.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    expect(created.status).toBe(201);
    await held.hit;
    return { sim: stack.sim, cluster, first, second, token, created, held };
  }

  /** Records a one-fault scenario's outcome for one job; answers the provider's submits. */
  function recordOutcome(rec: ReturnType<typeof recordScenario>, job: JobBody): number {
    const submits = stack?.sim.stats().submits ?? 0;
    Object.assign(rec, {
      faultsSurvived: 1,
      jobsLost: TERMINAL.includes(job.status) ? 0 : 1,
      duplicateSubmits: duplicates([job], submits),
      ...relayTotals(stack?.relays ?? []),
    });
    return submits;
  }

  it('three instances: the one polling a running job is killed, another takes the job over and finishes it with one submit', async () => {
    const rec = recordScenario(
      'instances',
      'kill-poller-three-instances',
      'Three instances; SIGKILL the instance polling a running job (DashScope)',
    );
    // Long enough that the job is still running when its instance dies.
    stack = await startStack('dashscope', { jobMs: 4_000 });
    const cluster = await startCluster(stack, 3);
    balancer = cluster.balancer;
    const [first, second, third] = cluster.relays as [ChildRelay, ChildRelay, ChildRelay];
    const token = await first.addMember('alice');
    const created = await first.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    // Read on another instance: every instance answers for every job.
    await second.waitForJob(id, token, (j) => j.status === 'running', 60_000);
    await first.kill('SIGKILL');

    const job = await third.waitForJob(id, token, (j) => TERMINAL.includes(j.status), 60_000);
    const submits = stack.sim.stats().submits;
    const takenOver = [second, third].some((r) => r.logs.some((l) => l.includes('took over jobs')));
    Object.assign(rec, {
      faultsSurvived: 1,
      jobsLost: TERMINAL.includes(job.status) ? 0 : 1,
      duplicateSubmits: duplicates([job], submits),
      ...relayTotals(stack.relays),
    });
    expect(job.status).toBe('succeeded');
    expect(job.result).toMatchObject({ archived: true });
    expect(submits).toBe(1);
    expect(takenOver).toBe(true);
    expect(rec.secretsLeaked).toBe(0);
  });

  it('two instances: a submit the provider accepted is interrupted by SIGKILL; the other instance reconciles it (submits === 1)', async () => {
    const rec = recordScenario(
      'instances',
      'kill-mid-submit-two-instances',
      'Two instances; SIGKILL after the provider created the task, before the instance stored its id (DashScope)',
    );
    const { sim, cluster, first, second, token, created } = await submitHeld('hold-response');
    await until('the provider to create the task', () => stack?.sim.stats().submits === 1);
    await first.kill('SIGKILL');
    const [upstreamTask] = Object.keys(sim.stats().tasks);
    const before = await query(cluster.databaseUrl, 'SELECT upstream_id, submit_started_at FROM jobs');
    expect(before[0]).toMatchObject({ upstream_id: null });
    expect(before[0]?.submit_started_at).not.toBeNull();

    // The other instance waits until the killed one's submit must have settled (its request timeout
    // and a margin) before asking the provider, then adopts the task.
    const job = await second.waitForJob(created.json.id, token, (j) => TERMINAL.includes(j.status), 120_000);
    const submits = recordOutcome(rec, job);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.upstreamId).toBe(upstreamTask);
    expect(submits).toBe(1);
    expect(second.logs.some((l) => l.includes('reconciled an interrupted submit'))).toBe(true);
    expect(rec.secretsLeaked).toBe(0);
  }, 300_000);

  it('two instances: one stalls (SIGSTOP) with its submit still on the way; the other takes the job over but does not send it again (submits === 1)', async () => {
    const rec = recordScenario(
      'instances',
      'stall-mid-submit-two-instances',
      'Two instances; SIGSTOP while the submit has not reached the provider, past the lease; then it arrives (DashScope)',
    );
    // The submit leaves the stalled instance but the provider does not hear of it yet.
    const { sim, cluster, first, second, token, created, held } = await submitHeld('hold');
    process.kill(first.pid, 'SIGSTOP');
    try {
      // The lease lapses and the other instance takes the job, whose submit began and has no task.
      const owners = async () =>
        (
          await query(cluster.databaseUrl, 'SELECT owner FROM job_leases WHERE job_id = $1', [
            created.json.id,
          ])
        )[0]?.owner;
      const firstOwner = await owners();
      const deadline = Date.now() + 60_000;
      while ((await owners()) === firstOwner && Date.now() < deadline) await sleep(100);
      expect(await owners()).not.toBe(firstOwner);
      // Asked now, the provider would know no task, and the job would be sent a second time. An
      // unfenced takeover asks at once; give it a few seconds to (a bounded wait: with the fence,
      // nothing is asked until the stalled submit must have settled, so none comes).
      const lists = () => stack?.sim.stats().requests['dashscope.list'] ?? 0;
      const listsBefore = lists();
      const askedBy = Date.now() + 5_000;
      while (lists() === listsBefore && Date.now() < askedBy) await sleep(50);
      // Then the stalled submit arrives, and its instance wakes.
      held.release();
      await until('the provider to create the task', () => stack?.sim.stats().submits === 1);
    } finally {
      process.kill(first.pid, 'SIGCONT');
    }
    const job = await second.waitForJob(created.json.id, token, (j) => TERMINAL.includes(j.status), 120_000);
    const submits = recordOutcome(rec, job);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(submits).toBe(1);
    expect(Object.keys(sim.stats().tasks)).toEqual([job.upstreamId]);
    expect(rec.secretsLeaked).toBe(0);
  }, 300_000);

  it('two instances: one stalls (SIGSTOP) before its submit leaves, while uploading the inputs, past its lease; the other sends the job, and the stalled one, woken, neither sends it again nor fails it (submits === 1)', async () => {
    const rec = recordScenario(
      'instances',
      'stall-before-submit-two-instances',
      "Two instances; SIGSTOP while uploading the job's inputs to the provider's storage, past the lease; then it wakes (DashScope)",
    );
    stack = await startStack('dashscope', { fetchInputs: false });
    // The inputs go to the provider's storage before the submit (DashScope oss://).
    const cluster = await startCluster(stack, 2, { RETALK_INPUT_ROUTE: 'provider' });
    balancer = cluster.balancer;
    const [first, second] = cluster.relays as [ChildRelay, ChildRelay];
    const token = await first.addMember('alice');
    // The first upload policy asked for is held: its instance has claimed the job and sent nothing.
    const held = stack.proxy.add({
      match: (r) => endpointOf(r.method, r.path) === 'dashscope.getPolicy',
      action: 'hold',
    });
    const created = await first.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    await held.hit;
    const sim = stack.sim;
    const stalled = first;
    process.kill(stalled.pid, 'SIGSTOP');
    try {
      // The other instance takes the job over, waits out the submit it cannot see, finds no task
      // at the provider and sends the job: one submit.
      await until('the other instance to send the job', () => sim.stats().submits === 1, 120_000);
      held.release();
    } finally {
      process.kill(stalled.pid, 'SIGCONT');
    }
    // Woken, the stalled instance finds its lease lapsed and leaves the job, or (unfenced) sends it
    // a second time or fails it.
    const left = () =>
      stalled.logs.some((l) => l.includes(id) && l.includes('may have lost the job to another'));
    const settledBy = Date.now() + 60_000;
    let status = '';
    while (!left() && sim.stats().submits === 1 && status !== 'failed' && Date.now() < settledBy) {
      status = (await second.api('GET', `/v1/jobs/${id}`, { token })).json.status as string;
      await sleep(50);
    }
    const job = await second.waitForJob(id, token, (j) => TERMINAL.includes(j.status), 120_000);
    const submits = recordOutcome(rec, job);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(submits).toBe(1);
    expect(left()).toBe(true);
    expect(Object.keys(sim.stats().tasks)).toEqual([job.upstreamId]);
    expect(rec.secretsLeaked).toBe(0);
  }, 300_000);

  it("a member's event stream sees the other instance's writes, and resumed on the other instance after a SIGKILL misses no event", async () => {
    const rec = recordScenario(
      'instances',
      'sse-resume-other-instance',
      "Two instances; the member's stream on one hears jobs the other writes, then resumes on the other after a SIGKILL (Last-Event-ID)",
    );
    stack = await startStack('dashscope', { jobMs: 600 });
    const cluster = await startCluster(stack, 2);
    balancer = cluster.balancer;
    const [first, second] = cluster.relays as [ChildRelay, ChildRelay];
    const token = await first.addMember('alice', { maxConcurrentJobs: 4 });
    const before = openStream(first, token);
    await until('the stream on the first instance to be ready', before.isReady);

    // Jobs created on both instances: each writes its own jobs' events.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const relay = i % 2 === 0 ? first : second;
      const res = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs() });
      expect(res.status).toBe(201);
      ids.push(res.json.id as string);
    }
    const fromSecond = new Set([ids[1], ids[3]]);
    await until("the first instance's stream to carry an event of a job the second wrote", () =>
      before.events.some((e) => fromSecond.has(e.jobId)),
    );
    await first.kill('SIGKILL');
    await until('the stream to end with its instance', before.hasEnded);
    const last = before.events.at(-1)?.seq as number;

    const after = openStream(second, token, last);
    await until('the stream on the second instance to be ready', after.isReady);
    const jobs = await Promise.all(
      ids.map((id) => second.waitForJob(id, token, (j) => TERMINAL.includes(j.status), 90_000)),
    );
    const stored = async () =>
      (
        await query(cluster.databaseUrl, 'SELECT seq FROM events WHERE job_id = ANY($1) ORDER BY seq', [ids])
      ).map((r) => Number(r.seq));
    let all = await stored();
    // The last writes may still be on their way to the stream: wait until it has the newest one.
    await until('the resumed stream to reach the newest stored event', () =>
      after.events.some((e) => e.seq === all.at(-1)),
    );
    all = await stored();
    after.close();
    await after.done;

    const seen = [...before.events, ...after.events].map((e) => e.seq);
    const missed = all.filter((seq) => !seen.includes(seq));
    Object.assign(rec, {
      faultsSurvived: 1,
      jobsLost: ids.length - jobs.filter((j) => TERMINAL.includes(j.status)).length,
      duplicateSubmits: duplicates(jobs, stack.sim.stats().submits),
      ...relayTotals(stack.relays),
      details: { eventsStored: all.length, eventsSeen: seen.length, eventsMissed: missed.length },
    });
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(missed).toEqual([]);
    // In order and each once, across the two connections.
    expect(seen).toEqual(all);
    expect(stack.sim.stats().submits).toBe(4);
    expect(rec.secretsLeaked).toBe(0);
  });

  it("DashScope's one task per account and one submit per second hold across two instances", async () => {
    const rec = recordScenario(
      'instances',
      'one-task-per-account-two-instances',
      'Two instances submitting for one DashScope account: never two tasks at once, never over 1 submit/s',
    );
    stack = await startStack('dashscope', { jobMs: 300 });
    const cluster = await startCluster(stack, 2);
    balancer = cluster.balancer;
    const [first, second] = cluster.relays as [ChildRelay, ChildRelay];
    const tokens = [await first.addMember('alice'), await first.addMember('bob')];
    const created = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => {
        const relay = i % 2 === 0 ? first : second;
        const token = tokens[i % 2] as string;
        const res = await relay.api('POST', '/v1/jobs', { token, body: stack?.inputs() });
        expect(res.status).toBe(201);
        return { id: res.json.id as string, token };
      }),
    );
    const jobs = await Promise.all(
      created.map(({ id, token }) =>
        second.waitForJob(id, token, (j) => TERMINAL.includes(j.status), 120_000),
      ),
    );
    // The provider's own view of its tasks: created, started and ended times.
    const spans: { id: string; submit: number; end: number }[] = [];
    for (const job of jobs) {
      const res = await fetch(`${stack.proxy.url}/api/v1/tasks/${job.upstreamId}`, {
        headers: { authorization: `Bearer ${PROVIDER_KEY}` },
      });
      const output = ((await res.json()) as { output: Record<string, string> }).output;
      spans.push({
        id: job.upstreamId as string,
        submit: dashscopeMs(output.submit_time as string),
        end: dashscopeMs(output.end_time as string),
      });
    }
    spans.sort((a, b) => a.submit - b.submit);
    const overlaps = spans.slice(1).filter((s, i) => s.submit < (spans[i] as { end: number }).end).length;
    const stats = stack.sim.stats();
    Object.assign(rec, {
      jobsLost: created.length - jobs.filter((j) => TERMINAL.includes(j.status)).length,
      duplicateSubmits: duplicates(jobs, stats.submits),
      ...relayTotals(stack.relays),
      details: { overlaps, throttled: stats.throttled },
    });
    expect(jobs.every((j) => j.status === 'succeeded')).toBe(true);
    expect(stats.submits).toBe(6);
    expect(overlaps).toBe(0);
    // The simulator answers 429 to a second submit within a second (and to a query storm).
    expect(stats.throttled).toBe(0);
    expect(rec.secretsLeaked).toBe(0);
  });

  it("two instances: the one archiving a finished job's result is killed mid-download; the other takes the job over and archives the whole result (submits === 1)", async () => {
    const rec = recordScenario(
      'instances',
      'kill-mid-archive-two-instances',
      "Two instances; SIGKILL the instance half-way through downloading a finished job's result from a slow CDN (DashScope)",
    );
    // The CDN trickles each download over this long: the kill lands mid-body.
    const downloadMs = 3_000;
    stack = await startStack('dashscope');
    const cluster = await startCluster(stack, 2);
    balancer = cluster.balancer;
    const [first, second] = cluster.relays as [ChildRelay, ChildRelay];
    const token = await first.addMember('alice');
    const created = await first.api('POST', '/v1/jobs', {
      token,
      body: stack.inputs(`slow-result:${downloadMs}`),
    });
    expect(created.status).toBe(201);
    const id = created.json.id as string;

    // The first instance holds the job's lease, so it polls and archives: once the job waits for
    // its archive (99 %) and the result's first bytes are on their way to it, it is killed.
    const mid = await second.waitForJob(id, token, (j) => j.progress === 99, 60_000);
    const downloads = () =>
      (stack?.proxy.log ?? []).filter((e) => endpointOf(e.method, e.path) === 'result.download');
    await until(
      'the first instance to be receiving the result',
      () => (downloads()[0]?.bytesSent ?? 0) > 0,
      30_000,
    );
    await first.kill('SIGKILL');
    const bytesAtKill = downloads()[0]?.bytesSent ?? 0;
    const resultFile = path.join(first.dataDir, 'files', 'results', `${id}.mp4`);
    const visibleAtKill = fs.existsSync(resultFile);

    const job = await second.waitForJob(id, token, (j) => TERMINAL.includes(j.status), 60_000);
    const download = await second.api('GET', `/v1/jobs/${id}/result`, { token, timeoutMs: 30_000 });
    const stats = stack.sim.stats();
    const submits = recordOutcome(rec, job);
    Object.assign(rec, {
      details: {
        resultBytes: RESULT.length,
        bytesAtKill,
        downloads: stats.requests['result.download'] ?? 0,
      },
    });
    expect(mid).toMatchObject({ status: 'running', progress: 99 });
    // Cut mid-body: the proxy had passed part of the file when the instance died.
    expect(bytesAtKill).toBeGreaterThan(0);
    expect(bytesAtKill).toBeLessThan(RESULT.length);
    expect(visibleAtKill).toBe(false);
    expect(second.logs.some((l) => l.includes('took over jobs'))).toBe(true);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.result).toMatchObject({
      archived: true,
      sizeBytes: RESULT.length,
      sha256: createHash('sha256').update(RESULT).digest('hex'),
    });
    // What the archive checks: the whole length, and an MP4's `ftyp` box first.
    expect(download.status).toBe(200);
    expect(download.bytes.length).toBe(RESULT.length);
    expect(download.bytes.toString('latin1', 4, 8)).toBe('ftyp');
    expect(fs.statSync(resultFile).size).toBe(RESULT.length);
    // The killed download and the whole one; one task.
    expect(stats.requests['result.download']).toBe(2);
    expect(submits).toBe(1);
    expect(rec.jobsLost).toBe(0);
    expect(rec.secretsLeaked).toBe(0);
  });

  it.each([
    {
      kind: 'unpaid',
      title: 'answers Arrearage (an unpaid account)',
      outage: {
        status: 400,
        code: 'Arrearage',
        message: 'Access denied, please make sure your account is in good standing.',
      },
      reason: /refused the key \(quota\)/,
      // Nothing else calls the unpaid upstream: only a probe can find it paid.
      minProbes: 1,
    },
    {
      kind: 'storm',
      title: 'is in a 503 storm',
      outage: { status: 503, code: 'ServiceUnavailable', message: 'The service is temporarily unavailable.' },
      reason: /3 failed calls in a row, the last provider_unavailable/,
      // The first instance reconciles its interrupted submit there: that call may find it back first.
      minProbes: 0,
    },
  ] as const)(
    'two instances: a pool upstream that $title for the first is skipped by the second at once, with no failed call of its own; one instance probes and the recovery spreads',
    async ({ kind, title, outage, reason, minProbes }) => {
      const rec = recordScenario(
        'instances',
        `shared-upstream-health-${kind}`,
        `Two instances, two DashScope upstreams; the preferred one ${title} for the first instance, then recovers`,
      );
      // Long enough that the first probe comes after the second instance's job, short enough to wait out.
      const cooldownMs = 4_000;
      stack = await startStack('dashscope', { apiKeys: [PROVIDER_KEY, BACKUP_KEY] });
      const file = upstreamsFile(stack, [
        { name: 'primary', key: PROVIDER_KEY, priority: 1, cooldownSeconds: cooldownMs / 1000 },
        { name: 'backup', key: BACKUP_KEY, priority: 2 },
      ]);
      const cluster = await startCluster(stack, 2, { RETALK_UPSTREAMS_FILE: file });
      balancer = cluster.balancer;
      const [first, second] = cluster.relays as [ChildRelay, ChildRelay];
      const token = await first.addMember('alice', { maxConcurrentJobs: 4 });
      const upstreamOf = async (id: string) =>
        (await query(cluster.databaseUrl, 'SELECT upstream_name FROM jobs WHERE id = $1', [id]))[0]
          ?.upstream_name;
      const creates = () =>
        (stack?.proxy.log ?? []).filter((e) => endpointOf(e.method, e.path) === 'dashscope.create');
      const onPrimary = (e: { keyTail?: string | undefined }) => e.keyTail === PROVIDER_KEY.slice(-8);
      // When the upstream was probed (a read of a task no provider knows), by either instance.
      const probes = () =>
        (stack?.proxy.log ?? []).filter((e) => e.path.includes('retalk-health-probe')).map((e) => e.atMs);
      // What an instance itself holds (its placement), not the shared record: its health gauge.
      const holdsHealthy = async (relay: ChildRelay) => {
        const text = (await relay.api('GET', '/metrics')).text;
        const gauge = /^retalk_upstream_healthy\{[^}]*upstream="primary"[^}]*\} (\d)/m.exec(text);
        return gauge?.[1] === '1';
      };

      // The preferred upstream fails for the first instance, which finds out by sending a job.
      stack.sim.setOutage(PROVIDER_KEY, outage);
      const one = await first.api('POST', '/v1/jobs', { token, body: stack.inputs() });
      expect(one.status).toBe(201);
      await untilAsync(
        'the first instance to hold the preferred upstream unhealthy',
        async () => !(await holdsHealthy(first)),
        60_000,
      );

      // The second instance made no call to it, yet holds it unhealthy too.
      await untilAsync(
        'the second instance to hold the preferred upstream unhealthy',
        async () => !(await holdsHealthy(second)),
        10_000,
      );
      // How long the news took: the first instance's log line to the second's (pino's `time`, ms).
      const loggedAt = (relay: ChildRelay, text: string) =>
        JSON.parse(relay.logs.find((l) => l.includes(text)) ?? '{}').time as number | undefined;
      const spreadMs =
        (loggedAt(second, 'another instance marked the upstream unhealthy') ?? Number.NaN) -
        (loggedAt(first, 'upstream marked unhealthy') ?? Number.NaN);
      const seenByFirst = await upstreamStatus(first, 'primary');
      const seenBySecond = await upstreamStatus(second, 'primary');
      const cli = spawnSync(
        process.execPath,
        [path.resolve(import.meta.dirname, '../../dist/cli.js'), 'upstreams'],
        {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            RETALK_DATA_DIR: first.dataDir,
            RETALK_DATABASE_URL: cluster.databaseUrl,
            RETALK_UPSTREAMS_FILE: file,
          },
          encoding: 'utf8',
        },
      );
      const cliPrimary =
        cli.stdout
          .split('\n')
          .find((l) => l.startsWith('primary\t'))
          ?.split('\t') ?? [];

      // The second instance's next job goes to the backup without trying the preferred one first:
      // no create reaches the preferred upstream meanwhile (the first instance holds it unhealthy).
      const createsBefore = creates().length;
      const two = await second.api('POST', '/v1/jobs', { token, body: stack.inputs() });
      expect(two.status).toBe(201);
      const secondJob = await second.waitForJob(
        two.json.id,
        token,
        (j) => TERMINAL.includes(j.status),
        60_000,
      );
      const primaryCreatesMeanwhile = creates().slice(createsBefore).filter(onPrimary);

      // The outage ends: one instance probes at the end of a cooldown and both take the upstream back.
      stack.sim.setOutage(PROVIDER_KEY, undefined);
      await untilAsync(
        'both instances to hold the preferred upstream healthy again',
        async () => (await holdsHealthy(first)) && (await holdsHealthy(second)),
        30_000,
      );
      const probeTimes = probes();
      const probeGapsMs = probeTimes.slice(1).map((t, i) => t - (probeTimes[i] as number));
      const recoveredHere = [first, second].map((r) => ({
        found: r.logs.some((l) => /"upstream healthy again"/.test(l)),
        adopted: r.logs.some((l) => l.includes('healthy again (found by another instance)')),
      }));
      // The first job (in a storm, still with the preferred upstream) ends first: DashScope runs
      // one task per account.
      const firstJob = await second.waitForJob(
        one.json.id,
        token,
        (j) => TERMINAL.includes(j.status),
        90_000,
      );
      const three = await second.api('POST', '/v1/jobs', { token, body: stack.inputs() });
      const thirdJob = await second.waitForJob(
        three.json.id,
        token,
        (j) => TERMINAL.includes(j.status),
        90_000,
      );
      const jobs = [firstJob, secondJob, thirdJob];
      Object.assign(rec, {
        faultsSurvived: 1,
        jobsLost: jobs.filter((j) => !TERMINAL.includes(j.status)).length,
        duplicateSubmits: duplicates(jobs, stack.sim.stats().submits),
        ...relayTotals(stack.relays),
        details: {
          creates: creates().map((e) => `${onPrimary(e) ? 'primary' : 'backup'} ${e.status}`),
          spreadMs,
          probes: probeTimes.length,
          probeGapsMs,
          recoveredHere,
        },
      });
      expect(spreadMs).toBeGreaterThanOrEqual(0);
      // Every instance and the CLI show the one shared record: health, reason, since, next probe.
      expect(seenByFirst.health).toBe('unhealthy');
      expect(seenByFirst.reason).toMatch(reason);
      expect(seenByFirst.probeAt).not.toBeNull();
      expect(seenBySecond).toEqual(seenByFirst);
      expect(cli.status, cli.stderr).toBe(0);
      expect([cliPrimary[5], cliPrimary[8], cliPrimary[9], cliPrimary[10]]).toEqual([
        'unhealthy',
        seenByFirst.since,
        seenByFirst.probeAt,
        seenByFirst.reason,
      ]);
      expect(primaryCreatesMeanwhile).toEqual([]);
      expect(await upstreamOf(secondJob.id)).toBe('backup');
      expect(second.logs.some((l) => /refused its key|submit outcome unknown/.test(l))).toBe(false);
      // At most one probe per cooldown, whichever instance claims it (one made while the outage
      // lasted is followed by the next a cooldown later); two instances probing on their own would
      // probe together at the end of each cooldown.
      expect(probeTimes.length).toBeGreaterThanOrEqual(minProbes);
      for (const gap of probeGapsMs) expect(gap).toBeGreaterThan(cooldownMs - 1_000);
      // One instance found it back (a probe or a call that succeeded), the other adopted that.
      expect(recoveredHere.filter((r) => r.found).length).toBe(1);
      expect(recoveredHere.filter((r) => r.adopted).length).toBe(1);
      expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      // Unpaid: the second instance, which did not find the upstream back, sends the third job there
      // again. Storm: the first job, interrupted there, is sent there once it answers (a third job
      // right after it finds that account's submit pace taken and goes to the backup, by design).
      expect(await upstreamOf(kind === 'unpaid' ? thirdJob.id : firstJob.id)).toBe('primary');
      expect(stack.sim.stats().submits).toBe(3);
      for (const r of stack.relays) expect(r.logs.filter((l) => l.includes(BACKUP_KEY))).toEqual([]);
      expect(cli.stdout).not.toContain(BACKUP_KEY);
      expect(cli.stdout).not.toContain(PROVIDER_KEY);
      expect(rec.secretsLeaked).toBe(0);
    },
  );

  it("a member's rate limit is one budget across instances, not one per instance", async () => {
    const rec = recordScenario(
      'instances',
      'rate-limit-shared',
      'Two instances with a limit of 8 requests a minute: the member gets 8 in all',
    );
    stack = await startStack('dashscope');
    const cluster = await startCluster(stack, 2, { RETALK_RATE_LIMIT_PER_MINUTE: '8' });
    balancer = cluster.balancer;
    const [first, second] = cluster.relays as [ChildRelay, ChildRelay];
    // Windows are aligned to the minute: an attempt that straddles a minute boundary is repeated.
    let statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const token = await first.addMember(`member${attempt}`);
      const minute = Math.floor(Date.now() / 60_000);
      statuses = [];
      for (let i = 0; i < 12; i++) {
        const res = await (i % 2 === 0 ? first : second).api('GET', '/v1/me', { token });
        statuses.push(res.status);
      }
      if (Math.floor(Date.now() / 60_000) === minute) break;
      await sleep(100);
    }
    Object.assign(rec, { ...relayTotals(stack.relays), details: { statuses } });
    expect(statuses.filter((s) => s === 200).length).toBe(8);
    expect(statuses.filter((s) => s === 429).length).toBe(4);
    expect(statuses.slice(0, 8).every((s) => s === 200)).toBe(true);
    expect(rec.secretsLeaked).toBe(0);
  });
});
