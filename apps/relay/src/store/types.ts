import type { ProbedMedia, Provider } from '@retalk/core';
import type {
  BudgetPeriod,
  ConformMode,
  JobError,
  JobInput,
  JobStatus,
  MediaKind,
  UploadMedia,
} from '@retalk/core/relay';

/** Times are epoch milliseconds inside the relay; the API turns them into ISO strings. */
export interface MemberRecord {
  id: string;
  name: string;
  tokenHash: string;
  createdAt: number;
  revokedAt: number | null;
  budgetSeconds: number | null;
  period: BudgetPeriod | null;
  maxConcurrentJobs: number | null;
}

/** A single-use connect link's code (only its hash is kept). */
export interface ConnectCodeRecord {
  codeHash: string;
  memberId: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** A token a connect link handed to one browser; it signs in as the member like the member's own. */
export interface MemberTokenRecord {
  tokenHash: string;
  memberId: string;
  /** Where it came from, for the admin ("connect link"). */
  label: string;
  createdAt: number;
}

export interface UploadRecord {
  id: string;
  memberId: string;
  kind: MediaKind;
  filename: string;
  /** Path of the stored file relative to the storage root. */
  storageKey: string;
  sizeBytes: number;
  sha256: string;
  contentType: string;
  media: UploadMedia;
  /** The full probe (conform plans start from it); absent for uploads stored before issue 8. */
  probe?: ProbedMedia | undefined;
  createdAt: number;
  expiresAt: number;
}

export interface JobInputRecord {
  video: JobInput;
  audio: JobInput;
  refImage?: JobInput | undefined;
  videoExtension: boolean;
  faceThreshold?: number | undefined;
  /**
   * Times the job was sent again because the provider could not fetch its inputs while the relay
   * restarted (tracker.ts); part of the submit's idempotency key. Absent for the first submit.
   */
  submitAttempt?: number | undefined;
}

/** One input as the provider gets it: a stored file (the relay's copy, conformed or as is). */
export interface PreparedInputRecord {
  /** Upload record of the file the provider receives (a fetched copy, a conformed file, or the upload itself). */
  uploadId: string;
  changes: string[];
  media: UploadMedia;
}

/** What the `preparing` phase made of the inputs. `ready` once every input is stored and measured. */
export interface JobConformRecord {
  ready: boolean;
  video?: PreparedInputRecord | undefined;
  audio?: PreparedInputRecord | undefined;
  refImage?: PreparedInputRecord | undefined;
}

export interface JobRecord {
  id: string;
  memberId: string;
  status: JobStatus;
  progress: number;
  etaMs: number | null;
  provider: Provider;
  /** The provider's task id, once submitted. */
  upstreamId: string | null;
  /**
   * The pool upstream (upstreams.ts) the job was placed on, set with `submitStartedAt`; its polls
   * and cancel go through that upstream. Null: not placed yet, or stored before the pool existed
   * (then it belongs to the default upstream).
   */
  upstreamName: string | null;
  title: string | null;
  sourcePageUrl: string | null;
  input: JobInputRecord;
  conformMode: ConformMode;
  /** Set by the `preparing` phase; null for jobs that needed none (uploads that already fit). */
  conform: JobConformRecord | null;
  estimatedSeconds: number;
  billedSeconds: number | null;
  error: JobError | null;
  /** Set right before the create call upstream: a job with this set and no upstreamId was interrupted. */
  submitStartedAt: number | null;
  callbackToken: string;
  idempotencyKey: string | null;
  requestHash: string | null;
  cancelRequested: boolean;
  upstreamResultUrl: string | null;
  upstreamResultExpiresAt: number | null;
  resultKey: string | null;
  resultSizeBytes: number | null;
  resultSha256: string | null;
  resultContentType: string | null;
  resultExpiresAt: number | null;
  archiveAttempts: number;
  createdAt: number;
  updatedAt: number;
  submittedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface ListJobsFilter {
  memberId: string;
  limit: number;
  statuses?: readonly JobStatus[] | undefined;
  /** Return jobs strictly older than this position (createdAt desc, id desc). */
  before?: { createdAt: number; id: string } | undefined;
}

export interface EventRecord {
  seq: number;
  memberId: string;
  jobId: string;
  payload: string;
  createdAt: number;
}

/**
 * The reads and writes of the relay's data. Every method is asynchronous, so a store can sit behind
 * a network connection (PostgreSQL) as well as in-process (SQLite).
 */
export interface RelayQueries {
  createMember(member: MemberRecord): Promise<void>;
  getMember(id: string): Promise<MemberRecord | undefined>;
  getMemberByName(name: string): Promise<MemberRecord | undefined>;
  /**
   * The member a token hash signs in as: the member's own token, or one a connect link handed to
   * a browser. The record's `tokenHash` is the hash that matched.
   */
  findMemberByTokenHash(tokenHash: string): Promise<MemberRecord | undefined>;
  createConnectCode(code: ConnectCodeRecord): Promise<void>;
  getConnectCode(codeHash: string): Promise<ConnectCodeRecord | undefined>;
  /** Marks a code used; false when it was used already (two browsers racing for one link). */
  markConnectCodeUsed(codeHash: string, at: number): Promise<boolean>;
  addMemberToken(token: MemberTokenRecord): Promise<void>;
  listMembers(): Promise<MemberRecord[]>;
  revokeMember(name: string, at: number): Promise<boolean>;

