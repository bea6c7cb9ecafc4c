import { execFile } from 'node:child_process';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSimulator, SIMULATOR_API_KEY, type Simulator } from '@retalk/simulator';
import { fixtureDir, makeAudio, makeVideo } from '@retalk/simulator/media';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function retalk(args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, RETALK_API_KEY: SIMULATOR_API_KEY }, timeout: 150_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// The CLI conforms local files before it uploads them: a 360p VP9 WebM clip and an M4A voice
// become an H.264 MP4 and a WAV the simulator accepts (it fails tasks whose media break a limit).
describe('retalk run: conform before upload (built CLI, child process)', { timeout: 180_000 }, () => {
  let sim: Simulator;
  let talk: string;
  let voice: string;

  beforeAll(async () => {
    sim = await createSimulator({ jobMs: 150, limits: { dashscopeSubmitsPerSecond: Infinity } });
    talk = join(fixtureDir(), 'talk.webm');
    voice = join(fixtureDir(), 'voice.m4a');
    await copyFile(
      await makeVideo({
        container: 'webm',
        codec: 'vp9',
        width: 640,
        height: 360,
        fps: 25,
        durationSec: 6,
        audio: 'opus',
      }),
      talk,
    );
    await copyFile(await makeAudio({ container: 'm4a', codec: 'aac', durationSec: 3 }), voice);
  }, 180_000);
  afterAll(async () => {
    await sim.close();
    await rm(fixtureDir(), { recursive: true, force: true });
  });

  const base = () => ['run', '--provider', 'dashscope', '--base-url', sim.dashscopeUrl];

  it('clips, converts, prints each change and a progress line, then uploads and runs', async () => {
    const res = await retalk([
      ...base(),
      '--video',
      talk,
      '--start',
      '1',
      '--end',
      '4',
      '--audio',
      voice,
      '--json',
    ]);
    expect(res.stderr).toContain('Conforming');
    expect(res.stderr).toContain('  - trimmed to 0:01–0:04 (3 s)');
    expect(res.stderr).toContain('  - scaled 640×360 → 1138×640');
    expect(res.stderr).toContain('  - converted VP9 → H.264');
    expect(res.stderr).toContain('  - converted M4A (AAC) → WAV');
    // Not a terminal: plain progress lines, the last at 100%.
    expect(res.stderr).toMatch(/converting talk\.webm \[#+\] 100%\n/);
    expect(res.stderr).toMatch(/→ 1138×640 25 fps h264, 3\.0 s/);
    expect(res.stderr).not.toContain('\r');
    expect(res.stderr).toContain('Uploading');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ status: 'succeeded' });
  });

  it('refuses a clip outside the video with what to do (exit 12)', async () => {
    const res = await retalk([...base(), '--video', talk, '--start', '2', '--end', '200', '--audio', voice]);
    expect(res.code).toBe(12);
    expect(res.stderr).toContain('The video is 0:06 long; choose a clip within 0:00–0:06.');
    expect(res.stderr).not.toContain('Uploading');
  });

  it('refuses an audio clip under 2 s before converting the video', async () => {
    const res = await retalk([
      ...base(),
      '--video',
      talk,
      '--audio',
      voice,
      '--audio-start',
      '0',
      '--audio-end',
      '1',
    ]);
    expect(res.code).toBe(12);
    expect(res.stderr).toContain('choose at least 2 s');
    // Every input is planned before any is converted.
    expect(res.stderr).not.toContain('converting');
  });

  it('needs a local file to cut and conform to be on', async () => {
    const url = await retalk([
      ...base(),
      '--video',
      'https://example.com/v.mp4',
      '--start',
      '1',
      '--audio',
      voice,
    ]);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('--start/--end need a local file to cut');
    const off = await retalk([...base(), '--video', talk, '--start', '1', '--no-conform', '--audio', voice]);
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('--no-conform');
  });
});
