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
  upstreamId: string | null;
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
 * Everything the relay keeps. SQLite (better-sqlite3, synchronous) implements it today; the
 * interface keeps routes and the tracker independent of it so another store can follow.
 */
export interface RelayStore {
  /** Runs `fn` atomically (budget checks and inserts happen together). */
  transaction<T>(fn: () => T): T;

  createMember(member: MemberRecord): void;
  getMember(id: string): MemberRecord | undefined;
  getMemberByName(name: string): MemberRecord | undefined;
  /**
   * The member a token hash signs in as: the member's own token, or one a connect link handed to
   * a browser. The record's `tokenHash` is the hash that matched.
   */
  findMemberByTokenHash(tokenHash: string): MemberRecord | undefined;
  createConnectCode(code: ConnectCodeRecord): void;
  getConnectCode(codeHash: string): ConnectCodeRecord | undefined;
  /** Marks a code used; false when it was used already (two browsers racing for one link). */
  markConnectCodeUsed(codeHash: string, at: number): boolean;
  addMemberToken(token: MemberTokenRecord): void;
  listMembers(): MemberRecord[];
  revokeMember(name: string, at: number): boolean;
  /** Changes whenever members may have changed (in this process or another, e.g. the CLI). */
  membersVersion(): string;

  createUpload(upload: UploadRecord): void;
  getUpload(id: string): UploadRecord | undefined;
  listExpiredUploads(now: number): UploadRecord[];
  /** Bytes and count of this member's uploads that have not expired at `now`. */
  uploadUsage(
    memberId: string,
    now: number,
  ): { bytes: number; count: number; oldestExpiresAt: number | null };
  deleteUpload(id: string): void;
  isUploadReferenced(uploadId: string): boolean;

  insertJob(job: JobRecord): void;
  getJob(id: string): JobRecord | undefined;
  getJobByCallbackToken(token: string): JobRecord | undefined;
  findJobByUpstreamId(upstreamId: string): JobRecord | undefined;
  findJobByIdempotencyKey(memberId: string, key: string): JobRecord | undefined;
  updateJob(id: string, patch: Partial<Omit<JobRecord, 'id' | 'memberId'>>): JobRecord;
  listJobs(filter: ListJobsFilter): JobRecord[];
  listLiveJobs(): JobRecord[];
  listUnarchivedJobs(): JobRecord[];
  listExpiredResults(now: number): JobRecord[];
  countActiveJobs(memberId: string): number;
  countJobsByStatus(): Record<string, number>;
  /** Output seconds settled (billed) and reserved (live jobs) by jobs created at or after `since`. */
  usage(memberId: string, since: number): { usedSeconds: number; reservedSeconds: number };

  appendEvent(memberId: string, jobId: string, payload: string, at: number): number;
  eventsAfter(memberId: string, seq: number, limit: number): EventRecord[];
  oldestEventSeq(): number | undefined;
  /** The member's newest event sequence number, if any. */
  latestEventSeq(memberId: string): number | undefined;
  pruneEvents(before: number): void;

  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;

  close(): void;
}
