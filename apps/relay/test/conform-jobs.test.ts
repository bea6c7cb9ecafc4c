import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, isAlive, startRelay, tempDir, until } from './harness.js';

const FAKE_WORKER = path.join(import.meta.dirname, 'fixtures/fake-conform-worker.mjs');

/** A mono 16-bit PCM WAV of `seconds` of a quiet tone. */
function wav(seconds: number, sampleRate = 8_000): Buffer {
  const samples = Math.round(seconds * sampleRate);
  const out = Buffer.alloc(44 + samples * 2);
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + samples * 2, 4);
  out.write('WAVEfmt ', 8, 'latin1');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) out.writeInt16LE(Math.round(2000 * Math.sin(i / 10)), 44 + i * 2);
  return out;
}

describe('measured bytes are billed bytes (relay-findings H1)', () => {
  let h: Harness;
  let server: Server;
  const hits: string[] = [];
  beforeAll(async () => {
    // Serves a 4 s WAV to the first request for a path and a 60 s one to every later request:
    // the relay must fetch once and hand the provider its own copy.
    const short = wav(4);
    const long = wav(60);
    const served = new Set<string>();
    server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      const body = served.has(req.url ?? '') ? long : short;
      served.add(req.url ?? '');
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    h = await startRelay({ provider: 'dashscope', jobMs: 200, env: { RETALK_ALLOWED_INPUT_HOSTS: host } });
  });
  afterAll(async () => {
    await h.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fetches a URL input once and bills what it measured, whatever the server sends later', async () => {
    const member = await h.addMember('erin', { budgetSeconds: 10 });
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4', member);
    const { port } = server.address() as AddressInfo;
    const created = await h.api('POST', '/v1/jobs', {
      token: member,
      body: {
        video: { uploadId: video },
        audio: { url: `http://127.0.0.1:${port}/s1.wav` },
        videoExtension: true,
      },
    });
    expect(created.status).toBe(201);
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded', 20_000, member);
    expect(hits.filter((hit) => hit.endsWith('/s1.wav'))).toEqual(['GET /s1.wav']);
    expect(done.conform?.audio?.media.durationSec).toBeCloseTo(4, 1);
    expect(done.estimatedSeconds).toBeCloseTo(4, 1);
    // The provider fetched the relay's copy (the 4 s it measured), not the 60 s the server now sends.
    expect(done.billedSeconds).toBeCloseTo(4, 1);
    const me = await h.api('GET', '/v1/me', { token: member });
    expect(me.json.budget.usedSeconds).toBeCloseTo(4, 1);
    expect(me.json.budget.reservedSeconds).toBe(0);
  });

  it('reserves what an unmeasured URL could cost, up to what is left, and settles on the measured length', async () => {
    const member = await h.addMember('fay', { budgetSeconds: 6 });
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4', member);
    const { port } = server.address() as AddressInfo;
    const created = await h.api('POST', '/v1/jobs', {
      token: member,
      body: {
        video: { uploadId: video },
        audio: { url: `http://127.0.0.1:${port}/s2.wav` },
        videoExtension: true,
      },
    });
    expect(created.status).toBe(201);
    expect(created.json.estimatedSeconds).toBe(6);
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded', 20_000, member);
    expect(done.estimatedSeconds).toBeCloseTo(4, 1);
  });
});

describe('the preparing phase, with a worker that misbehaves on command', () => {
  let h: Harness;
  const dir = tempDir('retalk-prep-');
  const bytes = (text: string) => new TextEncoder().encode(`${text}\n`);
  async function uploadBytes(content: Uint8Array, kind = 'video'): Promise<{ status: number; id?: string }> {
    const res = await h.api('PUT', `/v1/uploads?kind=${kind}&filename=x`, {
      rawBody: content,
      headers: { 'content-type': 'application/octet-stream' },
    });
    return { status: res.status, id: res.json?.id };
  }

  beforeAll(async () => {
    h = await startRelay({ provider: 'dashscope', jobMs: 200, conformWorkerPath: FAKE_WORKER });
  });
  afterAll(async () => {
    await h.close();
  });

  it('keeps answering status reads and /healthz while a hostile probe runs', async () => {
    const video = (await uploadBytes(bytes('fine'))).id as string;
    const audio = (await uploadBytes(bytes('fine'), 'audio')).id as string;
    const job = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio } },
    });
    expect(job.status).toBe(201);

    const release = path.join(dir, 'release-probe');
    let settled = false;
    const hostile = uploadBytes(bytes(`HANG:${release}`)).finally(() => {
      settled = true;
    });
    await until(() => h.relay.context.pool.stats().running === 1);
    for (let i = 0; i < 5; i++) {
      expect((await h.api('GET', '/healthz', { token: null })).status).toBe(200);
      expect((await h.api('GET', `/v1/jobs/${job.json.id}`)).status).toBe(200);
      expect((await h.api('GET', '/v1/me')).status).toBe(200);
    }
    expect(settled).toBe(false);
    fs.writeFileSync(release, '');
    expect((await hostile).status).toBe(201);
  });

  it('shows preparing with progress, and a cancel kills the conform', async () => {
    const pidFile = path.join(dir, 'conform.pid');
    const video = (await uploadBytes(bytes(`CONFORM-HANG:${pidFile}`))).id as string;
    const audio = (await uploadBytes(bytes('fine'), 'audio')).id as string;
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video, startSec: 0.5, endSec: 2.5 }, audio: { uploadId: audio } },
    });
    expect(created.status).toBe(201);
    expect(created.json.estimatedSeconds).toBe(2);
    const preparing = await h.waitForJob(created.json.id, (j) => j.status === 'preparing' && j.progress > 0);
    expect(preparing.cancelable).toBe(true);
    await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') !== '');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    // The relay answers while the conform runs.
    expect((await h.api('GET', '/healthz', { token: null })).status).toBe(200);
    const canceled = await h.api('POST', `/v1/jobs/${created.json.id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.json.status).toBe('canceled');
    await until(() => !isAlive(pid));
    expect(h.sim.stats().submits).toBe(1);
    const me = await h.api('GET', '/v1/me');
    expect(me.json.budget.reservedSeconds).toBe(0);
  });

  it('ends a job whose conform fails as failed, with a stable code, refunded and never sent', async () => {
    const submitsBefore = h.sim.stats().submits;
    const video = (await uploadBytes(bytes('CONFORM-CRASH'))).id as string;
    const audio = (await uploadBytes(bytes('fine'), 'audio')).id as string;
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video, endSec: 2.5 }, audio: { uploadId: audio } },
    });
    expect(created.status).toBe(201);
    const failed = await h.waitForJob(created.json.id, (j) => j.status === 'failed');
    expect(failed.error).toMatchObject({ code: 'conform_crashed', retryable: true });
    expect(failed.error?.message).toMatch(/^The video: Preparing the video stopped unexpectedly/);
    expect(h.sim.stats().submits).toBe(submitsBefore);
    const me = await h.api('GET', '/v1/me');
    expect(me.json.budget.reservedSeconds).toBe(0);
    expect(me.json.budget.usedSeconds).toBe(0);
  });

  it('refuses at once a clip that the plan cannot use, naming the field', async () => {
    const video = (await uploadBytes(bytes('fine'))).id as string;
    const audio = (await uploadBytes(bytes('fine'), 'audio')).id as string;
    const res = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video, startSec: 10, endSec: 20 }, audio: { uploadId: audio } },
    });
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'media_rejected' });
    expect(res.json.error.field).toMatch(/^video\.(startSec|endSec)$/);
  });
});
