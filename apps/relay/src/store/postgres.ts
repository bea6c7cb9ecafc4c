import pg from 'pg';
import { PG_MIGRATIONS } from './migrations-postgres.js';
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
import type { ClusterStore, RelayQueries, RelayStore, RelayTransaction } from './types.js';

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  connectionString: string;
  /** Connections kept open at most. Default 10. */
  maxConnections?: number | undefined;
  /** How long to wait for a connection to open, in milliseconds. Default 10 000. */
  connectTimeoutMs?: number | undefined;
}

/** The store could not be opened (PostgreSQL unreachable, refused the login, or a newer schema). */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError' as const;
  readonly code = 'store_unavailable';
}

// Advisory lock keys (two int4 halves): the first names Retalk's lock space, the second the lock.
const LOCK_SPACE = 0x52544b; // "RTK"
const MIGRATION_LOCK = 0;
/** Where the events trigger (migration 5) notifies. */
const EVENTS_CHANNEL = 'retalk_events';
/** Where an instance that shares an upstream's health notifies (its name is the payload). */
const UPSTREAMS_CHANNEL = 'retalk_upstreams';

// BIGINT (epoch ms, sizes, the event sequence, COUNT) and NUMERIC (SUM over BIGINT) come back as
// numbers: every value the relay keeps is far below 2^53.
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

type Exec = (text: string, params?: unknown[]) => Promise<pg.QueryResult<Row>>;

/**
 * PostgreSQL text cannot hold U+0000, which a member may send (a title) and SQLite keeps: it is
 * stored as U+FFFD instead of failing the request. JSON values arrive escaped and pass as they are.
 */
function storable(params: unknown[] | undefined): unknown[] | undefined {
  return params?.map((p) =>
    typeof p === 'string' && p.includes('\u0000') ? p.replaceAll('\u0000', '\uFFFD') : p,
  );
}

const LIVE = [...LIVE_STATUSES];
const toDb = (key: string, value: unknown) => jobValue(key, value, 'bool');
const jobInsertColumns = ['id', 'member_id', ...JOB_FIELDS.map((k) => JOB_COLUMNS[k] as string)];
const INSERT_JOB = `INSERT INTO jobs (${jobInsertColumns.join(', ')}) VALUES (${jobInsertColumns
  .map((_, i) => `$${i + 1}`)
  .join(', ')})`;