  createUpload(upload: UploadRecord): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  listExpiredUploads(now: number): Promise<UploadRecord[]>;
  /** Bytes and count of this member's uploads that have not expired at `now`. */
  uploadUsage(
    memberId: string,
    now: number,
  ): Promise<{ bytes: number; count: number; oldestExpiresAt: number | null }>;
  deleteUpload(id: string): Promise<void>;
  isUploadReferenced(uploadId: string): Promise<boolean>;

  insertJob(job: JobRecord): Promise<void>;
  getJob(id: string): Promise<JobRecord | undefined>;
  getJobByCallbackToken(token: string): Promise<JobRecord | undefined>;
  findJobByUpstreamId(upstreamId: string): Promise<JobRecord | undefined>;
  findJobByIdempotencyKey(memberId: string, key: string): Promise<JobRecord | undefined>;
  updateJob(id: string, patch: Partial<Omit<JobRecord, 'id' | 'memberId'>>): Promise<JobRecord>;
  listJobs(filter: ListJobsFilter): Promise<JobRecord[]>;
  listLiveJobs(): Promise<JobRecord[]>;
  listUnarchivedJobs(): Promise<JobRecord[]>;
  listExpiredResults(now: number): Promise<JobRecord[]>;
  countActiveJobs(memberId: string): Promise<number>;
  countJobsByStatus(): Promise<Record<string, number>>;
  /** Output seconds settled (billed) and reserved (live jobs) by jobs created at or after `since`. */
  usage(memberId: string, since: number): Promise<{ usedSeconds: number; reservedSeconds: number }>;
  /**
   * What an upstream account holds now: jobs placed on one of `upstreamNames` whose submit began
   * and whose provider task has not ended, and when the latest submit on them began. With
   * `unplacedBesides` (every configured upstream name), jobs placed on none of those count too:
   * stored before the pool, or on an upstream since removed from the file; they belong to the
   * first upstream, whose account this is.
   */
  accountLoad(
    upstreamNames: readonly string[],
    unplacedBesides: readonly string[] | null,
  ): Promise<{ inFlight: number; lastSubmitAt: number | null }>;
  /** Live jobs placed per upstream (null: not placed, or placed before the pool), submitted ones apart. */
  upstreamLoads(): Promise<{ upstreamName: string | null; live: number; inFlight: number }[]>;

