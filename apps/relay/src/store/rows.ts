import type { ConnectCodeRecord, EventRecord, JobRecord, MemberRecord, UploadRecord } from './types.js';

/** A row as a driver returns it: SQLite gives JSON as text and booleans as 0/1, PostgreSQL parses both. */
export type Row = Record<string, unknown>;

/** Job fields and their columns, shared by both stores (the schemas name them alike). */
export const JOB_COLUMNS: Record<string, string> = {
  status: 'status',
  progress: 'progress',
  etaMs: 'eta_ms',
  provider: 'provider',
  upstreamId: 'upstream_id',
  upstreamName: 'upstream_name',
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

/** Job fields in column order (the insert's order). */
export const JOB_FIELDS = Object.keys(JOB_COLUMNS) as (keyof JobRecord)[];

/** Job states that hold a reservation and a poller. */
export const LIVE_STATUSES = ['received', 'preparing', 'submitted', 'queued', 'running'] as const;

/** A job field as a column value: JSON as text, the cancel flag as a boolean or 0/1. */
export function jobValue(key: string, value: unknown, booleans: 'int' | 'bool'): unknown {
  if (key === 'input' || key === 'error' || key === 'conform')
    return value === null || value === undefined ? null : JSON.stringify(value);
  if (key === 'cancelRequested') return booleans === 'int' ? (value ? 1 : 0) : Boolean(value);
  return value ?? null;
}

function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

const orNull = <T>(value: unknown): T | null => (value as T | null | undefined) ?? null;

export function memberFromRow(r: Row): MemberRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    tokenHash: r.token_hash as string,
    createdAt: r.created_at as number,
    revokedAt: orNull(r.revoked_at),
    budgetSeconds: orNull(r.budget_seconds),
    period: orNull(r.period),
    maxConcurrentJobs: orNull(r.max_concurrent_jobs),
  };
}

export function connectCodeFromRow(r: Row): ConnectCodeRecord {
  return {
    codeHash: r.code_hash as string,
    memberId: r.member_id as string,
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    usedAt: orNull(r.used_at),
  };
}

export function uploadFromRow(r: Row): UploadRecord {
  return {
    id: r.id as string,
    memberId: r.member_id as string,
    kind: r.kind as UploadRecord['kind'],
    filename: r.filename as string,
    storageKey: r.storage_key as string,
    sizeBytes: r.size_bytes as number,
    sha256: r.sha256 as string,
    contentType: r.content_type as string,
    media: json(r.media_json),
    ...(r.probe_json ? { probe: json(r.probe_json) } : {}),
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
  };
}

export function jobFromRow(r: Row): JobRecord {
  return {
    id: r.id as string,
    memberId: r.member_id as string,
    status: r.status as JobRecord['status'],
    progress: r.progress as number,
    etaMs: orNull(r.eta_ms),
    provider: r.provider as JobRecord['provider'],
    upstreamId: orNull(r.upstream_id),
    upstreamName: orNull(r.upstream_name),
    title: orNull(r.title),
    sourcePageUrl: orNull(r.source_page_url),
    input: json(r.input_json),
    conformMode: (r.conform_mode as JobRecord['conformMode']) ?? 'off',
    conform: r.conform_json ? json(r.conform_json) : null,
    estimatedSeconds: r.estimated_seconds as number,
    billedSeconds: orNull(r.billed_seconds),
    error: r.error_json ? json(r.error_json) : null,
    submitStartedAt: orNull(r.submit_started_at),
    callbackToken: r.callback_token as string,
    idempotencyKey: orNull(r.idempotency_key),
    requestHash: orNull(r.request_hash),
    cancelRequested: r.cancel_requested === 1 || r.cancel_requested === true,
    upstreamResultUrl: orNull(r.upstream_result_url),
    upstreamResultExpiresAt: orNull(r.upstream_result_expires_at),
    resultKey: orNull(r.result_key),
    resultSizeBytes: orNull(r.result_size_bytes),
    resultSha256: orNull(r.result_sha256),
    resultContentType: orNull(r.result_content_type),
    resultExpiresAt: orNull(r.result_expires_at),
    archiveAttempts: r.archive_attempts as number,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    submittedAt: orNull(r.submitted_at),
    startedAt: orNull(r.started_at),
    finishedAt: orNull(r.finished_at),
  };
}

export function eventFromRow(r: Row): EventRecord {
  return {
    seq: r.seq as number,
    memberId: r.member_id as string,
    jobId: r.job_id as string,
    payload: r.payload as string,
    createdAt: r.created_at as number,
  };
}
