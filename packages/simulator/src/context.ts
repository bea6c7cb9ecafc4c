import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimClock } from './clock.js';
import type { DashscopeErrorForm } from './dashscope.js';
import type { EvolinkFileStore } from './evolink-files.js';
import type { LocalFile, ReceivedInput } from './inputs.js';
import type { MediaLimits } from './media-limits.js';
import type { OssStore } from './oss.js';
import type { ResultMode } from './result-media.js';
import type { Scenario } from './scenario.js';
import type { Shutdown } from './shutdown.js';
import type { TaskEngine, TaskRecord } from './task-engine.js';

/** Options after defaults are applied (see SimulatorOptions in server.ts for the docs). */
export interface ResolvedOptions {
  host: string;
  port: number;
  apiKeys: string[];
  /** The DashScope account a key belongs to (the key itself unless `dashscopeAccounts` groups it). */
  dashscopeAccountOf(key: string): string;
  jobMs: number;
  fetchInputs: boolean;
  refusePrivateInputs: boolean;
  inputTimeoutMs: number;
  dashscopePrefixes: string[];
  dashscopeSubmitsPerSecond: number;
  dashscopeConcurrentTasks: number;
  dashscopeQueriesPerSecond: number;
  dashscopeGetPolicyPerSecond: number;
  dashscopeProcessingStates: boolean;
  dashscopeCancelError: { status: number; code: string; message: string };
  evolinkNumericErrorCodes: boolean;
  evolinkEstimatedTimeSec: number;
  allowInsecureCallbacks: boolean;
  callbackRetryDelaysMs: number[];
  callbackTimeoutMs: number;
  evolinkFilesMimeTypes: 'images' | 'media';
  evolinkCancelledStatus: 'failed' | 'cancelled';
  evolinkIdempotencyTtlMs: number;
  evolinkChargeReport: 'none' | 'credits_used' | 'cost';
  evolinkRequestIdHeader: 'x-request-id' | 'x-oneapi-request-id' | 'none';
  dashscopeErrorForm: DashscopeErrorForm;
  evolinkFilesQuota: number;
  evolinkFilesMaxBytes: number;
  mediaLimits: MediaLimits;
  resultMode: ResultMode;
}

export interface CallbackAttempt {
  taskId: string;
  url: string;
  attempt: number;
  /** HTTP status of the receiver's answer, or undefined when the request failed. */
  status?: number;
  error?: string;
  ok: boolean;
  /** True when no further attempt follows (delivered, or the retries are used up). */
  final: boolean;
}

/** One create request as the simulator received it (before any validation). */
export interface CreateRequestRecord {
  provider: 'evolink' | 'dashscope';
  /** The `Idempotency-Key` header, or null when there was none. */
  idempotencyKey: string | null;
}

export interface SimStats {
  requests: Record<string, number>;
  /** Every create request in arrival order, answered or not. */
  createRequests: CreateRequestRecord[];
  tasks: Record<string, { queries: number }>;
  submits: number;
  throttled: number;
  callbacks: CallbackAttempt[];
  /** Every task input the simulator received, in arrival order: what the provider would get. */
  inputs: Array<ReceivedInput & { taskId: string }>;
  /**
   * DashScope: the most tasks one account held at once that had not ended (pending or running),
   * by account (`account-N` of `dashscopeAccounts`, else `key-N`, the key's place in `apiKeys`; keys are never shown). A client
   * that keeps to one task per account never makes this exceed 1.
   */
  peakTasksPerAccount: Record<string, number>;
}

/** An answer every request made with one key gets until it is cleared (`setOutage`). */
export interface Outage {
  /** HTTP status, e.g. 503 for a storm, 401 for a revoked key, 400 `Arrearage` for an unpaid account. */
  status: number;
  /** The provider's error code; default the status's usual one. */
  code?: string;
  message?: string;
}

/** An EvoLink create remembered under its `Idempotency-Key` (per key of the account). */
export interface IdempotencyEntry {
  /** The request body, canonical JSON: a repeat with another body is a conflict. */
  body: string;
  /** The original create answer, replayed as it was. */
  answer: Record<string, unknown>;
  at: number;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

/** What the provider modules share: the clock, the tasks, counters, timers and the stores. */
export interface SimContext {
  options: ResolvedOptions;
  clock: SimClock;
  engine: TaskEngine;
  oss: OssStore;
  evolinkFiles: EvolinkFileStore;
  /** EvoLink's `Idempotency-Key` ledger, by `<api key>|<idempotency key>`. */
  evolinkIdempotency: Map<string, IdempotencyEntry>;
  /** DashScope keys in an outage (`setOutage`), with their answer. */
  outages: Map<string, Outage>;
  stats: SimStats;
  baseUrl(): string;
  count(endpoint: string): void;
  countTaskQuery(taskId: string): void;
  /** Sliding one-second window per key on the simulator clock; false when over `limit`. */
  takeRate(bucket: string, limit: number): boolean;
  /** Builds the task's scenario from nextScenario(), X-Sim-Scenario and `?sim=` on the video URL. */
  scenarioFor(req: IncomingMessage, videoUrl: unknown): Scenario;
  /** True for a retry-after request seen first for `key`; false for its retry (then forgotten). */
  firstRetryAfter(key: string): boolean;
  startTask(task: TaskRecord): void;
  resolveLocal(url: string): LocalFile | undefined;
  workDir(): Promise<string>;
  setTimer(fn: () => void, ms: number): void;
  /** Aborts in-flight downloads and callbacks at close(); link() per operation, release() after. */
  shutdown: Shutdown;
  fixturePath(name: string): string;
  log(line: string): void;
}
