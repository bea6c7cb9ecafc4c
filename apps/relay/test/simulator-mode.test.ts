import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { RESULT_MODE_ENV } from '@retalk/simulator';
import { ALL_FORMATS, BufferSource, Input } from 'mediabunny';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type RunningRelay, serveRelay } from '../src/serve.js';
import { FIXTURES, type JobBody, tempDir } from './harness.js';

// `retalk-relay serve` without a provider key: the built-in simulator makes real results. The
// suite's config asks for `echo`; this file restores the relay's own default.
describe('relay in simulator mode', () => {
  let running: RunningRelay;
  let dataDir: string;
  let token: string;

  beforeAll(async () => {
    vi.stubEnv(RESULT_MODE_ENV, 'mux');
    dataDir = tempDir('retalk-relay-sim-');
    const config = loadConfig(
      {
        RETALK_DATA_DIR: dataDir,
        PORT: '0',
        RETALK_SIM_JOB_MS: '300',
        RETALK_POLL_INTERVAL_MS: '50',
        RETALK_LOG_LEVEL: 'warn',
      },
      process.cwd(),
    );
    running = await serveRelay(config, {
      logStream: new Writable({ write: (_chunk, _enc, done) => done() }),
      print: () => undefined,
    });
    token = running.demoToken as string;
  });
  afterAll(async () => {
    await running?.close();
    vi.unstubAllEnvs();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const auth = () => `Bearer ${token}`;

  async function upload(kind: 'video' | 'audio', name: string, type: string): Promise<string> {
    const res = await fetch(`${running.url}/v1/uploads?kind=${kind}&filename=${name}`, {
      method: 'PUT',
      headers: { authorization: auth(), 'content-type': type },
      body: fs.readFileSync(path.join(FIXTURES, name)),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  it('returns the clip with the new voice, extended to the voice’s length, billed as long', async () => {
    const video = await upload('video', 'talking-640x640-25fps-3s.mp4', 'video/mp4');
    const audio = await upload('audio', 'speech-4s.wav', 'audio/wav');
    const created = await fetch(`${running.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ video: { uploadId: video }, audio: { uploadId: audio }, videoExtension: true }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as JobBody;

    let job: JobBody | undefined;
    for (;;) {
      const res = await fetch(`${running.url}/v1/jobs/${id}`, {
        headers: { authorization: auth() },
      });
      job = (await res.json()) as JobBody;
      if (['succeeded', 'failed', 'canceled'].includes(job.status)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(job.status).toBe('succeeded');
    expect(job.billedSeconds).toBe(4);

    const res = await fetch(`${running.url}/v1/jobs/${id}/result`, {
      headers: { authorization: auth() },
    });
    expect(res.status).toBe(200);
    const input = new Input({
      formats: ALL_FORMATS,
      source: new BufferSource(new Uint8Array(await res.arrayBuffer())),
    });
    try {
      expect(await input.computeDuration()).toBeCloseTo(4, 2);
      const videoTrack = await input.getPrimaryVideoTrack();
      expect(videoTrack?.codec).toBe('avc');
      expect(await videoTrack?.computeDuration()).toBeCloseTo(4, 2);
      const audioTrack = await input.getPrimaryAudioTrack();
      expect(audioTrack?.codec).toBe('aac');
      expect(await audioTrack?.computeDuration()).toBeCloseTo(4, 2);
    } finally {
      input.dispose();
    }
  });
});
