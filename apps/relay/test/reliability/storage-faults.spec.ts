import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, TERMINAL, tempDir } from './child-relay.js';
import { endpointOf } from './fault-proxy.js';
import { recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

/** Mounts a tiny tmpfs (root only); undefined when this machine does not allow it. */
function mountTinyDisk(sizeKb: number): string | undefined {
  const dir = tempDir('retalk-rel-disk-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

/**
 * The ways this machine can make a full disk, decided once: a file-size limit on the relay's process
 * (the write fails with EFBIG, as a full disk fails it with ENOSPC) works everywhere; a tiny tmpfs
 * too where mounting is allowed (root on a machine that permits it). Each mode runs as its own test,
 * named after it.
 */
const DISK_MODES: ('tmpfs' | 'ulimit -f')[] = (() => {
  const probe = mountTinyDisk(64);
  if (!probe) return ['ulimit -f'];
  execFileSync('umount', [probe], { stdio: 'ignore' });
  fs.rmSync(probe, { recursive: true, force: true });
  return ['tmpfs', 'ulimit -f'];
})();

function lockStore(dataDir: string, holdMs: number): Promise<void> {
  const db = new Database(path.join(dataDir, 'relay.db'));
  db.exec('BEGIN EXCLUSIVE');
  return new Promise((resolve) =>
    setTimeout(() => {
      db.exec('COMMIT');
      db.close();
      resolve();
    }, holdMs),
  );
}

describe('the relay under storage faults', () => {
  let stack: Stack | undefined;
  const mounts: string[] = [];
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
    for (const dir of mounts.splice(0)) {
      try {
        execFileSync('umount', [dir], { stdio: 'ignore' });
      } catch {
        // not mounted
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(DISK_MODES)(
    'answers uploads that fill the disk with a clear error and leaves nothing behind (%s)',
    async (mode) => {
      const rec = recordScenario(
        'storage',
        `disk-full-upload-${mode === 'tmpfs' ? 'tmpfs' : 'ulimit'}`,
        `uploads far larger than the free space of the data dir (mode: ${mode}; a 1.5 MiB tmpfs, or a 1 MiB file-size limit where mounting is not allowed)`,
      );
      stack = await startStack('dashscope');
      const disk = mode === 'tmpfs' ? mountTinyDisk(1536) : undefined;
      if (mode === 'tmpfs' && !disk) throw new Error('mounting a tmpfs worked a moment ago and fails now');
      if (disk) mounts.push(disk);
      const dataDir = disk ?? tempDir();
      const wrap = disk
        ? undefined
        : (command: string[]) => ['sh', '-c', 'trap "" XFSZ; ulimit -f 2048; exec "$@"', 'sh', ...command];
      const relay = await stack.relay({ dataDir, ...(wrap ? { wrap } : {}) });
      const token = await relay.addMember('alice');
      // 32 MiB: far more than the relay's write buffers and the socket's, so the disk fills while most
      // of the body is still on its way. The refusal must reach the client all the same (it hung once:
      // the relay answered but never read the rest, and the client waited to finish sending).
      const big = Buffer.alloc(32 * 1024 * 1024, 7);
      const answers = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        answers.push(
          await relay.api('PUT', '/v1/uploads?kind=video&filename=big.mp4', {
            token,
            rawBody: big,
            headers: { 'content-type': 'video/mp4' },
          }),
        );
      }
      const full = answers[0]!;
      const leftovers = [
        ...fs.readdirSync(path.join(dataDir, 'files', '.tmp')),
        ...fs.readdirSync(path.join(dataDir, 'files', 'uploads')),
      ];
      // The space came back: a normal upload and a job work right after.
      const video = await relay.upload('video', 'talking-640x640-25fps-3s.mp4', token);
      const audio = await relay.upload('audio', 'speech-4s.wav', token);
      const created = await relay.api('POST', '/v1/jobs', {
        token,
        body: { video: { uploadId: video }, audio: { uploadId: audio } },
      });
      const job = await relay.waitForJob(created.json.id, token, (j) => TERMINAL.includes(j.status), 30_000);
      Object.assign(rec, {
        faultsSurvived: 1,
        jobsLost: 0,
        ...relayTotals(stack.relays),
        details: {
          mode,
          status: full.status,
          code: full.json?.error?.code,
          message: full.json?.error?.message,
        },
      });
      for (const answer of answers) {
        expect(answer.status).toBe(507);
        expect(answer.json.error.code).toBe('storage_full');
        expect(answer.json.error.message).toMatch(/disk space/i);
      }
      expect(leftovers).toEqual([]);
      expect(relay.alive()).toBe(true);
      expect(job.status).toBe('succeeded');
      expect(rec.secretsLeaked).toBe(0);
    },
  );

  it('does not lose a job submitted while another connection holds the store locked for 1.5 s', async () => {
    const rec = recordScenario(
      'storage',
      'store-locked-briefly',
      'an exclusive SQLite lock held by another connection for 1.5 s during a submit and while jobs are tracked',
    );
    stack = await startStack('dashscope');
    const relay = await stack.relay();
    const token = await relay.addMember('alice', { maxConcurrentJobs: 10 });
    const before = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    await relay.waitForJob(before.json.id, token, (j) => j.status === 'running');
    const lock = lockStore(relay.dataDir, 1_500);
    const during = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    await lock;
    const jobs = await Promise.all(
      [before.json.id, during.json.id].map((id) =>
        relay.waitForJob(id, token, (j) => TERMINAL.includes(j.status), 30_000),
      ),
    );
    Object.assign(rec, {
      faultsSurvived: 1,
      jobsLost: jobs.filter((j) => j.status !== 'succeeded').length,
      duplicateSubmits: stack.sim.stats().submits - 2,
      ...relayTotals(stack.relays),
      details: {
        submitDuringLockMs: Math.round(during.ms),
        status: during.status,
        error: during.json?.error?.code,
      },
    });
    expect(during.status).toBe(201);
    expect(during.ms).toBeGreaterThan(1_000);
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);
    expect(stack.sim.stats().submits).toBe(2);
    expect(rec.secretsLeaked).toBe(0);
  });

  it('records the upstream id of a job whose provider answer arrives while the store is locked past its busy timeout, without a restart', async () => {
    const rec = recordScenario(
      'storage',
      'store-locked-past-busy-timeout',
      "the store is locked for 6 s (past SQLite's 5 s busy timeout) exactly when the provider's create answer arrives",
    );
    stack = await startStack('dashscope');
    const relay = await stack.relay();
    const token = await relay.addMember('alice');
    const held = stack.proxy.add({
      match: (r) => endpointOf(r.method, r.path) === 'dashscope.create',
      action: 'hold-response',
    });
    const created = await relay.api('POST', '/v1/jobs', { token, body: stack.inputs() });
    await held.hit;
    while (stack.sim.stats().submits < 1) await sleep(10);
    const lock = lockStore(relay.dataDir, 6_000);
    held.release();
    await lock;
    const job = await relay
      .waitForJob(created.json.id, token, (j) => TERMINAL.includes(j.status), 20_000)
      .catch(async () => (await relay.api('GET', `/v1/jobs/${created.json.id}`, { token })).json);
    Object.assign(rec, {
      faultsSurvived: relay.alive() ? 1 : 0,
      jobsLost: TERMINAL.includes(job.status) ? 0 : 1,
      duplicateSubmits: stack.sim.stats().submits - 1,
      ...relayTotals(stack.relays),
      details: { finalStatus: job.status },
    });
    expect(relay.alive()).toBe(true);
    expect(job.status).toBe('succeeded');
    expect(stack.sim.stats().submits).toBe(1);
    expect(rec.secretsLeaked).toBe(0);
  });
});