/** Where a connection goes, without the password, for error messages. */
export function describeDatabaseUrl(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname}`;
  } catch {
    return 'the configured database';
  }
}

/** The relay's queries in PostgreSQL, on a pooled connection or on a transaction's own. */
function queriesOf(exec: Exec): RelayQueries {
  const one = async <T>(text: string, params: unknown[], fromRow: (r: Row) => T): Promise<T | undefined> => {
    const { rows } = await exec(text, params);
    return rows[0] ? fromRow(rows[0]) : undefined;
  };
  const many = async <T>(text: string, params: unknown[], fromRow: (r: Row) => T): Promise<T[]> =>
    (await exec(text, params)).rows.map(fromRow);
  return {
    createMember: async (m) => {
      await exec(
        `INSERT INTO members (id, name, token_hash, created_at, revoked_at, budget_seconds, period, max_concurrent_jobs)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [m.id, m.name, m.tokenHash, m.createdAt, m.revokedAt, m.budgetSeconds, m.period, m.maxConcurrentJobs],
      );
    },
    getMember: (id) => one('SELECT * FROM members WHERE id = $1', [id], memberFromRow),
    getMemberByName: (name) => one('SELECT * FROM members WHERE name = $1', [name], memberFromRow),
    findMemberByTokenHash: async (hash) =>
      (await one('SELECT * FROM members WHERE token_hash = $1', [hash], memberFromRow)) ??
      one(
        'SELECT m.*, t.token_hash AS matched_hash FROM member_tokens t JOIN members m ON m.id = t.member_id WHERE t.token_hash = $1',
        [hash],
        (r) => ({ ...memberFromRow(r), tokenHash: r.matched_hash as string }),
      ),
    createConnectCode: async (code) => {
      // Old codes are of no use to anyone: each new one sweeps those expired a day ago.
      await exec('DELETE FROM connect_codes WHERE expires_at < $1', [code.createdAt - 86_400_000]);
      await exec(
        `INSERT INTO connect_codes (code_hash, member_id, created_at, expires_at, used_at)
         VALUES ($1, $2, $3, $4, $5)`,
        [code.codeHash, code.memberId, code.createdAt, code.expiresAt, code.usedAt],
      );
    },
    getConnectCode: (hash) =>
      one('SELECT * FROM connect_codes WHERE code_hash = $1', [hash], connectCodeFromRow),
    markConnectCodeUsed: async (hash, at) =>
      ((
        await exec('UPDATE connect_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL', [
          at,
          hash,
        ])
      ).rowCount ?? 0) > 0,
    addMemberToken: async (token) => {
      await exec(
        'INSERT INTO member_tokens (token_hash, member_id, label, created_at) VALUES ($1, $2, $3, $4)',
        [token.tokenHash, token.memberId, token.label, token.createdAt],
      );
    },
    listMembers: () => many('SELECT * FROM members ORDER BY created_at, name', [], memberFromRow),
    revokeMember: async (name, at) =>
      ((await exec('UPDATE members SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL', [at, name]))
        .rowCount ?? 0) > 0,

    createUpload: async ({ probe, ...u }) => {
      await exec(
        `INSERT INTO uploads (id, member_id, kind, filename, storage_key, size_bytes, sha256, content_type, media_json, probe_json, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          u.id,
          u.memberId,
          u.kind,
          u.filename,
          u.storageKey,
          u.sizeBytes,
          u.sha256,
          u.contentType,
          JSON.stringify(u.media),
          probe ? JSON.stringify(probe) : null,
          u.createdAt,
          u.expiresAt,
        ],
      );
    },
    getUpload: (id) => one('SELECT * FROM uploads WHERE id = $1', [id], uploadFromRow),
    listExpiredUploads: (now) =>
      many('SELECT * FROM uploads WHERE expires_at <= $1 LIMIT 500', [now], uploadFromRow),
    uploadUsage: async (memberId, now) => {
      const { rows } = await exec(
        'SELECT COALESCE(SUM(size_bytes), 0) AS bytes, COUNT(*) AS count, MIN(expires_at) AS oldest FROM uploads WHERE member_id = $1 AND expires_at > $2',
        [memberId, now],
      );
      const r = rows[0] as { bytes: number; count: number; oldest: number | null };
      return { bytes: r.bytes, count: r.count, oldestExpiresAt: r.oldest };
    },
    deleteUpload: async (id) => {
      await exec('DELETE FROM uploads WHERE id = $1', [id]);
    },
    // A live job holds its inputs and the files prepared from them (fetched copies, conformed files).
    isUploadReferenced: async (id) =>
      (
        await exec(
          `SELECT 1 FROM jobs WHERE status = ANY($2) AND $1 IN (
             input_json->'video'->>'uploadId', input_json->'audio'->>'uploadId', input_json->'refImage'->>'uploadId',
             conform_json->'video'->>'uploadId', conform_json->'audio'->>'uploadId', conform_json->'refImage'->>'uploadId'
           ) LIMIT 1`,
          [id, LIVE],
        )
      ).rows.length > 0,

    insertJob: async (job) => {
      await exec(INSERT_JOB, [job.id, job.memberId, ...JOB_FIELDS.map((k) => toDb(k, job[k]))]);
    },
    getJob: (id) => one('SELECT * FROM jobs WHERE id = $1', [id], jobFromRow),
    getJobByCallbackToken: (token) =>
      one('SELECT * FROM jobs WHERE callback_token = $1', [token], jobFromRow),
    findJobByUpstreamId: (upstreamId) =>
      one('SELECT * FROM jobs WHERE upstream_id = $1 LIMIT 1', [upstreamId], jobFromRow),
    findJobByIdempotencyKey: (memberId, key) =>
      one('SELECT * FROM jobs WHERE member_id = $1 AND idempotency_key = $2', [memberId, key], jobFromRow),
    updateJob: async (id, patch) => {
      const keys = Object.keys(patch).filter((k) => k in JOB_COLUMNS);
      const job =
        keys.length === 0
          ? await one('SELECT * FROM jobs WHERE id = $1', [id], jobFromRow)
          : await one(
              `UPDATE jobs SET ${keys.map((k, i) => `${JOB_COLUMNS[k]} = $${i + 1}`).join(', ')} WHERE id = $${keys.length + 1} RETURNING *`,
              [...keys.map((k) => toDb(k, patch[k as keyof typeof patch])), id],
              jobFromRow,
            );
      if (!job) throw new Error(`job ${id} vanished from the store`);
      return job;
    },
    listJobs: (filter) => {
      const where = ['member_id = $1'];
      const params: unknown[] = [filter.memberId];
      if (filter.statuses && filter.statuses.length > 0) {
        params.push([...filter.statuses]);
        where.push(`status = ANY($${params.length})`);
      }
      if (filter.before) {
        params.push(filter.before.createdAt, filter.before.id);
        const [at, id] = [params.length - 1, params.length];
        where.push(`(created_at < $${at} OR (created_at = $${at} AND id < $${id}))`);
      }
      params.push(filter.limit);
      return many(
        `SELECT * FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
        params,
        jobFromRow,
      );
    },
    listLiveJobs: () =>
      many('SELECT * FROM jobs WHERE status = ANY($1) ORDER BY created_at, id', [LIVE], jobFromRow),
    listUnarchivedJobs: () =>
      many(
        `SELECT * FROM jobs WHERE status = 'succeeded' AND result_key IS NULL AND upstream_result_url IS NOT NULL ORDER BY finished_at`,
        [],
        jobFromRow,
      ),
    listExpiredResults: (now) =>
      many(
        'SELECT * FROM jobs WHERE result_key IS NOT NULL AND result_expires_at IS NOT NULL AND result_expires_at <= $1 LIMIT 500',
        [now],
        jobFromRow,
      ),
    countActiveJobs: async (memberId) =>
      (
        await exec('SELECT COUNT(*) AS n FROM jobs WHERE member_id = $1 AND status = ANY($2)', [
          memberId,
          LIVE,
        ])
      ).rows[0]?.n as number,
    countJobsByStatus: async () => {
      const out: Record<string, number> = {};
      for (const r of (await exec('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status')).rows)
        out[r.status as string] = r.n as number;
      return out;
    },
    usage: async (memberId, since) => {
      const { rows } = await exec(
        `SELECT
           COALESCE(SUM(billed_seconds) FILTER (WHERE status = 'succeeded'), 0) AS used,
           COALESCE(SUM(estimated_seconds) FILTER (WHERE status = ANY($3)), 0) AS reserved
         FROM jobs WHERE member_id = $1 AND created_at >= $2`,
        [memberId, since, LIVE],
      );
      return { usedSeconds: rows[0]?.used as number, reservedSeconds: rows[0]?.reserved as number };
    },

    accountLoad: async (names, besides) => {
      const { rows } = await exec(
        `SELECT
           COUNT(*) FILTER (WHERE status = ANY($3) AND upstream_result_url IS NULL) AS n,
           MAX(submit_started_at) AS last
         FROM jobs
         WHERE submit_started_at IS NOT NULL AND (upstream_name = ANY($1)
           OR ($2 AND (upstream_name IS NULL OR NOT (upstream_name = ANY($4)))))`,
        [[...names], besides !== null, LIVE, [...(besides ?? [])]],
      );
      return { inFlight: rows[0]?.n as number, lastSubmitAt: (rows[0]?.last as number | null) ?? null };
    },
    upstreamLoads: async () =>
      (
        await exec(
          `SELECT upstream_name, COUNT(*) AS live,
             COUNT(*) FILTER (WHERE submit_started_at IS NOT NULL AND upstream_result_url IS NULL) AS in_flight
           FROM jobs WHERE status = ANY($1) GROUP BY upstream_name`,
          [LIVE],
        )
      ).rows.map((r) => ({
        upstreamName: (r.upstream_name as string | null) ?? null,
        live: r.live as number,
        inFlight: r.in_flight as number,
      })),
    appendEvent: async (memberId, jobId, payload, at) => {
      // One writer of a member's events at a time until its commit: sequence numbers then commit in
      // order, so a stream that has sent event n (on any instance) never sees n-1 land after it.
      await exec('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_SPACE + 2, memberId]);
      return (
        await exec(
          'INSERT INTO events (member_id, job_id, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING seq',
          [memberId, jobId, payload, at],
        )
      ).rows[0]?.seq as number;
    },
    eventsAfter: (memberId, seq, limit) =>
      many(
        'SELECT * FROM events WHERE member_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [memberId, seq, limit],
        eventFromRow,
      ),
    oldestEventSeq: async () =>
      ((await exec('SELECT MIN(seq) AS seq FROM events')).rows[0]?.seq as number | null) ?? undefined,
    latestEventSeq: async (memberId) =>
      ((await exec('SELECT MAX(seq) AS seq FROM events WHERE member_id = $1', [memberId])).rows[0]?.seq as
        | number
        | null) ?? undefined,
    pruneEvents: async (before) => {
      await exec('DELETE FROM events WHERE created_at < $1', [before]);
    },

    getMeta: async (key) =>
      (await exec('SELECT value FROM meta WHERE key = $1', [key])).rows[0]?.value as string | undefined,
    setMeta: async (key, value) => {
      await exec(
        'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value',
        [key, value],
      );
    },
  };
}

