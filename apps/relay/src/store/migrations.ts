/**
 * Schema migrations, applied in order inside one transaction each; `PRAGMA user_version` records
 * how many ran. Append new entries, never edit old ones.
 *
 * The history is numbered as PostgreSQL's (migrations-postgres.ts), step for step, so a schema
 * version means the same on both stores: a step one store needs and the other does not is a no-op
 * (an empty entry) on the other. A database migrated when this list stopped at 4 (before the
 * PostgreSQL-only steps 5 and 6 had their no-ops here) runs those no-ops at its next start and is
 * then at the same version as a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE members (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    budget_seconds REAL,
    period TEXT,
    max_concurrent_jobs INTEGER
  );
  CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    media_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX uploads_expires ON uploads(expires_at);
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    status TEXT NOT NULL,
    progress REAL NOT NULL,
    eta_ms INTEGER,
    provider TEXT NOT NULL,
    upstream_id TEXT,
    title TEXT,
    source_page_url TEXT,
    input_json TEXT NOT NULL,
    estimated_seconds REAL NOT NULL,
    billed_seconds REAL,
    error_json TEXT,
    submit_started_at INTEGER,
    callback_token TEXT NOT NULL UNIQUE,
    idempotency_key TEXT,
    request_hash TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    upstream_result_url TEXT,
    upstream_result_expires_at INTEGER,
    result_key TEXT,
    result_size_bytes INTEGER,
    result_sha256 TEXT,
    result_content_type TEXT,
    result_expires_at INTEGER,
    archive_attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    submitted_at INTEGER,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE INDEX jobs_member_created ON jobs(member_id, created_at DESC, id DESC);
  CREATE INDEX jobs_status ON jobs(status);
  CREATE INDEX jobs_upstream ON jobs(upstream_id);
  CREATE UNIQUE INDEX jobs_idempotency ON jobs(member_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX events_member_seq ON events(member_id, seq);
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // Connect links (a browser connects without its member pasting a token) and the tokens they
  // hand out, one per connected browser; both stored only as hashes.
  `
  CREATE TABLE connect_codes (
    code_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
  );
  CREATE TABLE member_tokens (
    token_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX member_tokens_member ON member_tokens(member_id);
  `,
  // Issue 8 (conform): how a job's inputs were made to fit, and what the relay's probe found in an upload.
  `
  ALTER TABLE jobs ADD COLUMN conform_mode TEXT NOT NULL DEFAULT 'off';
  ALTER TABLE jobs ADD COLUMN conform_json TEXT;
  ALTER TABLE uploads ADD COLUMN probe_json TEXT;
  `,
  // Issue 13 (pool of upstreams): the upstream each job was placed on; the index serves the
  // per-account slot count and the latest submit time (submit-slots.ts).
  `
  ALTER TABLE jobs ADD COLUMN upstream_name TEXT;
  CREATE INDEX jobs_upstream_name ON jobs(upstream_name, submit_started_at);
  `,
  // 5 — PostgreSQL only: job leases, shared rate windows and event notices serve several relay
  // instances on one database; SQLite is one process, so there is nothing to store.
  '',
  // 6 — PostgreSQL only: the rate windows of step 5 made unlogged; SQLite has no such table.
  '',
];
