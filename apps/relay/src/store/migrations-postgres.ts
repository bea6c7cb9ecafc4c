/**
 * PostgreSQL schema migrations: the same history as SQLite's (migrations.ts), step for step, in
 * PostgreSQL's types — epoch-millisecond times as BIGINT, JSON as `json` (kept as written; `jsonb`
 * would refuse a provider error message holding `\u0000`), the events sequence as an identity
 * column. `schema_migrations` records each step applied; they run under an advisory lock, so two
 * relays starting together on one database migrate it once. Append new entries, never edit old ones.
 * Entries marked "PostgreSQL only" serve several relay instances on one database, which SQLite (one
 * process) never has; SQLite's list holds a no-op at their number, so both lists stay the same
 * length and a schema version names the same step on both (a test holds them to it).
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE members (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    budget_seconds DOUBLE PRECISION,
    period TEXT,
    max_concurrent_jobs INTEGER
  );
  CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    media_json JSON NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX uploads_expires ON uploads(expires_at);
  CREATE INDEX uploads_member_expires ON uploads(member_id, expires_at);
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    status TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL,
    eta_ms BIGINT,
    provider TEXT NOT NULL,
    upstream_id TEXT,
    title TEXT,
    source_page_url TEXT,
    input_json JSON NOT NULL,
    estimated_seconds DOUBLE PRECISION NOT NULL,
    billed_seconds DOUBLE PRECISION,
    error_json JSON,
    submit_started_at BIGINT,
    callback_token TEXT NOT NULL UNIQUE,
    idempotency_key TEXT,
    request_hash TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    upstream_result_url TEXT,
    upstream_result_expires_at BIGINT,
    result_key TEXT,
    result_size_bytes BIGINT,
    result_sha256 TEXT,
    result_content_type TEXT,
    result_expires_at BIGINT,
    archive_attempts INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    submitted_at BIGINT,
    started_at BIGINT,
    finished_at BIGINT
  );
  CREATE INDEX jobs_member_created ON jobs(member_id, created_at DESC, id DESC);
  CREATE INDEX jobs_status ON jobs(status);
  CREATE INDEX jobs_upstream ON jobs(upstream_id);
  CREATE UNIQUE INDEX jobs_idempotency ON jobs(member_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX events_member_seq ON events(member_id, seq);
  CREATE INDEX events_created ON events(created_at);
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  -- Sign-in caches ask "did members change?" on every request, from any relay process: a counter
  -- bumped by a trigger on every write to members, whoever makes it (a relay, the CLI, an admin's SQL).
  CREATE TABLE members_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
  );
  INSERT INTO members_version (id, version) VALUES (1, 0);
  CREATE FUNCTION retalk_members_changed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE members_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
  END
  $$;
  CREATE TRIGGER members_changed AFTER INSERT OR UPDATE OR DELETE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION retalk_members_changed();
  `,
  // Connect links (a browser connects without its member pasting a token) and the tokens they
  // hand out, one per connected browser; both stored only as hashes.
  `
  CREATE TABLE connect_codes (
    code_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
  );
  CREATE INDEX connect_codes_expires ON connect_codes(expires_at);
  CREATE TABLE member_tokens (
    token_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX member_tokens_member ON member_tokens(member_id);
  CREATE TRIGGER member_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON member_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION retalk_members_changed();
  `,
  // Issue 8 (conform): how a job's inputs were made to fit, and what the relay's probe found in an upload.
  `
  ALTER TABLE jobs ADD COLUMN conform_mode TEXT NOT NULL DEFAULT 'off';
  ALTER TABLE jobs ADD COLUMN conform_json JSON;
  ALTER TABLE uploads ADD COLUMN probe_json JSON;
  `,
  // Issue 13 (pool of upstreams): the upstream each job was placed on; the index serves the
  // per-account slot count and the latest submit time (submit-slots.ts).
  `
  ALTER TABLE jobs ADD COLUMN upstream_name TEXT;
  CREATE INDEX jobs_upstream_name ON jobs(upstream_name, submit_started_at);
  `,
  // PostgreSQL only (issue 13, several instances): who polls which live job (a lease its instance
  // renews; another takes the job once it lapses), shared rate-limit windows, and a notification per
  // event so a member's stream on any instance hears of a write made on another. The payload stays
  // small (sequence, member, job); the event itself is read from the table.
  `
  CREATE TABLE job_leases (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX job_leases_owner ON job_leases(owner);
  CREATE TABLE rate_windows (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits INTEGER NOT NULL
  );
  CREATE FUNCTION retalk_event_added() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_notify('retalk_events', NEW.seq || ' ' || NEW.member_id || ' ' || NEW.job_id);
    RETURN NULL;
  END
  $$;
  CREATE TRIGGER events_added AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION retalk_event_added();
  `,
  // PostgreSQL only: rate windows are written on every signed-in request; unlogged, each write skips
  // the WAL and its flush (a crash forgets at most a minute of counts, which is harmless).
  `
  ALTER TABLE rate_windows SET UNLOGGED;
  `,
];
