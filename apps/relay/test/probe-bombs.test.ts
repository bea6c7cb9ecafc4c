import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mp3Bomb, mp4Bomb } from '../bench/bombs.mjs';
import { MAX_PROBE_SAMPLES } from '../src/conform-pool.js';
import { type Harness, startRelay } from './harness.js';

// Findings H2 (sample-table bomb) and M2 (MP3 frame bomb) through the relay's real probe child:
// files that claim just past the probe's sample cap are refused as damaged with a plain message,
// nothing of them is kept, and the relay answers meanwhile (`bench/hostile.mjs probes` measures
// /healthz under the full-size bombs).

describe('crafted media at upload', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startRelay({ provider: 'dashscope' });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function upload(kind: 'video' | 'audio', name: string, type: string, body: Buffer) {
    return h.api('PUT', `/v1/uploads?kind=${kind}&filename=${name}`, {
      rawBody: body,
      headers: { 'content-type': type },
    });
  }

  async function storedBytes(): Promise<number> {
    const me = await h.api('GET', '/v1/me');
    expect(me.status).toBe(200);
    return me.json.storage.usedBytes as number;
  }

  it('refuses an MP4 whose sample table claims more frames than the cap, and keeps nothing of it', async () => {
    const before = await storedBytes();
    const res = await upload('video', 'table.mp4', 'video/mp4', mp4Bomb(MAX_PROBE_SAMPLES + 1_000));
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'media_rejected', field: 'body' });
    expect(res.json.error.message).toBe(
      'The uploaded video claims far more frames than any usable video can have, so the relay did not read it: the file is damaged. Export it again or choose another file.',
    );
    expect(await storedBytes()).toBe(before);
  });

  it('refuses an MP3 of more tiny frames than the cap, and still answers /healthz', async () => {
    // 96-byte frames: just past the cap is about 20 MB.
    const bomb = mp3Bomb((MAX_PROBE_SAMPLES + 10_000) * 96);
    const [res, health] = await Promise.all([
      upload('audio', 'frames.mp3', 'audio/mpeg', bomb),
      h.api('GET', '/healthz', { token: null }),
    ]);
    expect(health.status).toBe(200);
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'media_rejected', field: 'body' });
    expect(res.json.error.message).toMatch(/^The uploaded audio claims far more frames .* Export it again/);
  });
});
