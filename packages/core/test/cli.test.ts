import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSimulator, SIMULATOR_API_KEY, type Simulator } from '@retalk/simulator';
import { ALL_FORMATS, FilePathSource, Input } from 'mediabunny';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from './support.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function retalk(args: string[], env: Record<string, string | undefined> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, RETALK_API_KEY: SIMULATOR_API_KEY, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('retalk CLI (built, as a child process)', () => {
  let sim: Simulator;
  let dir: string;

  beforeAll(async () => {
    sim = await createSimulator({ jobMs: 150, limits: { dashscopeSubmitsPerSecond: Infinity } });
    dir = await mkdtemp(join(tmpdir(), 'retalk-cli-'));
  });
  afterAll(async () => {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints help and exits 0', async () => {
    const out = await retalk(['--help']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('retalk run --provider evolink|dashscope');
  });

  it('runs a DashScope job with a local audio file, shows progress and downloads the result', async () => {
    const out = join(dir, 'result.mp4');
    const res = await retalk([
      'run',
      '--provider',
      'dashscope',
      '--base-url',
      `${sim.url}/qwen/api/v1`,
      '--video',
      sim.fixtureUrl('talking-640x640-25fps-3s.mp4'),
      '--audio',
      join(FIXTURES, 'speech-4s.wav'),
      '--extend',
      '--out',
      out,
      '--json',
    ]);
    expect(res.stderr).toContain('Uploading');
    expect(res.stderr).toMatch(/\] +100% {2}succeeded/);
    expect(res.code).toBe(0);
    const task = JSON.parse(res.stdout);
    expect(task).toMatchObject({ provider: 'dashscope', status: 'succeeded', progress: 100 });
    expect((await stat(out)).size).toBeGreaterThan(1000);
  });

  it('runs an EvoLink job and prints a plain summary', async () => {
    const res = await retalk([
      'run',
      '--provider',
      'evolink',
      '--base-url',
      sim.url,
      '--video',
      sim.fixtureUrl('talking-640x640-25fps-3s.mp4'),
      '--audio',
      sim.fixtureUrl('speech-5s.mp3'),
      // A local image goes through EvoLink's files API (images only, audit row 3).
      '--ref-image',
      join(FIXTURES, 'face.png'),
      '--threshold',
      '150',
    ]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Done: task task-unified-\S+ succeeded/);
    expect(res.stdout).toContain('Result: http');
  });

  it('exits with distinct codes per error class and says what to do', async () => {
    const base = [
      'run',
      '--provider',
      'dashscope',
      '--base-url',
      sim.dashscopeUrl,
      '--audio',
      sim.fixtureUrl('speech-4s.wav'),
    ];
    const failed = await retalk([
      ...base,
      '--video',
      `${sim.fixtureUrl('talking-640x640-25fps-3s.mp4')}?sim=fail:InvalidFile.FPS`,
    ]);
    expect(failed.code).toBe(6);
    expect(failed.stderr).toContain('InvalidFile.FPS');
    expect(failed.stderr).toContain('15–60 fps');

    const auth = await retalk([...base, '--video', sim.fixtureUrl('talking-640x640-25fps-3s.mp4')], {
      RETALK_API_KEY: 'wrong',
    });
    expect(auth.code).toBe(3);
    expect(auth.stderr).not.toContain('wrong ');

    const threshold = await retalk([
      ...base,
      '--video',
      sim.fixtureUrl('talking-640x640-25fps-3s.mp4'),
      '--threshold',
      '300',
    ]);
    expect(threshold.code).toBe(2);
    expect(threshold.stderr).toContain('faceThreshold');

    const noKey = await retalk([...base, '--video', 'https://x/v.mp4'], { RETALK_API_KEY: '' });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('RETALK_API_KEY');

    const missing = await retalk([...base, '--video', join(dir, 'nope.mp4')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.mp4');

    const unknown = await retalk(['run', '--bogus']);
    expect(unknown.code).toBe(2);

    const json = await retalk([
      ...base,
      '--video',
      `${sim.fixtureUrl('talking-640x640-25fps-3s.mp4')}?sim=fail:InternalError`,
      '--json',
    ]);
    expect(json.code).toBe(6);
    expect(JSON.parse(json.stdout).error).toMatchObject({
      code: 'task_failed',
      providerCode: 'InternalError',
      retryable: true,
    });
  });

  it('exits 7 when --timeout passes and 130 when interrupted, both on a stuck task', async () => {
    const stuck = [
      'run',
      '--provider',
      'evolink',
      '--base-url',
      sim.url,
      '--video',
      `${sim.fixtureUrl('talking-640x640-25fps-3s.mp4')}?sim=stuck`,
      '--audio',
      sim.fixtureUrl('speech-4s.wav'),
    ];
    const late = await retalk([...stuck, '--timeout', '0.5']);
    expect(late.code).toBe(7);
    expect(late.stderr).toContain('did not finish within 500 ms');

    const child = spawn(process.execPath, [CLI, ...stuck], {
      env: { ...process.env, RETALK_API_KEY: SIMULATOR_API_KEY },
    });
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (!interrupted && stderr.includes('Task task-unified-')) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    expect(stderr).toContain('aborted');
  });

  it('runs the offline demo on the bundled simulator', async () => {
    const out = join(dir, 'demo.mp4');
    const res = await retalk(['demo', '--job-ms', '200', '--out', out], { RETALK_API_KEY: undefined });
    expect(res.code).toBe(0);
    expect(res.stderr).toContain('Simulator (dashscope)');
    expect(res.stdout).toContain('succeeded');
    expect((await stat(out)).size).toBeGreaterThan(1000);
    // A new video (even under RETALK_SIM_RESULT_MODE=echo): the 3 s clip extended to the 4 s voice,
    // which replaces the clip's own sound.
    const input = new Input({ formats: ALL_FORMATS, source: new FilePathSource(out) });
    try {
      expect(await input.computeDuration()).toBeCloseTo(4, 2);
      const audio = await input.getPrimaryAudioTrack();
      expect(audio?.codec).toBe('aac');
      // 4 s of sound: the voice; the clip's own sound lasts 3 s.
      expect(await audio?.computeDuration()).toBeCloseTo(4, 2);
      expect(await (await input.getPrimaryVideoTrack())?.computeDuration()).toBeCloseTo(4, 2);
    } finally {
      input.dispose();
    }
  });
});
