import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEventBus } from '../src/event-bus.js';
import { createJobWriter, newJobRecord } from '../src/jobs.js';
import { createPostgresStore, StoreUnavailableError } from '../src/store/postgres.js';
import { createSqliteStore } from '../src/store/sqlite.js';
import type { JobRecord, MemberRecord, RelayStore } from '../src/store/types.js';
import { claimSubmitSlot, type SlotUpstream } from '../src/submit-slots.js';
import { tempDir } from './harness.js';
import { createTestDatabase, dropTestDatabases } from './pg.js';

/**
 * The same cases against both stores: what the relay relies on must not depend on the database.
 * Each store is opened twice on one database where a case needs two relay processes (or a relay
 * and the CLI).
 */
interface StoreCase {
  name: string;
  /** Two handles on one database, as two processes would hold. */
  open: () => Promise<{ a: RelayStore; b: RelayStore }>;
  /**
   * Two handles for transactions that run at once. SQLite is one relay process by design (its
   * busy wait would block this test's only thread), so there both are the one store.
   */
  openConcurrent: () => Promise<{ a: RelayStore; b: RelayStore }>;
  /** What a U+0000 in a text field is kept as. */
  nul: string;
}

const STORES: StoreCase[] = [
  {
    name: 'SQLite',
    open: async () => {
      const file = path.join(tempDir('retalk-store-'), 'relay.db');
      return { a: createSqliteStore(file), b: createSqliteStore(file) };
    },
    openConcurrent: async () => {
      const store = createSqliteStore(path.join(tempDir('retalk-store-'), 'relay.db'));
      return { a: store, b: store };
    },
    nul: '\u0000',
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const connectionString = await createTestDatabase();
      // Two relays starting together on an empty database: the migrations run once.
      const [a, b] = await Promise.all([
        createPostgresStore({ connectionString }),
        createPostgresStore({ connectionString }),
      ]);
      return { a, b };
    },
    openConcurrent: async () => {
      const connectionString = await createTestDatabase();
      const a = await createPostgresStore({ connectionString });
      return { a, b: await createPostgresStore({ connectionString }) };
    },
    nul: '\uFFFD',
  },
];

let n = 0;
function member(extra: Partial<MemberRecord> = {}): MemberRecord {
  n++;
  return {
    id: `mem_${n}`,
    name: `member-${n}`,
    tokenHash: `hash-${n}`,
    createdAt: 1_700_000_000_000 + n,
    revokedAt: null,
    budgetSeconds: null,
    period: null,
    maxConcurrentJobs: null,
    ...extra,
  };
}

function job(memberId: string, extra: Partial<JobRecord> = {}): JobRecord {
  n++;
  const base = newJobRecord(
    {
      memberId,
      provider: 'dashscope',
      input: {
        video: { uploadId: `upl_v${n}` },
        audio: { url: 'https://example.com/a.wav' },
        videoExtension: false,
      },
      conformMode: 'auto',
      needsPreparation: false,
      estimatedSeconds: 10,
      title: 'A title with “quotes”',
      idempotencyKey: null,
      requestHash: null,
    },
    1_764_000_000_000 + n,
  );
  return { ...base, id: `job_${String(n).padStart(16, '0')}`, ...extra };
}

afterAll(dropTestDatabases);

