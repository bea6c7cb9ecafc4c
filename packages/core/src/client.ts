import type { z } from 'zod';
import { parseCallback } from './callback.js';
import { type Clock, systemClock } from './clock.js';
import {
  AbortError,
  InvalidRequestError,
  NotSupportedError,
  ResponseValidationError,
  type RetalkError,
  TaskFailedError,
} from './errors.js';
import { type PollSchedule, pollTask } from './poll.js';
import { taskHintFor } from './provider-errors.js';
import type {
  AdapterIO,
  ListTasksOptions,
  ProviderAdapter,
  TaskSummary,
  UploadedFile,
} from './providers/adapter.js';
import { acceptsUpload, PROVIDER_CAPABILITIES, type ProviderCapabilities } from './providers/capabilities.js';
import { createProviderAdapter } from './providers/index.js';
import { type AccountPacing, createAccountPacing } from './rate-limiter.js';
import { DEFAULT_READ_RETRIES, DEFAULT_SUBMIT_RETRIES } from './retry.js';
import { type LipSyncRequest, PROVIDERS, type Provider, parseLipSyncRequest, type Task } from './task.js';
import { type FetchLike, send, type TransportOptions } from './transport.js';

export type { ListTasksOptions, TaskSummary, UploadedFile } from './providers/adapter.js';

/** Per-request time limit, in milliseconds (default 30 000 ms). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Largest provider answer a client reads, in bytes (1 MiB; a task status is a few KB). */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** `'evolink'` or `'dashscope'`. */
  provider: Provider;
  /** The provider API key. Sent only as `Authorization: Bearer`; never in messages. */
  apiKey: string;
  /**
   * API base. EvoLink: the origin, default `https://api.evolink.ai`. DashScope: the `/api/v1` base,
   * default `https://dashscope.aliyuncs.com/api/v1`; reseller prefixes such as
   * `https://host/qwen/api/v1` work as they are (a bare origin gets `/api/v1` appended).
   */
  baseUrl?: string | undefined;
  /**
   * EvoLink files-API origin. Default `https://files-api.evolink.ai`, or `baseUrl` when only
   * `baseUrl` was overridden (a simulator or proxy serves both on one origin).
   */
  filesBaseUrl?: string | undefined;
  /** `fetch` implementation. Default `globalThis.fetch`. */
  fetch?: FetchLike | undefined;
  /** Node only: an undici dispatcher passed as `init.dispatcher` (see `@retalk/core/node`). Default none. */
  dispatcher?: unknown;
  /** Time source and timers (ms). Default {@link systemClock} (`Date.now` + `setTimeout`); tests inject a fake. */
  clock?: Clock | undefined;
  /** Random source in [0, 1) for jitter. Default `Math.random`. */
  random?: (() => number) | undefined;
  /**
   * Polling cadence of `wait`/`watch`/`run` (durations in ms); fields left out keep the
   * provider's default: 3 polls 1000 ms apart, then ×1.5 per poll up to 15 000 ms on DashScope
   * (the Qwen platform's advice for videoretalk) or 8 000 ms on EvoLink (its own client's
   * cadence), each delay ±20 % jitter. Query counts per job: `pnpm bench`.
   */
  poll?: Partial<PollSchedule> | undefined;
  /**
   * Retries (a count) of a failed read on 429/5xx/network, waiting 500 ms doubling up to 8000 ms
   * (half of it random), or longer when `Retry-After` says so. Default 4.
   */
  readRetries?: number | undefined;
  /** Retries (a count) of a submit or upload that provably created nothing (429, refused connection). Default 3. */
  submitRetries?: number | undefined;
  /** Time limit of one HTTP request, in milliseconds. Default {@link DEFAULT_REQUEST_TIMEOUT_MS} (30 000 ms). */
  requestTimeoutMs?: number | undefined;
  /**
   * Told of every failed attempt that is about to be retried (a call's last failure is thrown, not
   * told here): a caller keeping the provider's health sees a storm while a read still retries.
   */
  onRetry?: ((error: RetalkError) => void) | undefined;
  /**
   * Largest answer body read from the provider, in bytes. Default {@link DEFAULT_MAX_RESPONSE_BYTES}
   * (1 MiB). A larger answer is not read past the limit and fails as `provider_unavailable`.
   */
  maxResponseBytes?: number | undefined;
  /**
   * DashScope: task queries per second shared by every `get`/`wait`/`watch`/`cancel` of this
   * client (the account allows 20). Default 20 (a bucket of 2 refilled at 18 per second);
   * `Infinity` turns pacing off.
   */
  queriesPerSecond?: number | undefined;
  /**
   * DashScope: task submissions per second shared by every `submit`/`run` of this client, retries
   * included (videoretalk allows 1), so a burst of submits waits its turn instead of collecting
   * 429s. Default 1 (submits start at least 1000 ms apart); `Infinity` turns pacing off. A 429
   * that still comes back (another client on the same key) is retried as before.
   */
  submitsPerSecond?: number | undefined;
  /**
   * DashScope: the account's pacing, shared by the clients of every key of one Alibaba Cloud
   * account (its limits are per account, audit row 6); see {@link createAccountPacing}. Default:
   * a pacing of this client's own from `queriesPerSecond` and `submitsPerSecond`.
   */
  pacing?: AccountPacing | undefined;
  /** DashScope: expected running time of a task, in milliseconds, for estimated progress. Default 120 000 ms. */
  typicalJobMs?: number | undefined;
  /** DashScope: `X-DashScope-WorkSpace` sub-workspace id. Default none (the key's default workspace). */
  workspace?: string | undefined;
  /**
   * EvoLink: also send audio and video through the files API. Its docs accept images only
   * (jpeg/png/gif/webp); EvoLink's own MCP client sends audio and video too (audit row 3). Default
   * false: `uploadFile` refuses non-images with `not_supported` before anything is sent.
   */
  evolinkUploadMedia?: boolean | undefined;
}

