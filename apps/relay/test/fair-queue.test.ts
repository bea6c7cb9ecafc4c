import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFairQueue } from '../src/fair-queue.js';
import { type Harness, type JobBody, startRelay } from './harness.js';

describe('createFairQueue', () => {
  it('serves one member in arrival order', () => {
    const q = createFairQueue();
    for (const id of ['a1', 'a2', 'a3']) q.push(id, 'ann');
    expect(q.peekOrder()).toEqual(['a1', 'a2', 'a3']);
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual(['a1', 'a2', 'a3', undefined]);
    expect(q.length).toBe(0);
  });

  it("puts a colleague's single job right after the batch's current one", () => {
    const q = createFairQueue();
    for (let i = 1; i <= 40; i++) q.push(`a${i}`, 'ann');
    expect(q.shift()).toBe('a1');
    q.push('b1', 'bob');
    expect(q.shift()).toBe('b1');
    expect(q.shift()).toBe('a2');
    expect(q.length).toBe(38);
  });

  it('takes turns between members with several jobs each, oldest waiting first', () => {
    const q = createFairQueue();
    q.push('a1', 'ann');
    q.push('a2', 'ann');
    q.push('b1', 'bob');
    q.push('c1', 'cy');
    q.push('b2', 'bob');
    expect(q.peekOrder()).toEqual(['a1', 'b1', 'c1', 'a2', 'b2']);
    const taken = [];
    for (let id = q.shift(); id !== undefined; id = q.shift()) taken.push(id);
    expect(taken).toEqual(['a1', 'b1', 'c1', 'a2', 'b2']);
  });

  it('does not let a member who was just served jump ahead with a new job', () => {
    const q = createFairQueue();
    q.push('a1', 'ann');
    q.push('b1', 'bob');
    q.push('b2', 'bob');
    expect(q.shift()).toBe('a1');
    expect(q.shift()).toBe('b1');
    q.push('a2', 'ann');
    // Ann was served before Bob's last turn: her new job is next, then Bob's.
    expect(q.peekOrder()).toEqual(['a2', 'b2']);
    expect(q.shift()).toBe('a2');
    q.push('a3', 'ann');
    expect(q.shift()).toBe('b2');
  });

  it('gives a job put back (a 429) its turn again, before everyone', () => {
    const q = createFairQueue();
    q.push('a1', 'ann');
    q.push('a2', 'ann');
    q.push('b1', 'bob');
    const taken = q.shift() as string;
    q.pushFront(taken, 'ann');
    expect(q.peekOrder()).toEqual(['a1', 'b1', 'a2']);
  });

  it('lets a colleague who queued while a job was out, waiting for a slot, go before it when it is put back', () => {
    const q = createFairQueue();
    q.push('a1', 'ann');
    q.push('a2', 'ann');
    q.push('a3', 'ann');
    expect(q.shift()).toBe('a1');
    // The relay takes a2 to place it; the slot is still full. Meanwhile bob queues his first job.
    expect(q.shift()).toBe('a2');
    q.push('b1', 'bob');
    q.pushFront('a2', 'ann');
    // Had a2 not been taken, bob (never served) would go first: he still does.
    expect(q.peekOrder()).toEqual(['b1', 'a2', 'a3']);
  });

  it('gives back their places to several jobs put back newest first (jobs held back in one pass)', () => {
    const q = createFairQueue();
    q.push('a1', 'ann');
    q.push('b1', 'bob');
    q.push('a2', 'ann');
    q.push('b2', 'bob');
    const order = q.peekOrder();
    const taken = [q.shift(), q.shift(), q.shift()] as string[];
    expect(taken).toEqual(order.slice(0, 3));
    for (const id of [...taken].reverse()) q.pushFront(id, id.startsWith('a') ? 'ann' : 'bob');
    expect(q.peekOrder()).toEqual(order);
  });

  it('drops a canceled job and ignores a job queued twice', () => {
    const q = createFairQueue();
    q.push('a1', 'ann');
    q.push('a1', 'ann');
    q.push('b1', 'bob');
    expect(q.length).toBe(2);
    expect(q.remove('a1')).toBe(true);
    expect(q.remove('a1')).toBe(false);
    expect(q.peekOrder()).toEqual(['b1']);
  });
});

// Through the relay: DashScope runs one task at a time per account, so the relay's queue decides
// who goes next. The simulator's clock is held still, so nothing finishes until the test says so.
describe('the relay serves members fairly', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startRelay({ provider: 'dashscope', jobMs: 60_000, pollIntervalMs: 200 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("sends a colleague's single job right after the batch's current one", async () => {
    const ann = await h.addMember('ann', { maxConcurrentJobs: 10 });
    const bob = await h.addMember('bob');
    const [video, audio] = await Promise.all([
      h.upload('video', 'talking-640x640-25fps-3s.mp4', ann),
      h.upload('audio', 'speech-4s.wav', ann),
    ]);
    const [bobVideo, bobAudio] = await Promise.all([
      h.upload('video', 'talking-640x640-25fps-3s.mp4', bob),
      h.upload('audio', 'speech-4s.wav', bob),
    ]);
    const post = async (token: string, v: string, a: string, title: string) => {
      const res = await h.api('POST', '/v1/jobs', {
        token,
        body: { video: { uploadId: v }, audio: { uploadId: a }, title },
      });
      expect(res.status).toBe(201);
      return res.json.id as string;
    };
    const batch: string[] = [];
    for (let i = 1; i <= 4; i++) batch.push(await post(ann, video, audio, `batch ${i}`));
    // The first of the batch holds DashScope's one slot (its 60 s do not pass until we say so).
    const first = await h.waitForJob(batch[0] as string, (j) => j.status !== 'received', 30_000, ann);
    expect(first.status).not.toBe('succeeded');
    const single = await post(bob, bobVideo, bobAudio, 'single');
    for (const id of batch.slice(1))
      expect((await h.api('GET', `/v1/jobs/${id}`, { token: ann })).json.status).toBe('received');

    // Let each running task finish in turn (one 60 s step of the simulator's clock each), then
    // read the order the relay sent them in.
    const jobs = async (): Promise<JobBody[]> => {
      const lists = await Promise.all(
        [ann, bob].map(
          async (token) => (await h.api('GET', '/v1/jobs?limit=50', { token })).json.jobs as JobBody[],
        ),
      );
      return lists.flat();
    };
    for (;;) {
      const list = await jobs();
      if (list.every((j) => j.status === 'succeeded')) break;
      const live = list.find((j) => j.status !== 'received' && j.status !== 'succeeded');
      if (!live) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      expect(list.filter((j) => j.status !== 'received' && j.status !== 'succeeded')).toHaveLength(1);
      h.sim.advanceTime(60_000);
      await h.waitForJob(live.id, (j) => j.status === 'succeeded', 30_000, live.id === single ? bob : ann);
    }
    const order = (await jobs())
      .sort((x, y) => Date.parse(x.submittedAt as string) - Date.parse(y.submittedAt as string))
      .map((j) => j.id);
    expect(order).toEqual([batch[0], single, batch[1], batch[2], batch[3]]);
  });
});