describe.each(STORES)('the $name store', ({ open, openConcurrent, nul }) => {
  const opened = new Set<RelayStore>();
  async function stores(concurrent = false) {
    const pair = await (concurrent ? openConcurrent() : open());
    opened.add(pair.a).add(pair.b);
    return pair;
  }
  afterAll(async () => {
    for (const store of opened) await store.close();
  });

  it('keeps a title holding U+0000 without failing the write', async () => {
    const { a } = await stores();
    const m = member();
    await a.createMember(m);
    const j = job(m.id, { title: 'before\u0000after' });
    await a.insertJob(j);
    expect((await a.getJob(j.id))?.title).toBe(`before${nul}after`);
  });

  it('gives a job back exactly as stored: epoch-ms times as numbers, JSON fields, the cancel flag', async () => {
    const { a } = await stores();
    const m = member({ budgetSeconds: 12.5, period: 'month', maxConcurrentJobs: 2 });
    await a.createMember(m);
    expect(await a.getMember(m.id)).toEqual(m);
    const j = job(m.id, {
      error: { code: 'x', message: 'provider said \u0000 nothing useful', retryable: true },
      resultSizeBytes: 5_000_000_000,
      upstreamResultExpiresAt: 1_764_086_400_123,
      cancelRequested: true,
      upstreamName: 'dashscope-acme-2',
    });
    await a.insertJob(j);
    expect(await a.getJob(j.id)).toEqual(j);
    const updated = await a.updateJob(j.id, {
      status: 'running',
      progress: 42.5,
      conform: { ready: true, audio: { uploadId: 'upl_c', changes: ['trimmed'], media: { kind: 'audio' } } },
      cancelRequested: false,
    });
    expect(updated).toEqual({
      ...j,
      status: 'running',
      progress: 42.5,
      conform: { ready: true, audio: { uploadId: 'upl_c', changes: ['trimmed'], media: { kind: 'audio' } } },
      cancelRequested: false,
    });
    expect(typeof updated.createdAt).toBe('number');
    expect(await a.isUploadReferenced(`upl_v${Number(j.id.slice(4))}`)).toBe(true);
    expect(await a.isUploadReferenced('upl_c')).toBe(true);
    expect(await a.isUploadReferenced('upl_other')).toBe(false);
  });

  it('pages jobs newest first, filters by status and counts the live ones', async () => {
    const { a } = await stores();
    const m = member();
    await a.createMember(m);
    const made: JobRecord[] = [];
    for (let i = 0; i < 5; i++) {
      const j = job(m.id, { status: i < 2 ? 'succeeded' : 'running' });
      made.push(j);
      await a.insertJob(j);
    }
    const first = await a.listJobs({ memberId: m.id, limit: 3 });
    expect(first.map((j) => j.id)).toEqual(
      made
        .slice(2)
        .reverse()
        .map((j) => j.id),
    );
    const last = first[2] as JobRecord;
    const next = await a.listJobs({
      memberId: m.id,
      limit: 3,
      before: { createdAt: last.createdAt, id: last.id },
    });
    expect(next.map((j) => j.id)).toEqual(
      made
        .slice(0, 2)
        .reverse()
        .map((j) => j.id),
    );
    expect((await a.listJobs({ memberId: m.id, limit: 10, statuses: ['succeeded'] })).length).toBe(2);
    expect(await a.countActiveJobs(m.id)).toBe(3);
    expect((await a.countJobsByStatus()).running).toBeGreaterThanOrEqual(3);
    expect(await a.usage(m.id, 0)).toEqual({ usedSeconds: 0, reservedSeconds: 30 });
  });

  it('numbers events in order per store, replays after a sequence number and prunes by age', async () => {
    const { a } = await stores();
    const m = member();
    await a.createMember(m);
    const seqs: number[] = [];
    for (let i = 0; i < 4; i++) seqs.push(await a.appendEvent(m.id, 'job_x', `{"i":${i}}`, 1000 + i));
    expect(seqs.every((s, i) => typeof s === 'number' && (i === 0 || s > (seqs[i - 1] as number)))).toBe(
      true,
    );
    const after = await a.eventsAfter(m.id, seqs[1] as number, 10);
    expect(after.map((e) => e.payload)).toEqual(['{"i":2}', '{"i":3}']);
    expect(await a.latestEventSeq(m.id)).toBe(seqs[3]);
    await a.pruneEvents(1002);
    expect(await a.oldestEventSeq()).toBe(seqs[2]);
  });

  it('moves the members version when another process adds, links or revokes a member', async () => {
    const { a, b } = await stores();
    const before = await a.membersVersion();
    const m = member();
    await b.createMember(m);
    const added = await a.membersVersion();
    expect(added).not.toBe(before);
    await b.addMemberToken({
      tokenHash: 'browser-hash',
      memberId: m.id,
      label: 'connect link',
      createdAt: 1,
    });
    const linked = await a.membersVersion();
    expect(linked).not.toBe(added);
    expect((await a.findMemberByTokenHash('browser-hash'))?.tokenHash).toBe('browser-hash');
    expect(await b.revokeMember(m.name, 2)).toBe(true);
    expect(await a.membersVersion()).not.toBe(linked);
    expect((await a.getMember(m.id))?.revokedAt).toBe(2);
  });

  it('rolls a transaction back whole when its function throws, and pushes nothing after it', async () => {
    const { a } = await stores();
    const m = member();
    await a.createMember(m);
    const j = job(m.id);
    let pushed = false;
    await expect(
      a.transaction(async (tx) => {
        await tx.insertJob(j);
        tx.afterCommit(() => {
          pushed = true;
        });
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await a.getJob(j.id)).toBeUndefined();
    expect(pushed).toBe(false);
    await a.transaction(async (tx) => {
      await tx.insertJob(j);
      tx.afterCommit(() => {
        pushed = true;
      });
    });
    expect(pushed).toBe(true);
    expect((await a.getJob(j.id))?.id).toBe(j.id);
  });

  it('refuses the store itself inside its own transaction, naming the handle to use', async () => {
    const { a } = await stores();
    await expect(a.transaction(async () => a.getMeta('x'))).rejects.toThrow(/tx\.getMeta/);
  });

  it('lets one claim of a connect code win when two race for it', async () => {
    const { a, b } = await stores();
    const m = member();
    await a.createMember(m);
    await a.createConnectCode({
      codeHash: 'code-1',
      memberId: m.id,
      createdAt: 1,
      expiresAt: 10,
      usedAt: null,
    });
    const wins = await Promise.all([a.markConnectCodeUsed('code-1', 5), b.markConnectCodeUsed('code-1', 5)]);
    expect(wins.filter(Boolean)).toHaveLength(1);
  });

  it('never overspends a budget when two processes check it and insert at once', async () => {
    const { a, b } = await stores(true);
    const m = member({ budgetSeconds: 30 });
    await a.createMember(m);
    // Twelve creations of 10 s each against a 30 s budget, alternating between the two processes:
    // each checks the budget and inserts in one transaction under the member's lock.
    const attempt = (store: RelayStore) =>
      store.transaction(async (tx) => {
        await tx.lockMember(m.id);
        const usage = await tx.usage(m.id, 0);
        if (usage.usedSeconds + usage.reservedSeconds + 10 > 30) return false;
        await tx.insertJob(job(m.id, { estimatedSeconds: 10 }));
        return true;
      });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(i % 2 ? a : b)));
    expect(results.filter(Boolean)).toHaveLength(3);
    expect(await a.countActiveJobs(m.id)).toBe(3);
    expect(await a.usage(m.id, 0)).toEqual({ usedSeconds: 0, reservedSeconds: 30 });
  });

  it('gives an account one submit slot when two processes claim at once, and counts unplaced jobs for the first account', async () => {
    const { a, b } = await stores(true);
    const m = member();
    await a.createMember(m);
    const now = 1_764_100_000_000;
    const writers = new Map([a, b].map((s) => [s, createJobWriter(s, createEventBus(), () => now)]));
    const slot = (extra: Partial<SlotUpstream> = {}): SlotUpstream => ({
      name: 'acme-1',
      provider: 'dashscope',
      account: `acme-${n}`,
      accountUpstreams: ['acme-1', 'acme-2'],
      unplacedBesides: null,
      concurrency: 1,
      submitIntervalMs: 0,
      ...extra,
    });
    const waiting = Array.from({ length: 8 }, () => job(m.id));
    for (const w of waiting) await a.insertJob(w);
    // Eight jobs claimed on one account at once, from two processes, through both of its keys.
    const one = slot();
    const claims = await Promise.all(
      waiting.map((w, i) => {
        const store = i % 2 ? a : b;
        const upstream = { ...one, name: i % 3 ? 'acme-1' : 'acme-2' };
        return claimSubmitSlot(store, writers.get(store) as never, w.id, upstream, now);
      }),
    );
    expect(claims.filter((c) => c.outcome === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c.outcome === 'busy')).toHaveLength(7);
    const claimed = (await Promise.all(waiting.map((w) => a.getJob(w.id)))).filter((j) => j?.submitStartedAt);
    expect(claimed).toHaveLength(1);
    expect(['acme-1', 'acme-2']).toContain(claimed[0]?.upstreamName);
    expect(await a.accountLoad(['acme-1', 'acme-2'], null)).toEqual({ inFlight: 1, lastSubmitAt: now });
    // The task ended (its result is known): the slot is free again, the pace still counts.
    await a.updateJob(claimed[0]?.id as string, { upstreamResultUrl: 'https://example.com/r.mp4' });
    expect(await a.accountLoad(['acme-1', 'acme-2'], null)).toEqual({ inFlight: 0, lastSubmitAt: now });
    const paced = await claimSubmitSlot(
      a,
      writers.get(a) as never,
      (waiting.find((w) => w.id !== claimed[0]?.id) as JobRecord).id,
      slot({ account: one.account, concurrency: 5, submitIntervalMs: 1_000 }),
      now + 400,
    );
    expect(paced).toEqual({ outcome: 'paced', retryInMs: 600 });
    // A job submitted before the pool (no upstream recorded), or on an upstream since removed from
    // the file, holds the first account's slot.
    const old = job(m.id, { status: 'running', submitStartedAt: now - 5_000, upstreamId: 'task-old' });
    await a.insertJob(old);
    const known = ['first', 'acme-1', 'acme-2'];
    expect((await a.accountLoad(['first'], known)).inFlight).toBe(1);
    expect((await a.accountLoad(['first'], null)).inFlight).toBe(0);
    await a.updateJob(old.id, { upstreamName: 'retired' });
    expect(await a.accountLoad(['first'], known)).toEqual({ inFlight: 1, lastSubmitAt: now - 5_000 });
    expect((await a.accountLoad(['acme-1', 'acme-2'], null)).inFlight).toBe(0);
    await a.updateJob(old.id, { upstreamName: null });
    expect(await a.upstreamLoads()).toEqual(
      expect.arrayContaining([
        { upstreamName: null, live: 8, inFlight: 1 },
        { upstreamName: claimed[0]?.upstreamName, live: 1, inFlight: 0 },
      ]),
    );
  });

  it('keeps a read-decide-write on a job whole while another writer waits (lockJob)', async () => {
    const { a, b } = await stores(true);
    const m = member();
    await a.createMember(m);
    const j = job(m.id);
    await a.insertJob(j);
    // Each adds 1 to the progress it read: with the job locked between the read and the write,
    // none of the ten increments is lost.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).transaction(async (tx) => {
          const current = await tx.lockJob(j.id);
          await tx.updateJob(j.id, { progress: (current?.progress ?? 0) + 1 });
        }),
      ),
    );
    expect((await a.getJob(j.id))?.progress).toBe(10);
  });
});

describe('the PostgreSQL store, opened on a database it cannot use', () => {
  it('says where it tried and what to do, without the password', async () => {
    const attempt = createPostgresStore({
      connectionString: 'postgres://retalk:s3cret-pass@127.0.0.1:1/retalk',
      connectTimeoutMs: 2_000,
    });
    await expect(attempt).rejects.toBeInstanceOf(StoreUnavailableError);
    const error = (await attempt.catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('Cannot reach PostgreSQL at 127.0.0.1:1/retalk');
    expect(error.message).toContain('Start the database or correct the URL');
    expect(error.message).not.toContain('s3cret-pass');
  });
});