/** Options of calls that make one request. */
export interface CallOptions {
  /** Aborts the call (including a wait for its turn); it then rejects with code `aborted`. Default none. */
  signal?: AbortSignal | undefined;
}

/** Options of `submit`. */
export interface SubmitOptions extends CallOptions {
  /**
   * EvoLink: the `Idempotency-Key` of this submit; a repeat with the same key answers the first
   * task instead of creating (and billing) another. Default: a fresh random key per call. Keep one
   * key per intent (e.g. the relay job id) to make a submit repeatable after a crash.
   */
  idempotencyKey?: string | undefined;
}

/** Options of `wait`, `watch` and `run`. */
export interface WaitOptions extends CallOptions {
  /** Gives up after this many milliseconds with a `timeout` error (`run`: submit included). Default: no deadline. */
  timeoutMs?: number | undefined;
  /**
   * Delay of the first polls, in milliseconds; later polls back off from it. When given, it wins
   * over the provider's ETA hint (EvoLink `estimated_time`). Default the client's `poll.intervalMs`
   * (1000 ms).
   */
  intervalMs?: number | undefined;
  /** Called with every changed task (status, progress, ETA), the terminal one included. Default none. */
  onUpdate?: ((task: Task) => void) | undefined;
}

/** Options of `uploadFile`. */
export interface UploadOptions extends CallOptions {
  /** File name stored at the provider (`talk.mp4`); unsafe characters become `_`. Required. */
  filename: string;
  /** MIME type (`video/mp4`, `audio/wav`, `image/png`). Required. */
  contentType: string;
}

