import { createHash } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../src/index.js';
import { createShutdown } from '../src/shutdown.js';
import { evolinkBody, evolinkCreate, evolinkGet, fixtureBytes, VIDEO, waitFor } from './sim-requests.js';

/** An input host that answers nobody until `count` downloads are open at once, proving they overlap. */
async function startBarrierHost(count: number) {
  const held: Array<{ res: ServerResponse; name: string }> = [];
  let peak = 0;
  const server = createServer((req, res) => {
    const name = (req.url ?? '').slice(1);
    held.push({ res, name });
    peak = Math.max(peak, held.length);
    if (held.length < count) return;
    for (const { res: r, name: n } of held.splice(0)) {
      r.writeHead(200, { 'content-type': n.endsWith('.wav') ? 'audio/wav' : 'video/mp4' }).end(
        fixtureBytes(n),
      );
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (name: string) => `${base}/${name}`,
    peak: () => peak,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('input downloads', () => {
  it('runs more than 10 input downloads at once without a MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const tasks = 7;
    const host = await startBarrierHost(tasks * 2);
    try {
      const s = await createSimulator({ jobMs: 100 });
      sim = s;
      const created = await Promise.all(
        Array.from({ length: tasks }, () =>
          evolinkCreate(
            s,
            evolinkBody(s, { video_url: host.url(VIDEO), audio_url: host.url('speech-4s.wav') }),
          ),
        ),
      );
      const ids = created.map((r) => r.body.id as string);
      for (const id of ids) {
        const done = await waitFor(
          () => evolinkGet(s, id).then((r) => r.body),
          (b) => b.status === 'completed' || b.status === 'failed',
        );
        expect(done.status).toBe('completed');
      }
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(host.peak()).toBe(tasks * 2);
      expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await host.close();
    }
  });
});

describe('received inputs', () => {
  it('records each input it fetched with its bytes hashed and its probe, per task', async () => {
    const host = await startBarrierHost(2);
    try {
      const s = await createSimulator({ jobMs: 100 });
      sim = s;
      const created = await evolinkCreate(
        s,
        evolinkBody(s, { video_url: host.url(VIDEO), audio_url: host.url('speech-4s.wav') }),
      );
      const id = created.body.id as string;
      await waitFor(
        () => evolinkGet(s, id).then((r) => r.body),
        (b) => b.status === 'completed',
      );
      const sha = (name: string) => createHash('sha256').update(fixtureBytes(name)).digest('hex');
      // Fetched at once: in whichever order they arrived.
      const inputs = s.stats().inputs.sort((a, b) => b.kind.localeCompare(a.kind));
      expect(inputs.map((i) => [i.taskId, i.kind, i.url, i.sha256, i.sizeBytes])).toEqual([
        [id, 'video', host.url(VIDEO), sha(VIDEO), fixtureBytes(VIDEO).length],
        [id, 'audio', host.url('speech-4s.wav'), sha('speech-4s.wav'), fixtureBytes('speech-4s.wav').length],
      ]);
      expect(inputs.find((i) => i.kind === 'video')?.meta).toMatchObject({
        kind: 'video',
        format: 'mp4',
        width: 640,
        height: 640,
      });
    } finally {
      await host.close();
    }
  });
});

describe('createShutdown', () => {
  it('aborts every linked controller at close and forgets the released ones', () => {
    const shutdown = createShutdown();
    const done = shutdown.link();
    const running = shutdown.link();
    done.release();
    expect(shutdown.pending).toBe(1);
    shutdown.close();
    expect(shutdown.signal.aborted).toBe(true);
    expect(running.signal.aborted).toBe(true);
    expect(done.signal.aborted).toBe(false);
    expect(shutdown.pending).toBe(0);
  });

  it('hands out already-aborted controllers after close', () => {
    const shutdown = createShutdown();
    shutdown.close();
    const late = shutdown.link();
    expect(late.signal.aborted).toBe(true);
    expect(shutdown.pending).toBe(0);
  });
});
