import path from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, ensurePrivateFile, restrictFile } from '../private-files.js';
import { MIGRATIONS } from './migrations.js';
import type { EventRecord, JobRecord, MemberRecord, RelayStore, UploadRecord } from './types.js';

type Row = Record<string, unknown>;

const JOB_COLUMNS: Record<string, string> = {
  status: 'status',
  progress: 'progress',
  etaMs: 'eta_ms',
  provider: 'provider',
  upstreamId: 'upstream_id',
  title: 'title',
  sourcePageUrl: 'source_page_url',
  input: 'input_json',
  conformMode: 'conform_mode',
  conform: 'conform_json',
  estimatedSeconds: 'estimated_seconds',
  billedSeconds: 'billed_seconds',
  error: 'error_json',
  submitStartedAt: 'submit_started_at',
  callbackToken: 'callback_token',
  idempotencyKey: 'idempotency_key',
  requestHash: 'request_hash',
  cancelRequested: 'cancel_requested',
  upstreamResultUrl: 'upstream_result_url',
  upstreamResultExpiresAt: 'upstream_result_expires_at',
  resultKey: 'result_key',
  resultSizeBytes: 'result_size_bytes',
  resultSha256: 'result_sha256',
  resultContentType: 'result_content_type',
  resultExpiresAt: 'result_expires_at',
  archiveAttempts: 'archive_attempts',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  submittedAt: 'submitted_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
};

const LIVE = `('received','preparing','submitted','queued','running')`;

function toDb(key: string, value: unknown): unknown {
  if (key === 'input' || key === 'error' || key === 'conform')
    return value === null ? null : JSON.stringify(value);
  if (key === 'cancelRequested') return value ? 1 : 0;
  return value ?? null;
}

function memberFromRow(r: Row): MemberRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    tokenHash: r.token_hash as string,
    createdAt: r.created_at as number,
    revokedAt: (r.revoked_at as number | null) ?? null,
    budgetSeconds: (r.budget_seconds as number | null) ?? null,
    period: (r.period as MemberRecord['period']) ?? null,
    maxConcurrentJobs: (r.max_concurrent_jobs as number | null) ?? null,
  };
}

function uploadFromRow(r: Row): UploadRecord {
  return {
    id: r.id as string,
    memberId: r.member_id as string,
    kind: r.kind as UploadRecord['kind'],
    filename: r.filename as string,
    storageKey: r.storage_key as string,
    sizeBytes: r.size_bytes as number,
    sha256: r.sha256 as string,
    contentType: r.content_type as string,
    media: JSON.parse(r.media_json as string),
    ...(r.probe_json ? { probe: JSON.parse(r.probe_json as string) } : {}),
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
  };
}

function jobFromRow(r: Row): JobRecord {
  return {
    id: r.id as string,
    memberId: r.member_id as string,
    status: r.status as JobRecord['status'],
    progress: r.progress as number,
    etaMs: (r.eta_ms as number | null) ?? null,
    provider: r.provider as JobRecord['provider'],
    upstreamId: (r.upstream_id as string | null) ?? null,
    title: (r.title as string | null) ?? null,
    sourcePageUrl: (r.source_page_url as string | null) ?? null,
    input: JSON.parse(r.input_json as string),
    conformMode: (r.conform_mode as JobRecord['conformMode']) ?? 'off',
    conform: r.conform_json ? JSON.parse(r.conform_json as string) : null,
    estimatedSeconds: r.estimated_seconds as number,
    billedSeconds: (r.billed_seconds as number | null) ?? null,
    error: r.error_json ? JSON.parse(r.error_json as string) : null,
    submitStartedAt: (r.submit_started_at as number | null) ?? null,
    callbackToken: r.callback_token as string,
    idempotencyKey: (r.idempotency_key as string | null) ?? null,
    requestHash: (r.request_hash as string | null) ?? null,
    cancelRequested: r.cancel_requested === 1,
    upstreamResultUrl: (r.upstream_result_url as string | null) ?? null,
    upstreamResultExpiresAt: (r.upstream_result_expires_at as number | null) ?? null,
    resultKey: (r.result_key as string | null) ?? null,
    resultSizeBytes: (r.result_size_bytes as number | null) ?? null,
    resultSha256: (r.result_sha256 as string | null) ?? null,
    resultContentType: (r.result_content_type as string | null) ?? null,
    resultExpiresAt: (r.result_expires_at as number | null) ?? null,
    archiveAttempts: r.archive_attempts as number,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    submittedAt: (r.submitted_at as number | null) ?? null,
    startedAt: (r.started_at as number | null) ?? null,
    finishedAt: (r.finished_at as number | null) ?? null,
  };
}

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
  const JOB_FIELDS = Object.keys(JOB_COLUMNS);
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

  const store: RelayStore = {
    // IMMEDIATE takes the write lock up front, so a lock held by another connection (the CLI, a
    // backup) is waited out under busy_timeout; a deferred read-then-write upgrade would fail at once.
    transaction: (fn) => db.transaction(fn).immediate(),
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
    getConnectCode: (hash) =>
      one(
        stmt.connectCode,
        (r) => ({
          codeHash: r.code_hash as string,
          memberId: r.member_id as string,
          createdAt: r.created_at as number,
          expiresAt: r.expires_at as number,
          usedAt: (r.used_at as number | null) ?? null,
        }),
        hash,
      ),
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
    // data_version moves when another connection commits; our own member writes are counted here.
    membersVersion: () => `${dataVersion.get() as number}:${localMemberWrites}`,

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

    insertJob: (job) =>
      void insertJob.run(job.id, job.memberId, ...JOB_FIELDS.map((k) => toDb(k, job[k as keyof JobRecord]))),
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

    appendEvent: (memberId, jobId, payload, at) =>
      Number(stmt.insertEvent.run(memberId, jobId, payload, at).lastInsertRowid),
    eventsAfter: (memberId, seq, limit) =>
      (stmt.eventsAfter.all(memberId, seq, limit) as Row[]).map(
        (r): EventRecord => ({
          seq: r.seq as number,
          memberId: r.member_id as string,
          jobId: r.job_id as string,
          payload: r.payload as string,
          createdAt: r.created_at as number,
        }),
      ),
    oldestEventSeq: () => (stmt.oldestEvent.get() as { seq: number | null }).seq ?? undefined,
    latestEventSeq: (memberId) => (stmt.latestEvent.get(memberId) as { seq: number | null }).seq ?? undefined,
    pruneEvents: (before) => void stmt.pruneEvents.run(before),

    getMeta: (key) => (stmt.getMeta.get(key) as { value: string } | undefined)?.value,
    setMeta: (key, value) => void stmt.setMeta.run(key, value),
    close: () => db.close(),
  };
  return store;
}