/** A VideoRetalk client for one provider and key. Plain object; every method is safe to pass around. */
export interface Client {
  readonly provider: Provider;
  /** What this provider can do (cancel, task list, uploads, limits and their scope), as data. */
  readonly capabilities: ProviderCapabilities;
  /** The resolved API base URL. */
  readonly baseUrl: string;
  /**
   * Creates a task. Validates the request first (throws `invalid_request` naming the field).
   * Never silently repeated in a way that could bill twice.
   * @example const task = await client.submit({ video: 'https://…/in.mp4', audio: 'https://…/speech.wav' });
   */
  submit(request: LipSyncRequest, options?: SubmitOptions): Promise<Task>;
  /** Reads a task once (retrying 429/5xx/network). */
  get(taskId: string, options?: CallOptions): Promise<Task>;
  /** Cancels a queued task (`capabilities.cancel`: DashScope while PENDING); `not_supported` where the provider cannot. */
  cancel(taskId: string, options?: CallOptions): Promise<Task>;
  /**
   * Polls until the task ends. Resolves with the succeeded task; rejects with `TaskFailedError`
   * (code `task_failed`) when it failed, was canceled or expired.
   * @example const done = await client.wait(task.id, { timeoutMs: 600_000, onUpdate: (t) => console.log(t.progress) });
   */
  wait(taskId: string, options?: WaitOptions): Promise<Task>;
  /**
   * Yields the task each time it changes, ending after the terminal state (which it yields, not
   * throws). Breaking out of the loop stops polling and clears every timer.
   * @example for await (const t of client.watch(id)) render(t);
   */
  watch(taskId: string, options?: WaitOptions): AsyncIterable<Task>;
  /**
   * `submit` + `wait`. `timeoutMs` covers both.
   * @example const result = await client.run({ video, audio, videoExtension: true }); console.log(result.resultUrl);
   */
  run(request: LipSyncRequest, options?: WaitOptions): Promise<Task>;
  /**
   * Stores a local file in the provider's own storage and returns a URL to submit: DashScope
   * temporary upload (`oss://`, 48 h; the client adds `X-DashScope-OssResourceResolve` when it
   * is submitted), EvoLink files API (https, 72 h).
   * @example const { url } = await client.uploadFile(bytes, { filename: 'a.wav', contentType: 'audio/wav' });
   */
  uploadFile(data: Blob | Uint8Array, options: UploadOptions): Promise<UploadedFile>;
  /**
   * Lists the tasks created since `sinceMs` (`capabilities.taskList`), newest first; `not_supported`
   * where the provider has no task list.
   */
  listTasks(options: ListTasksOptions): Promise<TaskSummary[]>;
  /**
   * Finds what became of a submit whose answer was lost (a crash, a timeout): repeats it with
   * the same idempotency key where the provider honours one and the key is recent, else looks for
   * tasks created since the submit began that `isKnown` does not claim. Never creates a second
   * task for one key; see {@link SubmitRecovery} for the outcomes.
   */
  recoverSubmit(request: LipSyncRequest, options: RecoverSubmitOptions): Promise<SubmitRecovery>;
  /**
   * Reads a provider callback body (`capabilities.callbacks`) into a task. Callbacks are unsigned:
   * treat it as a hint and re-read the task with `get()` before acting on it.
   */
  readCallback(body: unknown): Task;
}

/** Options of {@link Client.recoverSubmit}. */
export interface RecoverSubmitOptions extends CallOptions {
  /** The idempotency key the lost submit was sent with (`submit(…, { idempotencyKey })`). */
  idempotencyKey: string;
  /** When the lost submit began, in ms since the epoch. */
  startedAt: number;
  /**
   * True for a provider task id already owned by another job (so it is not adopted twice); may
   * answer a promise (a store behind a network connection).
   */
  isKnown(taskId: string): boolean | Promise<boolean>;
}

/**
 * What {@link Client.recoverSubmit} found:
 * - `found`: the submit's task (repeated under the same key, or the one new task in the list);
 * - `absent`: the provider has no task from it, so submitting again cannot bill twice;
 * - `unknown`: it cannot tell (several candidates, or no way to look); do not submit again blindly.
 */
export type SubmitRecovery =
  | { outcome: 'found'; task: Task; via: 'idempotency' | 'task_list' }
  | { outcome: 'absent' }
  | { outcome: 'unknown'; reason: string };

/**
 * How long after a submit began a repeat under the same idempotency key is trusted to answer the
 * first task (10 min). EvoLink publishes no retention for its keys; past this the task list decides.
 */
export const IDEMPOTENCY_WINDOW_MS = 10 * 60_000;

function rate(field: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v <= 0) {
    throw new InvalidRequestError(`${field} must be a number > 0 (or Infinity to turn pacing off)`, {
      field,
      allowed: 'a number > 0 or Infinity',
    });
  }
  return v;
}

/**
 * Creates a VideoRetalk client for EvoLink or DashScope. Configuration is validated here, once.
 *
 * @example
 * const client = createClient({ provider: 'dashscope', apiKey: process.env.RETALK_API_KEY! });
 * const task = await client.run({ video: 'https://example.com/in.mp4', audio: 'https://example.com/speech.wav' },
 *   { onUpdate: (t) => console.log(t.status, t.progress) });
 * console.log(task.resultUrl);
 */
