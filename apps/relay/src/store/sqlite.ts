import path from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, ensurePrivateFile, restrictFile } from '../private-files.js';
import { MIGRATIONS } from './migrations.js';
import {
  connectCodeFromRow,
  eventFromRow,
  JOB_COLUMNS,
  JOB_FIELDS,
  jobFromRow,
  jobValue,
  LIVE_STATUSES,
  memberFromRow,
  type Row,
  uploadFromRow,
} from './rows.js';
import {
  assertNotInTransaction,
  assertTransactionOpen,
  closeScope,
  guarded,
  runInScope,
  type TransactionScope,
} from './scope.js';
import type { RelayQueries, RelayStore, RelayTransaction } from './types.js';

const LIVE = `(${LIVE_STATUSES.map((s) => `'${s}'`).join(',')})`;
const toDb = (key: string, value: unknown) => jobValue(key, value, 'int');

/** The store's queries as better-sqlite3 runs them: synchronously. */
type SyncQueries = {
  [K in keyof RelayQueries]: (...args: Parameters<RelayQueries[K]>) => Awaited<ReturnType<RelayQueries[K]>>;
};

/** Opens (creating and migrating) the relay's SQLite database at `file`, in WAL mode. */
export function createSqliteStore(file: string): RelayStore {
  ensurePrivateDir(path.dirname(file));
  // SQLite creates the -wal and -shm files with the database's own mode (unix VFS), so a 0600
  // database keeps its journal private too; leftovers of an older relay are tightened here.
  ensurePrivateFile(file);
  for (const suffix of ['-wal', '-shm']) restrictFile(`${file}${suffix}`);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // Another process (the CLI) may hold the write lock briefly; wait instead of failing.
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let i = version; i < MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i] as string);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }

  const stmt = {
    insertMember: db.prepare(
      `INSERT INTO members (id, name, token_hash, created_at, revoked_at, budget_seconds, period, max_concurrent_jobs)
       VALUES (@id, @name, @tokenHash, @createdAt, @revokedAt, @budgetSeconds, @period, @maxConcurrentJobs)`,
    ),
    memberById: db.prepare('SELECT * FROM members WHERE id = ?'),
    memberByName: db.prepare('SELECT * FROM members WHERE name = ?'),
    memberByHash: db.prepare('SELECT * FROM members WHERE token_hash = ?'),
    memberByBrowserToken: db.prepare(
      'SELECT m.*, t.token_hash AS matched_hash FROM member_tokens t JOIN members m ON m.id = t.member_id WHERE t.token_hash = ?',
    ),
    insertConnectCode: db.prepare(
      `INSERT INTO connect_codes (code_hash, member_id, created_at, expires_at, used_at)
       VALUES (@codeHash, @memberId, @createdAt, @expiresAt, @usedAt)`,
    ),
    connectCode: db.prepare('SELECT * FROM connect_codes WHERE code_hash = ?'),
    useConnectCode: db.prepare(
      'UPDATE connect_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL',
    ),
    pruneConnectCodes: db.prepare('DELETE FROM connect_codes WHERE expires_at < ?'),
    insertMemberToken: db.prepare(
      `INSERT INTO member_tokens (token_hash, member_id, label, created_at)
       VALUES (@tokenHash, @memberId, @label, @createdAt)`,
    ),
    members: db.prepare('SELECT * FROM members ORDER BY created_at, name'),
    revoke: db.prepare('UPDATE members SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL'),
    insertUpload: db.prepare(
      `INSERT INTO uploads (id, member_id, kind, filename, storage_key, size_bytes, sha256, content_type, media_json, probe_json, created_at, expires_at)
       VALUES (@id, @memberId, @kind, @filename, @storageKey, @sizeBytes, @sha256, @contentType, @mediaJson, @probeJson, @createdAt, @expiresAt)`,
    ),
    uploadById: db.prepare('SELECT * FROM uploads WHERE id = ?'),
    uploadUsage: db.prepare(
      'SELECT COALESCE(SUM(size_bytes), 0) AS bytes, COUNT(*) AS count, MIN(expires_at) AS oldest FROM uploads WHERE member_id = ? AND expires_at > ?',
    ),
    expiredUploads: db.prepare('SELECT * FROM uploads WHERE expires_at <= ? LIMIT 500'),
    deleteUpload: db.prepare('DELETE FROM uploads WHERE id = ?'),
    // A live job holds its inputs and the files prepared from them (fetched copies, conformed files).
    uploadReferenced: db.prepare(
      `SELECT 1 FROM jobs WHERE status IN ${LIVE} AND (input_json LIKE ? OR conform_json LIKE ?) LIMIT 1`,
    ),
    jobById: db.prepare('SELECT * FROM jobs WHERE id = ?'),
    jobByCallback: db.prepare('SELECT * FROM jobs WHERE callback_token = ?'),
    jobByUpstream: db.prepare('SELECT * FROM jobs WHERE upstream_id = ? LIMIT 1'),
    jobByIdem: db.prepare('SELECT * FROM jobs WHERE member_id = ? AND idempotency_key = ?'),
    liveJobs: db.prepare(`SELECT * FROM jobs WHERE status IN ${LIVE} ORDER BY created_at, id`),
    unarchived: db.prepare(
      `SELECT * FROM jobs WHERE status = 'succeeded' AND result_key IS NULL AND upstream_result_url IS NOT NULL ORDER BY finished_at`,
    ),
    expiredResults: db.prepare(
      'SELECT * FROM jobs WHERE result_key IS NOT NULL AND result_expires_at IS NOT NULL AND result_expires_at <= ? LIMIT 500',
    ),
    activeCount: db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE member_id = ? AND status IN ${LIVE}`),
    byStatus: db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status'),
    upstreamLoads: db.prepare(
      `SELECT upstream_name, COUNT(*) AS live,
         COUNT(*) FILTER (WHERE submit_started_at IS NOT NULL AND upstream_result_url IS NULL) AS in_flight
       FROM jobs WHERE status IN ${LIVE} GROUP BY upstream_name`,
    ),
    used: db.prepare(
      `SELECT COALESCE(SUM(billed_seconds), 0) AS s FROM jobs WHERE member_id = ? AND created_at >= ? AND status = 'succeeded'`,
    ),
    reserved: db.prepare(
      `SELECT COALESCE(SUM(estimated_seconds), 0) AS s FROM jobs WHERE member_id = ? AND created_at >= ? AND status IN ${LIVE}`,
    ),
    insertEvent: db.prepare(
      'INSERT INTO events (member_id, job_id, payload, created_at) VALUES (?, ?, ?, ?)',
    ),
    eventsAfter: db.prepare('SELECT * FROM events WHERE member_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
    oldestEvent: db.prepare('SELECT MIN(seq) AS seq FROM events'),
    latestEvent: db.prepare('SELECT MAX(seq) AS seq FROM events WHERE member_id = ?'),
    pruneEvents: db.prepare('DELETE FROM events WHERE created_at < ?'),
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ),
  };
  // The columns are fixed, so the job insert is prepared once, not on every POST /v1/jobs.
  const jobInsertColumns = ['id', 'member_id', ...Object.values(JOB_COLUMNS)];
  const insertJob = db.prepare(
    `INSERT INTO jobs (${jobInsertColumns.join(', ')}) VALUES (${jobInsertColumns.map(() => '?').join(', ')})`,
  );
  /** The first row of a query, converted; undefined when there is none. */
  const one = <T>(query: Database.Statement, fromRow: (r: Row) => T, ...params: unknown[]): T | undefined => {
    const r = query.get(...params) as Row | undefined;
    return r ? fromRow(r) : undefined;
  };
  const updateCache = new Map<string, Database.Statement>();
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let localMemberWrites = 0;

  const sync: SyncQueries = {
    createMember: (m) => {
      stmt.insertMember.run(m);
      localMemberWrites++;
    },
    getMember: (id) => one(stmt.memberById, memberFromRow, id),
    getMemberByName: (name) => one(stmt.memberByName, memberFromRow, name),
    findMemberByTokenHash: (hash) =>
      one(stmt.memberByHash, memberFromRow, hash) ??
      one(
        stmt.memberByBrowserToken,
        (r) => ({ ...memberFromRow(r), tokenHash: r.matched_hash as string }),
        hash,
      ),
    createConnectCode: (code) => {
      // Old codes are of no use to anyone: each new one sweeps those expired a day ago.
      stmt.pruneConnectCodes.run(code.createdAt - 86_400_000);
      stmt.insertConnectCode.run(code);
    },
    getConnectCode: (hash) => one(stmt.connectCode, connectCodeFromRow, hash),
    markConnectCodeUsed: (hash, at) => stmt.useConnectCode.run(at, hash).changes > 0,
    addMemberToken: (token) => {
      stmt.insertMemberToken.run(token);
      localMemberWrites++;
    },
    listMembers: () => (stmt.members.all() as Row[]).map(memberFromRow),
    revokeMember: (name, at) => {
      localMemberWrites++;
      return stmt.revoke.run(at, name).changes > 0;
    },

    createUpload: ({ probe, ...u }) =>
      void stmt.insertUpload.run({
        ...u,
        mediaJson: JSON.stringify(u.media),
        probeJson: probe ? JSON.stringify(probe) : null,
      }),
    getUpload: (id) => one(stmt.uploadById, uploadFromRow, id),
    uploadUsage: (memberId, now) => {
      const r = stmt.uploadUsage.get(memberId, now) as {
        bytes: number;
        count: number;
        oldest: number | null;
      };
      return { bytes: r.bytes, count: r.count, oldestExpiresAt: r.oldest };
    },
    listExpiredUploads: (now) => (stmt.expiredUploads.all(now) as Row[]).map(uploadFromRow),
    deleteUpload: (id) => void stmt.deleteUpload.run(id),
    isUploadReferenced: (id) => {
      const pattern = `%"uploadId":"${id}"%`;
      return stmt.uploadReferenced.get(pattern, pattern) !== undefined;
    },

    insertJob: (job) => void insertJob.run(job.id, job.memberId, ...JOB_FIELDS.map((k) => toDb(k, job[k]))),
    getJob: (id) => one(stmt.jobById, jobFromRow, id),
    getJobByCallbackToken: (token) => one(stmt.jobByCallback, jobFromRow, token),
    findJobByUpstreamId: (upstreamId) => one(stmt.jobByUpstream, jobFromRow, upstreamId),
    findJobByIdempotencyKey: (memberId, key) => one(stmt.jobByIdem, jobFromRow, memberId, key),
    updateJob: (id, patch) => {
      const keys = Object.keys(patch).filter((k) => k in JOB_COLUMNS);
      if (keys.length > 0) {
        const sqlKey = keys.join(',');
        let update = updateCache.get(sqlKey);
        if (!update) {
          update = db.prepare(
            `UPDATE jobs SET ${keys.map((k) => `${JOB_COLUMNS[k]} = ?`).join(', ')} WHERE id = ?`,
          );
          updateCache.set(sqlKey, update);
        }
        update.run(...keys.map((k) => toDb(k, patch[k as keyof typeof patch])), id);
      }
      const r = stmt.jobById.get(id) as Row | undefined;
      if (!r) throw new Error(`job ${id} vanished from the store`);
      return jobFromRow(r);
    },
    listJobs: (filter) => {
      const where = ['member_id = ?'];
      const params: unknown[] = [filter.memberId];
      if (filter.statuses && filter.statuses.length > 0) {
        where.push(`status IN (${filter.statuses.map(() => '?').join(',')})`);
        params.push(...filter.statuses);
      }
      if (filter.before) {
        where.push('(created_at < ? OR (created_at = ? AND id < ?))');
        params.push(filter.before.createdAt, filter.before.createdAt, filter.before.id);
      }
      params.push(filter.limit);
      const rows = db
        .prepare(`SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`)
        .all(...params) as Row[];
      return rows.map(jobFromRow);
    },
    listLiveJobs: () => (stmt.liveJobs.all() as Row[]).map(jobFromRow),
    listUnarchivedJobs: () => (stmt.unarchived.all() as Row[]).map(jobFromRow),
    listExpiredResults: (now) => (stmt.expiredResults.all(now) as Row[]).map(jobFromRow),
    countActiveJobs: (memberId) => (stmt.activeCount.get(memberId) as { n: number }).n,
    countJobsByStatus: () => {
      const out: Record<string, number> = {};
      for (const r of stmt.byStatus.all() as { status: string; n: number }[]) out[r.status] = r.n;
      return out;
    },
    usage: (memberId, since) => ({
      usedSeconds: (stmt.used.get(memberId, since) as { s: number }).s,
      reservedSeconds: (stmt.reserved.get(memberId, since) as { s: number }).s,
    }),
    accountLoad: (names, besides) => {
      const list = (values: readonly string[]) => values.map(() => '?').join(',') || "''";
      const placed = `(upstream_name IN (${list(names)})${besides ? ` OR upstream_name IS NULL OR upstream_name NOT IN (${list(besides)})` : ''})`;
      const r = db
        .prepare(
          `SELECT
             COUNT(*) FILTER (WHERE status IN ${LIVE} AND upstream_result_url IS NULL) AS n,
             MAX(submit_started_at) AS last
           FROM jobs WHERE submit_started_at IS NOT NULL AND ${placed}`,
        )
        .get(...names, ...(besides ?? [])) as { n: number; last: number | null };
      return { inFlight: r.n, lastSubmitAt: r.last };
    },
    upstreamLoads: () =>
      (stmt.upstreamLoads.all() as { upstream_name: string | null; live: number; in_flight: number }[]).map(
        (r) => ({ upstreamName: r.upstream_name, live: r.live, inFlight: r.in_flight }),
      ),

    appendEvent: (memberId, jobId, payload, at) =>
      Number(stmt.insertEvent.run(memberId, jobId, payload, at).lastInsertRowid),
    eventsAfter: (memberId, seq, limit) =>
      (stmt.eventsAfter.all(memberId, seq, limit) as Row[]).map(eventFromRow),
    oldestEventSeq: () => (stmt.oldestEvent.get() as { seq: number | null }).seq ?? undefined,
    latestEventSeq: (memberId) => (stmt.latestEvent.get(memberId) as { seq: number | null }).seq ?? undefined,
    pruneEvents: (before) => void stmt.pruneEvents.run(before),

    getMeta: (key) => (stmt.getMeta.get(key) as { value: string } | undefined)?.value,
    setMeta: (key, value) => void stmt.setMeta.run(key, value),
  };

  // One connection serves the whole process, so a transaction owns it from BEGIN to COMMIT: while
  // one is open (its function may await), every other statement waits its turn here, in order.
  let held = false;
  const waiters: (() => void)[] = [];
  const acquire = (): Promise<void> | undefined => {
    if (!held) {
      held = true;
      return undefined;
    }
    return new Promise<void>((resolve) => waiters.push(resolve));
  };
  const release = () => {
    const next = waiters.shift();
    if (next) next();
    else held = false;
  };

  const asyncQueries = (wrap: (name: string, fn: () => unknown) => Promise<unknown>): RelayQueries => {
    const out: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(sync)) {
      out[name] = (...args: unknown[]) => wrap(name, () => (fn as (...a: unknown[]) => unknown)(...args));
    }
    return out as unknown as RelayQueries;
  };

  const store: RelayStore = {
    dialect: 'sqlite',
    ...asyncQueries(async (name, run) => {
      assertNotInTransaction(store, name);
      if (!held) return run();
      await acquire();
      try {
        return run();
      } finally {
        release();
      }
    }),
    async transaction(fn) {
      assertNotInTransaction(store, 'transaction');
      await acquire();
      const scope: TransactionScope = { owner: store, active: true, afterCommit: [] };
      let committed = false;
      try {
        // IMMEDIATE takes the write lock up front, so a lock held by another connection (the CLI, a
        // backup) is waited out under busy_timeout; a deferred read-then-write upgrade would fail at once.
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await runInScope(scope, () => fn(transactionHandle(scope)));
          db.exec('COMMIT');
          committed = true;
          return result;
        } catch (error) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw error;
        }
      } finally {
        release();
        closeScope(scope, committed);
      }
    },
    // data_version moves when another connection commits; our own member writes are counted here.
    membersVersion: async () => `${dataVersion.get() as number}:${localMemberWrites}`,
    async close() {
      await acquire();
      try {
        db.close();
      } finally {
        release();
      }
    },
  };

  function transactionHandle(scope: TransactionScope): RelayTransaction {
    const queries = guarded(
      asyncQueries(async (_name, run) => run()),
      (method) => assertTransactionOpen(scope, method),
    );
    return {
      ...queries,
      // BEGIN IMMEDIATE holds the database's write lock, which already serializes every writer.
      lockMember: async () => assertTransactionOpen(scope, 'lockMember'),
      lockJob: (id) => queries.getJob(id),
      // The same write lock serializes the submit-slot decisions of every process on the file.
      lockAccount: async () => assertTransactionOpen(scope, 'lockAccount'),
      afterCommit: (fn) => {
        assertTransactionOpen(scope, 'afterCommit');
        scope.afterCommit.push(fn);
      },
    };
  }
  return store;
}
