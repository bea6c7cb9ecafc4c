import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_FORMATS, FilePathSource, Input } from 'mediabunny';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli-run.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

describe('retalk-sim CLI', () => {
  it('starts the simulator and prints both base URLs and the key', async () => {
    const { io, out } = capture();
    const sim = await runCli(['--port', '0', '--job-ms', '500', '--quiet'], io);
    if (typeof sim === 'number') throw new Error(`exited with ${sim}`);
    try {
      const text = out.join('');
      expect(text).toContain(`EvoLink base URL:    ${sim.url}`);
      expect(text).toContain(`DashScope base URL:  ${sim.url}/api/v1`);
      expect(text).toContain('API key:             sim-key');
      expect(text).toContain('One task takes 500 ms');
      const res = await fetch(`${sim.url}/`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    } finally {
      await sim.close();
    }
  });

  it('logs one line per request unless --quiet', async () => {
    const { io, out } = capture();
    const sim = await runCli(['--port', '0'], io);
    if (typeof sim === 'number') throw new Error(`exited with ${sim}`);
    try {
      await (
        await fetch(`${sim.url}/v1/tasks/x`, { headers: { authorization: 'Bearer sim-key' } })
      ).arrayBuffer();
      await new Promise((r) => setTimeout(r, 20));
      expect(out.join('')).toMatch(/GET \/v1\/tasks\/x 400 \d+ms/);
      expect(out.join('')).not.toContain('Bearer');
    } finally {
      await sim.close();
    }
  });

  it('exits with 2 and the usage on a bad argument', async () => {
    for (const args of [['--port', 'abc'], ['--job-ms', '-1'], ['--result', 'copy'], ['--bogus']]) {
      const { io, err } = capture();
      expect(await runCli(args, io)).toBe(2);
      expect(err.join('')).toContain('Usage: retalk-sim');
    }
    const { io, out } = capture();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(out.join('')).toContain('--job-ms N');
  });

  it('samples: writes a 360p VP9 WebM and an M4A voice for the README newcomer path', {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'retalk-samples-'));
    try {
      const { io, out } = capture();
      const code = await runCli(
        ['samples', '--out', dir, '--video-seconds', '3', '--voice-seconds', '2'],
        io,
      );
      expect(code).toBe(0);
      expect(out.join('')).toContain(join(dir, 'talk-360p.webm'));
      const read = async (name: string) => {
        const input = new Input({ source: new FilePathSource(join(dir, name)), formats: ALL_FORMATS });
        try {
          const video = await input.getPrimaryVideoTrack();
          const audio = await input.getPrimaryAudioTrack();
          return {
            format: (await input.getFormat()).name,
            video: video && { codec: video.codec, width: video.displayWidth, height: video.displayHeight },
            audio: audio?.codec,
            durationSec: Math.round(await input.computeDuration()),
          };
        } finally {
          input.dispose();
        }
      };
      expect(await read('talk-360p.webm')).toEqual({
        format: 'WebM',
        video: { codec: 'vp9', width: 640, height: 360 },
        audio: 'opus',
        durationSec: 3,
      });
      expect(await read('voice.m4a')).toMatchObject({ video: null, audio: 'aac', durationSec: 2 });

      const bad = capture();
      expect(await runCli(['samples', '--video-seconds', '0'], bad.io)).toBe(2);
      expect(bad.err.join('')).toContain('--video-seconds must be a whole number from 1 to 600');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