  appendEvent(memberId: string, jobId: string, payload: string, at: number): Promise<number>;
  eventsAfter(memberId: string, seq: number, limit: number): Promise<EventRecord[]>;
  oldestEventSeq(): Promise<number | undefined>;
  /** The member's newest event sequence number, if any. */
  latestEventSeq(memberId: string): Promise<number | undefined>;
  pruneEvents(before: number): Promise<void>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
}

/**
 * The handle a transaction's function receives: every statement made through it runs on the
 * transaction's own connection. Using the store itself inside `transaction` is an error (SQLite would
 * wait for its own lock; PostgreSQL would run the statement outside the transaction).
 */
export interface RelayTransaction extends RelayQueries {
  /**
   * Serializes this transaction with every other one that locks the same member, until it ends
   * (budget and concurrency checks followed by an insert). Call it before reading what it protects.
   */
  lockMember(memberId: string): Promise<void>;
  /** The job, locked against other writers until the transaction ends (read, decide, write). */
  lockJob(id: string): Promise<JobRecord | undefined>;
  /**
   * Serializes this transaction with every other one, in any relay process on the database, that
   * locks the same provider account until it ends (the submit-slot decision, submit-slots.ts).
   */
  lockAccount(account: string): Promise<void>;
  /** Runs `fn` once the transaction has committed (never after a rollback), e.g. a live push. */
  afterCommit(fn: () => void): void;
  /**
   * PostgreSQL only (several instances): leases the job to `owner` until `expiresAt`, in this
   * transaction, so a job and the lease of the instance that created it appear together.
   */
  leaseJob?(jobId: string, owner: string, expiresAt: number): Promise<void>;
  /**
   * PostgreSQL only (several instances): when `owner` still holds the job's lease, extends it to at
   * least `expiresAt` and keeps its row locked until the transaction ends (no other instance takes
   * it over meanwhile); answers false when another instance holds it, or nobody does.
   */
  holdLease?(jobId: string, owner: string, expiresAt: number): Promise<boolean>;
}

/** A notification that an event was stored (by any instance): small, the event is read from the store. */
export interface EventNotice {
  seq: number;
  memberId: string;
  jobId: string;
}

/**
 * What several relay instances on one database coordinate through (PostgreSQL only; SQLite is one
 * process). Each instance has an id (`owner`); a live job is polled by the instance holding its lease.
 */
export interface ClusterStore {
  /** Renews every lease `owner` holds until `expiresAt` and drops those of ended jobs; answers the job ids held. */
  renewLeases(owner: string, expiresAt: number): Promise<string[]>;
  /**
   * Takes up to `limit` live jobs whose lease lapsed before `now` (their instance died or stalled)
   * or that have none, for `owner` until `expiresAt`; rows another instance is claiming are skipped
   * (`FOR UPDATE SKIP LOCKED`). Answers the jobs taken, each with the instance that held it before
   * (null for a job nobody had leased: stored before leases existed).
   */
  claimOrphans(
    owner: string,
    now: number,
    expiresAt: number,
    limit: number,
  ): Promise<Array<{ jobId: string; previousOwner: string | null }>>;
  /** Gives up every lease of `owner` (a clean stop): the other instances take the jobs at their next pass. */
  releaseLeases(owner: string): Promise<void>;
  /** Counts one hit in `key`'s window (aligned to `windowMs`); answers the hits in it so far and its start. */
  hitRateWindow(key: string, windowMs: number, now: number): Promise<{ hits: number; windowStart: number }>;
  /** Deletes rate windows that started before `before`. */
  pruneRateWindows(before: number): Promise<void>;
  /**
   * Stores an upstream's shared health record (`upstream_health:<name>` meta) and notifies every
   * instance (`onUpstreamHealth`) once it is committed. With `expected`, writes only while the stored
   * record is still exactly that text (one instance wins a race, e.g. to probe); answers whether it
   * wrote.
   */
  shareUpstreamHealth(name: string, record: string, expected?: string): Promise<boolean>;
  /**
   * Hears what every instance does, on one connection: each stored event in commit order (which is
   * sequence order per member), and each upstream health record shared. After a lost connection is
   * back, `onGap` runs first (notices may have been missed). Answers a function that stops listening.
   */
  listen(listener: ClusterListener): Promise<() => Promise<void>>;
}

/** What {@link ClusterStore.listen} calls. */
export interface ClusterListener {
  onEvent(notice: EventNotice): void;
  /** An instance shared a new health record of this upstream (read it from the meta). */
  onUpstreamHealth(name: string): void;
  onGap(): void;
}

/**
 * Everything the relay keeps. SQLite (better-sqlite3, the embedded default) and PostgreSQL
 * (`RETALK_DATABASE_URL`) implement it; routes and the tracker see only this interface.
 */
export interface RelayStore extends RelayQueries {
  /** Which database this is (for logs and `/healthz`). */
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs `fn` atomically: it commits when `fn` resolves and rolls back when it throws. All of its
   * statements go through `tx` (one connection). Transactions do not nest; pass `tx` down instead.
   */
  transaction<T>(fn: (tx: RelayTransaction) => Promise<T>): Promise<T>;
  /** Changes whenever members may have changed (in this process or another, e.g. the CLI). */
  membersVersion(): Promise<string>;
  /** Present on PostgreSQL: what several instances on one database coordinate through. */
  readonly cluster?: ClusterStore | undefined;
  close(): Promise<void>;
}