export function createClient(options: ClientOptions): Client {
  const provider = options.provider;
  if (!(PROVIDERS as readonly string[]).includes(provider)) {
    throw new InvalidRequestError(`Unknown provider "${String(provider)}"`, {
      field: 'provider',
      allowed: PROVIDERS.join(' | '),
    });
  }
  if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') {
    throw new InvalidRequestError('apiKey is missing: pass the provider API key (e.g. from RETALK_API_KEY)', {
      field: 'apiKey',
      allowed: 'a non-empty string',
    });
  }
  const fetchImpl: FetchLike | undefined =
    options.fetch ?? (globalThis.fetch?.bind(globalThis) as FetchLike | undefined);
  if (!fetchImpl) {
    throw new InvalidRequestError('No fetch available: pass the fetch option', {
      field: 'fetch',
      allowed: 'a fetch function',
    });
  }
  const clock: Clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const apiKey = options.apiKey.trim();
  const auth = `Bearer ${apiKey}`;

  // The adapter is built below; the transport reads its errors through this late-bound reference.
  let adapter: ProviderAdapter;
  const transport: TransportOptions = {
    provider,
    fetch: fetchImpl,
    clock,
    random,
    readRetries: options.readRetries ?? DEFAULT_READ_RETRIES,
    writeRetries: options.submitRetries ?? DEFAULT_SUBMIT_RETRIES,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    dispatcher: options.dispatcher,
    readError: (body) => adapter.readError(body),
    secret: apiKey,
    onRetry: options.onRetry,
  };
  const io: AdapterIO = {
    call: (o) => send(transport, o),
    headers: () => ({ authorization: auth }),
    parse: (schema, body, action) => parseWith(schema, body, provider, action),
    clock,
  };
  const limits = PROVIDER_CAPABILITIES[provider].limits;
  adapter = createProviderAdapter(provider, {
    io,
    baseUrl: options.baseUrl,
    filesBaseUrl: options.filesBaseUrl,
    uploadMedia: options.evolinkUploadMedia,
    submitRetries: transport.writeRetries,
    // One pacing per account where the provider publishes its limits (the caller's shared one wins).
    pacing: () =>
      options.pacing ??
      createAccountPacing({
        queriesPerSecond: rate(
          'queriesPerSecond',
          options.queriesPerSecond,
          limits.queriesPerSecond ?? Infinity,
        ),
        submitsPerSecond: rate(
          'submitsPerSecond',
          options.submitsPerSecond,
          limits.submitsPerSecond ?? Infinity,
        ),
        clock,
      }),
    typicalJobMs: options.typicalJobMs,
    workspace: options.workspace,
  });
  const { capabilities } = adapter;
  const schedule: PollSchedule = { ...adapter.pollSchedule, ...options.poll };

  const checkId = (taskId: string) => {
    if (typeof taskId !== 'string' || taskId.trim() === '') {
      throw new InvalidRequestError('taskId is empty', {
        field: 'taskId',
        allowed: 'the id returned by submit()',
      });
    }
  };

  const submit = async (request: LipSyncRequest, opts: SubmitOptions = {}): Promise<Task> =>
    adapter.submit(parseLipSyncRequest(request), opts);

  const get = async (taskId: string, opts: CallOptions = {}): Promise<Task> => {
    checkId(taskId);
    return adapter.get(taskId, opts);
  };

  const cancel = async (taskId: string, opts: CallOptions = {}): Promise<Task> => {
    checkId(taskId);
    await adapter.cancel(taskId, opts);
    return adapter.get(taskId, opts);
  };

  const poll = (taskId: string, opts: WaitOptions, first?: Task, budgetMs?: number) =>
    pollTask(
      {
        provider,
        clock,
        random,
        // An explicit intervalMs is the caller's choice: it wins over the provider's ETA hint.
        schedule: opts.intervalMs === undefined ? schedule : { ...schedule, intervalMs: opts.intervalMs },
        floorMs: opts.intervalMs === undefined ? (task) => adapter.pollFloorMs(task) : undefined,
        get: (id, signal) => adapter.get(id, { signal }),
      },
      taskId,
      { signal: opts.signal, timeoutMs: opts.timeoutMs, onUpdate: opts.onUpdate, first, budgetMs },
    );

  const failure = (task: Task): RetalkError => {
    const code = task.error?.code ?? task.status;
    const hint = taskHintFor(provider, code);
    const message =
      task.status === 'expired'
        ? `Task ${task.id} expired: ${provider} no longer knows it (results and tasks are kept about 24 h)`
        : `Task ${task.id} ${task.status === 'canceled' ? 'was canceled' : 'failed'}: ${code}: ${
            task.error?.message ?? 'no reason given'
          }${hint ? `. ${hint}` : ''}`;
    return new TaskFailedError(message, {
      provider,
      providerCode: code,
      providerMessage: task.error?.message,
      retryable: task.error?.retryable ?? false,
      taskId: task.id,
      taskStatus: task.status,
      task,
    });
  };

  const waitFor = async (taskId: string, opts: WaitOptions = {}, first?: Task, budgetMs?: number) => {
    checkId(taskId);
    let last: Task | undefined;
    for await (const task of poll(taskId, opts, first, budgetMs)) last = task;
    if (!last) throw new AbortError(`Waiting for task ${taskId} ended without an answer`);
    if (last.status !== 'succeeded') throw failure(last);
    return last;
  };

  const listTasks = async (opts: ListTasksOptions): Promise<TaskSummary[]> => {
    if (!capabilities.taskList) {
      throw new NotSupportedError(`${capabilities.displayName} has no task list`, { provider });
    }
    return adapter.listTasks(opts);
  };

  return {
    provider,
    capabilities,
    baseUrl: adapter.baseUrl,
    submit,
    get,
    cancel,
    wait: (taskId, opts) => waitFor(taskId, opts),
    watch: (taskId, opts = {}) => {
      checkId(taskId);
      return { [Symbol.asyncIterator]: () => poll(taskId, opts) };
    },
    async run(request, opts = {}) {
      const started = clock.now();
      const task = await submit(request, { signal: opts.signal });
      const timeoutMs =
        opts.timeoutMs === undefined ? undefined : Math.max(0, opts.timeoutMs - (clock.now() - started));
      return waitFor(task.id, { ...opts, timeoutMs }, task, opts.timeoutMs);
    },
    async uploadFile(data, opts) {
      if (!opts || typeof opts.filename !== 'string' || opts.filename === '') {
        throw new InvalidRequestError('uploadFile needs a filename', {
          field: 'filename',
          allowed: 'e.g. "speech.wav"',
        });
      }
      if (typeof opts.contentType !== 'string' || !opts.contentType.includes('/')) {
        throw new InvalidRequestError('uploadFile needs a contentType', {
          field: 'contentType',
          allowed: 'a MIME type',
        });
      }
      if (!acceptsUpload(capabilities.upload, opts.contentType)) {
        throw new NotSupportedError(
          `${capabilities.displayName}'s storage takes ${capabilities.upload.mimeTypes.join(', ')}, not ${opts.contentType}: ` +
            'pass a public URL instead (EvoLink documents images only; set evolinkUploadMedia to try audio and video anyway)',
          { provider },
        );
      }
      const blob =
        data instanceof Blob ? data : new Blob([data as Uint8Array<ArrayBuffer>], { type: opts.contentType });
      return adapter.upload(blob, opts);
    },
    listTasks,
    async recoverSubmit(request, opts) {
      const req = parseLipSyncRequest(request);
      if (capabilities.idempotentSubmit && clock.now() - opts.startedAt < IDEMPOTENCY_WINDOW_MS) {
        // The same key answers the first task if it exists and creates it if it does not: one task either way.
        try {
          const task = await adapter.submit(req, {
            idempotencyKey: opts.idempotencyKey,
            signal: opts.signal,
          });
          return { outcome: 'found', task, via: 'idempotency' };
        } catch (error) {
          if ((error as RetalkError).providerCode !== 'idempotency_conflict') throw error;
          return { outcome: 'unknown', reason: 'the request differs from the one first sent under its key' };
        }
      }
      if (!capabilities.taskList) {
        return { outcome: 'unknown', reason: `${capabilities.displayName} has no task list to look in` };
      }
      // Tasks from a little before the marker too: the provider's clock may run behind ours.
      const rows = await adapter.listTasks({ sinceMs: opts.startedAt - 5_000, signal: opts.signal });
      const orphans: TaskSummary[] = [];
      for (const row of rows) if (!(await opts.isKnown(row.id))) orphans.push(row);
      if (orphans.length === 0) return { outcome: 'absent' };
      if (orphans.length > 1) {
        return {
          outcome: 'unknown',
          reason: `${orphans.length} tasks no job owns were created since the submit`,
        };
      }
      const task = await adapter.get((orphans[0] as TaskSummary).id, { signal: opts.signal });
      return { outcome: 'found', task, via: 'task_list' };
    },
    readCallback: (body) => parseCallback(body, provider, clock.now()),
  };
}

function parseWith<S extends z.ZodType>(
  schema: S,
  body: unknown,
  provider: Provider,
  action: string,
): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unreadable body';
  throw new ResponseValidationError(`${provider} ${action}: unexpected answer (${where})`, {
    provider,
    cause: parsed.error,
  });
}
