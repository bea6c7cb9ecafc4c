import type { z } from 'zod';
import type { Clock } from '../clock.js';
import type { PollSchedule } from '../poll.js';
import type { LipSyncRequest, Provider, Task } from '../task.js';
import type { ErrorDetails, SendOptions, SendResult } from '../transport.js';
import type { ProviderCapabilities } from './capabilities.js';

/** What the client lends an adapter: the transport, the auth headers, a schema reader and the clock. */
export interface AdapterIO {
  /** Sends one provider request with the transport's retry rules (see `transport.ts`). */
  call(options: SendOptions): Promise<SendResult>;
  /** `authorization` (and the provider's account headers) for provider API requests. */
  headers(): Record<string, string>;
  /** Parses a provider body or throws `response_validation` naming the field. */
  parse<S extends z.ZodType>(schema: S, body: unknown, action: string): z.infer<S>;
  clock: Clock;
}

/** Options every adapter call takes. */
export interface AdapterCallOptions {
  signal?: AbortSignal | undefined;
}

/** Options of {@link ProviderAdapter.submit}. */
export interface AdapterSubmitOptions extends AdapterCallOptions {
  /** The submit's idempotency key, where the provider honours one (`capabilities.idempotentSubmit`). */
  idempotencyKey?: string | undefined;
}

/** Options of {@link ProviderAdapter.upload}. */
export interface AdapterUploadOptions extends AdapterCallOptions {
  filename: string;
  contentType: string;
}

/** A stored input file. */
export interface UploadedFile {
  /** URL to pass as `video`/`audio`/`refImage` (`oss://…` on DashScope, https on EvoLink). */
  url: string;
  /** When the file stops being available, ISO 8601 (DashScope 48 h, EvoLink 72 h). */
  expiresAt?: string;
}

/** One row of a provider's task list. */
export interface TaskSummary {
  id: string;
  /** When the task was created, in ms since the epoch (0 when the list does not say). */
  createdAt: number;
}

/** Options of {@link ProviderAdapter.listTasks}. */
export interface ListTasksOptions extends AdapterCallOptions {
  /** Only tasks created at or after this time, in ms since the epoch. */
  sinceMs: number;
}

/**
 * Everything Retalk knows about one provider, behind one object: its capabilities, how a request
 * is built and sent, how its errors and tasks are read, how files are stored and tasks listed.
 * `createClient` is the same code for every provider; a third provider is one more adapter.
 */
export interface ProviderAdapter {
  readonly provider: Provider;
  readonly capabilities: ProviderCapabilities;
  /** The resolved API base. */
  readonly baseUrl: string;
  /** Default polling cadence of `wait`/`watch` for this provider (the client's `poll` option overrides fields). */
  readonly pollSchedule: PollSchedule;
  /** Reads a provider error body into code/message/request id (every documented body form). */
  readError(body: unknown): ErrorDetails;
  /** Checks the request against what this provider takes (throws `invalid_request`), then creates the task. */
  submit(request: LipSyncRequest, options: AdapterSubmitOptions): Promise<Task>;
  /** Reads one task. */
  get(taskId: string, options: AdapterCallOptions): Promise<Task>;
  /** Cancels a task (`capabilities.cancel !== 'never'`); resolves once the provider accepted it. */
  cancel(taskId: string, options: AdapterCallOptions): Promise<void>;
  /** Stores a file in the provider's storage (`capabilities.upload` says which types). */
  upload(data: Blob, options: AdapterUploadOptions): Promise<UploadedFile>;
  /** Lists recent tasks (`capabilities.taskList`). */
  listTasks(options: ListTasksOptions): Promise<TaskSummary[]>;
  /** Reads a callback body (`capabilities.callbacks`) into a task. */
  readCallback(body: unknown, now: number): Task;
  /**
   * The shortest sensible wait before the next poll of `task`, in milliseconds, from what the
   * provider itself says about the time left; undefined when it says nothing.
   */
  pollFloorMs(task: Task): number | undefined;
}

/** Options every adapter factory takes (resolved once by `createClient`). */
export interface AdapterOptions {
  io: AdapterIO;
  /** API base override; default the provider's official host. */
  baseUrl?: string | undefined;
}