/** Applies the migrations this database has not seen, once, whoever else is starting now. */
async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    // Session-level: held across the migrations' own transactions, released below.
    await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_SPACE, MIGRATION_LOCK]);
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
      );
      const { rows } = await client.query(
        'SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations',
      );
      const applied = Number(rows[0]?.version ?? 0);
      if (applied > PG_MIGRATIONS.length) {
        throw new StoreUnavailableError(
          `The database holds schema version ${applied}, newer than this relay knows (${PG_MIGRATIONS.length}); run the newer relay, or restore a backup made for this version.`,
        );
      }
      for (let i = applied; i < PG_MIGRATIONS.length; i++) {
        await client.query('BEGIN');
        try {
          await client.query(PG_MIGRATIONS[i] as string);
          await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
            i + 1,
            Date.now(),
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1, $2)', [LOCK_SPACE, MIGRATION_LOCK])
        .catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

/**
 * Opens the relay's PostgreSQL store (a connection pool) and migrates it. Several relay processes
 * may share one database: migrations run once under an advisory lock, budget checks serialize per
 * member (`lockMember`), and the members version is a counter every process sees.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<RelayStore> {
  const where = describeDatabaseUrl(options.connectionString);
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    types: TYPES,
  });
  // An idle connection the server drops (a restart, a failover) must not crash the relay; the pool
  // opens a new one on the next query.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof StoreUnavailableError) throw error;
    const code = (error as { code?: string }).code;
    const reason = error instanceof Error ? error.message : String(error);
    throw new StoreUnavailableError(
      code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT'
        ? `Cannot reach PostgreSQL at ${where} (RETALK_DATABASE_URL): ${reason}. Start the database or correct the URL.`
        : code === '28P01' || code === '28000'
          ? `PostgreSQL at ${where} refused the login (RETALK_DATABASE_URL): ${reason}. Check the user and password in the URL.`
          : code === '3D000'
            ? `The database in RETALK_DATABASE_URL does not exist at ${where}: ${reason}. Create it (createdb) or correct the URL.`
            : `Opening the PostgreSQL store at ${where} failed (RETALK_DATABASE_URL): ${reason}`,
      { cause: error },
    );
  }

  const exec: Exec = (text, params) => pool.query<Row>(text, storable(params));
  let closed = false;

  const store: RelayStore = {
    dialect: 'postgres',
    ...guarded(queriesOf(exec), (method) => assertNotInTransaction(store, method)),
    async transaction(fn) {
      assertNotInTransaction(store, 'transaction');
      const scope: TransactionScope = { owner: store, active: true, afterCommit: [] };
      let committed = false;
      try {
        const result = await inClientTransaction(pool, (client) =>
          runInScope(scope, () => fn(transactionHandle(client, scope))),
        );
        committed = true;
        return result;
      } finally {
        closeScope(scope, committed);
      }
    },
    cluster: clusterOf(pool, exec, options),
    membersVersion: async () => {
      assertNotInTransaction(store, 'membersVersion');
      const { rows } = await exec('SELECT version FROM members_version WHERE id = 1');
      return String(rows[0]?.version ?? 0);
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };

  function transactionHandle(client: pg.PoolClient, scope: TransactionScope): RelayTransaction {
    const queries = guarded(
      queriesOf((text, params) => client.query<Row>(text, storable(params))),
      (method) => assertTransactionOpen(scope, method),
    );
    return {
      ...queries,
      lockMember: async (memberId) => {
        assertTransactionOpen(scope, 'lockMember');
        // Released at commit or rollback; hashtext spreads member ids over the int4 key space (a
        // collision only makes two members wait for each other, never lets a budget overspend).
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_SPACE + 1, memberId]);
      },
      lockAccount: async (account) => {
        assertTransactionOpen(scope, 'lockAccount');
        // Every relay process deciding a submit on this provider account waits here (submit-slots.ts).
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_SPACE + 2, account]);
      },
      lockJob: async (id) => {
        assertTransactionOpen(scope, 'lockJob');
        const { rows } = await client.query<Row>('SELECT * FROM jobs WHERE id = $1 FOR UPDATE', [id]);
        return rows[0] ? jobFromRow(rows[0]) : undefined;
      },
      afterCommit: (fn) => {
        assertTransactionOpen(scope, 'afterCommit');
        scope.afterCommit.push(fn);
      },
      leaseJob: async (jobId, owner, expiresAt) => {
        assertTransactionOpen(scope, 'leaseJob');
        await client.query(
          `INSERT INTO job_leases (job_id, owner, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (job_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at`,
          [jobId, owner, expiresAt],
        );
      },
      holdLease: async (jobId, owner, expiresAt) => {
        assertTransactionOpen(scope, 'holdLease');
        // The UPDATE locks the row: a takeover (FOR UPDATE SKIP LOCKED) skips it until commit.
        const { rowCount } = await client.query(
          'UPDATE job_leases SET expires_at = GREATEST(expires_at, $3) WHERE job_id = $1 AND owner = $2',
          [jobId, owner, expiresAt],
        );
        return (rowCount ?? 0) > 0;
      },
    };
  }
  return store;
}

/** The coordination of several relay instances on this database (leases, shared windows, notices). */
function clusterOf(pool: pg.Pool, exec: Exec, options: PostgresStoreOptions): ClusterStore {
  return {
    renewLeases: async (owner, expiresAt) => {
      await exec(
        `DELETE FROM job_leases l USING jobs j
         WHERE l.job_id = j.id AND l.owner = $1 AND NOT (j.status = ANY($2))`,
        [owner, LIVE],
      );
      const { rows } = await exec('UPDATE job_leases SET expires_at = $2 WHERE owner = $1 RETURNING job_id', [
        owner,
        expiresAt,
      ]);
      return rows.map((r) => r.job_id as string);
    },
    claimOrphans: (owner, now, expiresAt, limit) =>
      inClientTransaction(pool, async (client) => {
        // Live jobs without a lease (stored before leases existed) become claimable like lapsed ones.
        await client.query(
          `INSERT INTO job_leases (job_id, owner, expires_at)
         SELECT j.id, '', 0 FROM jobs j
         WHERE j.status = ANY($1) AND NOT EXISTS (SELECT 1 FROM job_leases l WHERE l.job_id = j.id)
         ON CONFLICT (job_id) DO NOTHING`,
          [LIVE],
        );
        const { rows } = await client.query<Row>(
          `SELECT l.job_id, l.owner FROM job_leases l JOIN jobs j ON j.id = l.job_id
         WHERE l.expires_at < $1 AND j.status = ANY($2)
         ORDER BY l.expires_at LIMIT $3
         FOR UPDATE OF l SKIP LOCKED`,
          [now, LIVE, limit],
        );
        const ids = rows.map((r) => r.job_id as string);
        const taken = rows.map((r) => ({
          jobId: r.job_id as string,
          previousOwner: (r.owner as string) === '' ? null : (r.owner as string),
        }));
        if (ids.length > 0) {
          await client.query('UPDATE job_leases SET owner = $1, expires_at = $2 WHERE job_id = ANY($3)', [
            owner,
            expiresAt,
            ids,
          ]);
        }
        return taken;
      }),
    releaseLeases: async (owner) => {
      await exec('UPDATE job_leases SET expires_at = 0 WHERE owner = $1', [owner]);
    },
    hitRateWindow: async (key, windowMs, now) => {
      // Windows aligned to the clock, so every instance counts into the same one; a later window
      // (an instance whose clock is ahead) restarts the count and an earlier one joins it.
      const start = Math.floor(now / windowMs) * windowMs;
      const { rows } = await exec(
        `INSERT INTO rate_windows (key, window_start, hits) VALUES ($1, $2, 1)
         ON CONFLICT (key) DO UPDATE SET
           hits = CASE WHEN EXCLUDED.window_start > rate_windows.window_start THEN 1 ELSE rate_windows.hits + 1 END,
           window_start = GREATEST(EXCLUDED.window_start, rate_windows.window_start)
         RETURNING hits, window_start`,
        [key, start],
      );
      return { hits: rows[0]?.hits as number, windowStart: rows[0]?.window_start as number };
    },
    pruneRateWindows: async (before) => {
      await exec('DELETE FROM rate_windows WHERE window_start < $1', [before]);
    },
    shareUpstreamHealth: async (name, record, expected) => {
      // One statement: the notice goes out when the write commits, and only if it wrote.
      const { rowCount } = await exec(
        expected === undefined
          ? `WITH written AS (
               INSERT INTO meta (key, value) VALUES ($1, $2)
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value RETURNING key)
             SELECT pg_notify('${UPSTREAMS_CHANNEL}', $3) FROM written`
          : `WITH written AS (UPDATE meta SET value = $2 WHERE key = $1 AND value = $4 RETURNING key)
             SELECT pg_notify('${UPSTREAMS_CHANNEL}', $3) FROM written`,
        expected === undefined
          ? [`upstream_health:${name}`, record, name]
          : [`upstream_health:${name}`, record, name, expected],
      );
      return (rowCount ?? 0) > 0;
    },
    listen: async (listener) => {
      let client: pg.Client | undefined;
      let stopped = false;
      let retry: NodeJS.Timeout | undefined;
      const connect = async (): Promise<void> => {
        const next = new pg.Client({
          connectionString: options.connectionString,
          connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
        });
        next.on('notification', (message) => {
          if (message.channel === UPSTREAMS_CHANNEL) {
            if (message.payload) listener.onUpstreamHealth(message.payload);
            return;
          }
          const [seq, memberId, jobId] = (message.payload ?? '').split(' ');
          if (seq && memberId && jobId) listener.onEvent({ seq: Number(seq), memberId, jobId });
        });
        // A dropped connection (a database restart) is opened again; what was missed meanwhile is
        // the listener's to catch up (onGap).
        const lost = () => {
          next.removeAllListeners('error');
          next.on('error', () => undefined);
          if (client !== next || stopped) return;
          client = undefined;
          reconnect(500);
        };
        next.on('error', lost);
        next.on('end', lost);
        await next.connect();
        await next.query(`LISTEN ${EVENTS_CHANNEL}; LISTEN ${UPSTREAMS_CHANNEL}`);
        client = next;
      };
      const reconnect = (delayMs: number) => {
        retry = setTimeout(() => {
          connect().then(
            () => listener.onGap(),
            () => {
              if (!stopped) reconnect(Math.min(delayMs * 2, 10_000));
            },
          );
        }, delayMs);
      };
      await connect();
      return async () => {
        stopped = true;
        clearTimeout(retry);
        const current = client;
        client = undefined;
        await current?.end().catch(() => undefined);
      };
    },
  };
}

/**
 * Runs `fn` on one pooled connection between BEGIN and COMMIT; rolls back when it throws, and drops
 * a connection whose rollback failed (its state is unknown) instead of returning it to the pool.
 */
async function inClientTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}
