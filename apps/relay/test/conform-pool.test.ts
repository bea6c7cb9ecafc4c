import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ConformPool, createConformPool, PoolTaskError } from '../src/conform-pool.js';
import { isAlive, tempDir, until } from './harness.js';

const FAKE_WORKER = path.join(import.meta.dirname, 'fixtures/fake-conform-worker.mjs');
const dir = tempDir('retalk-pool-');

function file(name: string, content: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

function pool(overrides: Partial<Parameters<typeof createConformPool>[0]> = {}): ConformPool {
  return createConformPool({
    concurrency: 1,
    conformLimits: { timeoutMs: 60_000, memoryBytes: 512 * 1024 * 1024 },
    probeLimits: { timeoutMs: 60_000, memoryBytes: 512 * 1024 * 1024 },
    workerPath: FAKE_WORKER,
    ...overrides,
  });
}

const request = (inputPath: string) => ({
  inputPath,
  outputPath: path.join(dir, 'out.mp4'),
  kind: 'video' as const,
  provider: 'dashscope' as const,
});

describe('the conform pool', () => {
  const pools: ConformPool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it('kills a conform that overruns its time limit and says so with a stable code', async () => {
    const p = pool({ conformLimits: { timeoutMs: 300, memoryBytes: 512 * 1024 * 1024 } });
    pools.push(p);
    const error = await p
      .conform(request(file('hang.mp4', `HANG:${path.join(dir, 'never')}`)))
      .catch((e) => e);
    expect(error).toBeInstanceOf(PoolTaskError);
    expect(error.code).toBe('conform_timeout');
    expect(error.message).toMatch(/took longer than/);
  });

  it('kills a child past its memory limit', async () => {
    const p = pool({ probeLimits: { timeoutMs: 60_000, memoryBytes: 200 * 1024 * 1024 } });
    pools.push(p);
    const error = await p.probe(file('eat.mp4', 'EAT'), 'video').catch((e) => e);
    expect(error).toBeInstanceOf(PoolTaskError);
    expect(error.code).toBe('conform_out_of_memory');
    expect(error.message).toMatch(/more than 200 MB/);
  });

  it('reports a child that dies as conform_crashed, and the next task gets a fresh child', async () => {
    const p = pool();
    pools.push(p);
    const error = await p.probe(file('crash.mp4', 'CRASH'), 'video').catch((e) => e);
    expect(error.code).toBe('conform_crashed');
    const ok = await p.probe(file('fine.mp4', 'fine'), 'video');
    expect(ok.media).toMatchObject({ kind: 'video', durationSec: 3 });
  });

  it('kills the child when the work is canceled', async () => {
    const p = pool();
    pools.push(p);
    const pidFile = path.join(dir, 'cancel.pid');
    const controller = new AbortController();
    let fraction = 0;
    const running = p
      .conform(request(file('cancel.mp4', `CONFORM-HANG:${pidFile}`)), {
        signal: controller.signal,
        onProgress: (f) => {
          fraction = f;
        },
      })
      .catch((e) => e);
    await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') !== '');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(isAlive(pid)).toBe(true);
    expect(fraction).toBe(0.5);
    controller.abort();
    expect((await running).code).toBe('canceled');
    await until(() => !isAlive(pid));
  });

  it('runs at most `concurrency` conforms at once; the others wait their turn', async () => {
    const p = pool({ concurrency: 1 });
    pools.push(p);
    const release = path.join(dir, 'release-1');
    const first = p.conform(request(file('slow-1.mp4', `HANG:${release}`)));
    const second = p.conform(request(file('quick.mp4', 'fine')));
    await until(() => p.stats().running === 1 && p.stats().waiting === 1);
    let secondDone = false;
    void second.then(() => {
      secondDone = true;
    });
    // The probe lane is separate: an upload's probe does not wait behind a transcode.
    await expect(p.probe(file('probe.mp4', 'fine'), 'video')).resolves.toMatchObject({
      contentType: 'video/mp4',
    });
    expect(secondDone).toBe(false);
    fs.writeFileSync(release, '');
    await expect(first).resolves.toMatchObject({ passthrough: true });
    await expect(second).resolves.toMatchObject({ passthrough: true });
  });

  it('serves an upload’s probe (a client waiting) before queued background probes', async () => {
    const p = pool({ probeConcurrency: 1 });
    pools.push(p);
    const release = path.join(dir, 'release-probe-lane');
    const holder = p.probe(file('hold.mp4', `HANG:${release}`), 'video');
    await until(() => p.stats().running === 1);
    const order: string[] = [];
    const background = p.probe(file('bg.mp4', 'fine'), 'video').then(() => order.push('background'));
    const urgent = p
      .probe(file('urgent.mp4', 'fine'), 'video', { urgent: true })
      .then(() => order.push('urgent'));
    await until(() => p.stats().waiting === 2);
    fs.writeFileSync(release, '');
    await Promise.all([holder, background, urgent]);
    expect(order).toEqual(['urgent', 'background']);
  });

  it('hands a finished child to the next queued probe instead of starting another', async () => {
    // Each new child is a fork of the relay, which stalls its event loop; a burst of uploads
    // through a lane of two must be served by two children.
    const p = pool({ probeConcurrency: 2 });
    pools.push(p);
    p.warm();
    const release = path.join(dir, 'release-reuse');
    const held = [1, 2].map((i) => p.probe(file(`reuse-hold-${i}.mp4`, `HANG:${release}`), 'video'));
    await until(() => p.stats().running === 2);
    const queued = Array.from({ length: 6 }, (_, i) =>
      p.probe(file(`reuse-${i}.mp4`, 'fine'), 'video', { urgent: true }),
    );
    await until(() => p.stats().waiting === 6);
    fs.writeFileSync(release, '');
    const answers = (await Promise.all([...held, ...queued])) as unknown as { pid: number }[];
    expect(answers.every((a) => Number.isInteger(a.pid))).toBe(true);
    expect(new Set(answers.map((a) => a.pid)).size).toBe(2);
  });
});
