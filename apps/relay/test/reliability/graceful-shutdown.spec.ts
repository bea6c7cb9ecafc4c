import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChildRelay, fixture, sleep, TERMINAL, until } from './child-relay.js';
import { recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

function slowUpload(url: string, token: string, bytes: Buffer) {
  const req = http.request(`${url}/v1/uploads?kind=video&filename=clip.mp4`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'video/mp4',
      'content-length': bytes.length,
    },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  req.write(bytes.subarray(0, bytes.length / 2));
  return { req, response };
}

/** The relay is streaming an upload's body to disk (its temp part file exists). */
function uploadInProgress(relay: ChildRelay): () => boolean {
  const dir = path.join(relay.dataDir, 'files', '.tmp');
  return () => fs.existsSync(dir) && fs.readdirSync(dir).length > 0;
}

describe('the relay on SIGTERM', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('finishes an upload that was in flight, ends event streams, exits cleanly and resumes every job on restart', async () => {
    const rec = recordScenario(
      'shutdown',
      'sigterm-drain',
      'SIGTERM with an upload half-sent, an SSE watcher open and jobs queued and running (DashScope)',
    );
    stack = await startStack('dashscope', { jobMs: 1_500 });
    // What is checked is that the upload finishes, not how fast a loaded machine stores and probes
    // it: the grace is long enough never to be the limit (its cut is the next test's).
    const first = await stack.relay({ env: { RETALK_SHUTDOWN_GRACE_MS: '120000' } });
    const token = await first.addMember('alice', { maxConcurrentJobs: 10 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await first.api('POST', '/v1/jobs', { token, body: stack.inputs() })).json.id);
    await first.waitForJob(ids[0] as string, token, (j) => j.status === 'running');
    const sse = await fetch(`${first.url}/v1/events`, { headers: { authorization: `Bearer ${token}` } });
    const sseDone = (async () => {
      const reader = sse.body?.getReader();
      for (;;) {
        const chunk = await reader?.read().catch(() => ({ done: true }));
        if (!chunk || chunk.done) return 'ended';
      }
    })();
    const bytes = fixture('talking-640x640-25fps-3s.mp4');
    const upload = slowUpload(first.url, token, bytes);
    // SIGTERM only once the relay is writing the upload (before that, the connection is idle and
    // closing it is right), then finish the body only once the relay says it is draining.
    await until('the relay to start storing the upload', uploadInProgress(first));
    const t0 = Date.now();
    process.kill(first.pid, 'SIGTERM');
    await until('the relay to say it is draining', () =>
      first.logs.some((line) => line.includes('stopping: draining requests')),
    );
    upload.req.end(bytes.subarray(bytes.length / 2));
    const uploaded = await upload.response;
    const exitCode = await first.exited;
    const drainMs = Date.now() - t0;
    const sseOutcome = await Promise.race([sseDone, sleep(5_000).then(() => 'still open')]);

    const second = await stack.relay({ dataDir: first.dataDir, port: first.port });
    const uploadId = JSON.parse(uploaded.body).id as string;
    const audio = await second.upload('audio', 'speech-4s.wav', token);
    const fromUpload = await second.api('POST', '/v1/jobs', {
      token,
      body: { video: { uploadId }, audio: { uploadId: audio } },
    });
    ids.push(fromUpload.json.id);
    const jobs = await Promise.all(
      ids.map((id) => second.waitForJob(id, token, (j) => TERMINAL.includes(j.status), 60_000)),
    );
    Object.assign(rec, {
      faultsSurvived: 1,
      jobsLost: jobs.filter((j) => !TERMINAL.includes(j.status)).length,
      duplicateSubmits: stack.sim.stats().submits - ids.length,
      ...relayTotals(stack.relays),
      details: { drainMs, exitCode, uploadStatus: uploaded.status, sse: sseOutcome },
    });
    expect(uploaded.status).toBe(201);
    expect(exitCode).toBe(0);
    expect(sseOutcome).toBe('ended');
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(stack.sim.stats().submits).toBe(4);
    expect(rec.secretsLeaked).toBe(0);
  });

  it('still exits in bounded time when a client stalls its upload forever', async () => {
    const rec = recordScenario(
      'shutdown',
      'sigterm-stalled-client',
      'SIGTERM while a client has sent half an upload and then stalls',
    );
    stack = await startStack('dashscope');
    const relay = await stack.relay({ env: { RETALK_SHUTDOWN_GRACE_MS: '2000' } });
    const token = await relay.addMember('alice');
    const upload = slowUpload(relay.url, token, fixture('talking-640x640-25fps-3s.mp4'));
    upload.response.catch(() => undefined);
    await until('the relay to start storing the upload', uploadInProgress(relay));
    const t0 = Date.now();
    process.kill(relay.pid, 'SIGTERM');
    // Cut after its 2 s grace, then closed: far inside 15 s even on a loaded machine.
    const outcome = await Promise.race([relay.exited, sleep(15_000).then(() => 'still running')]);
    const exitMs = Date.now() - t0;
    upload.req.destroy();
    Object.assign(rec, {
      faultsSurvived: outcome === 'still running' ? 0 : 1,
      ...relayTotals(stack.relays),
      details: { exitMs, outcome },
    });
    expect(outcome).not.toBe('still running');
    expect(exitMs).toBeLessThan(15_000);
  });
});
