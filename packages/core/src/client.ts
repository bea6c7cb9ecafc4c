import type { z } from 'zod';
import {
  AbortError,
  InvalidRequestError,
  NotSupportedError,
  QuotaError,
  ResponseValidationError,
  type RetalkError,
  RetalkError as RetalkErrorClass,
  TaskFailedError,
  TimeoutError,
} from './errors.js';
import {
  type Clock,
  createRateLimiter,
  DASHSCOPE_QUERIES_PER_SECOND,
  DASHSCOPE_SUBMITS_PER_SECOND,
  DEFAULT_POLL_SCHEDULE,
  DEFAULT_READ_RETRIES,
  DEFAULT_SUBMIT_RETRIES,
  type PollSchedule,
  pollDelayMs,
  type RateLimiter,
  systemClock,
  withJitter,
} from './poll.js';
import { hintFor } from './provider-errors.js';
import { acceptsUpload, type ProviderCapabilities } from './providers/capabilities.js';
import {
  DASHSCOPE_BASE_URL,
  DASHSCOPE_CAPABILITIES,
  DASHSCOPE_UPLOAD_TTL_MS,
  DashscopeErrorBodySchema,
  DashscopeTaskSchema,
  DashscopeUploadPolicySchema,
  fromDashscopeTask,
  isOssUrl,
  parseDashscopeTime,
  toDashscopeCreateBody,
} from './providers/dashscope.js';
import {
  EVOLINK_BASE_URL,
  EVOLINK_CAPABILITIES,
  EVOLINK_FILES_BASE_URL,
  EVOLINK_SUBMIT_RETRIES,
  EvolinkErrorBodySchema,
  EvolinkFileUploadResponseSchema,
  EvolinkTaskSchema,
  evolinkIdempotencyHeaders,
  fromEvolinkTask,
  isEvolinkSubmitRetryable,
  newIdempotencyKey,
  toEvolinkCreateBody,
} from './providers/evolink.js';
import {
  isTerminalStatus,
  type LipSyncRequest,
  PROVIDERS,
  type Provider,
  parseLipSyncRequest,
  type Task,
} from './task.js';
import {
  abortErrorFrom,
  type ErrorDetails,
  type FetchLike,
  type SendOptions,
  send,
  type TransportOptions,
} from './transport.js';

/** Per-request time limit, in milliseconds (default 30 000 ms). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Largest provider answer a client reads, in bytes (1 MiB; a task status is a few KB). */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
/** How many consecutive failed polls `wait`/`watch` tolerate before giving up (default 8). */
export const DEFAULT_MAX_POLL_FAILURES = 8;

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
   * Default polling cadence of `wait`/`watch`/`run` (durations in ms); fields left out keep their
   * default. Default {@link DEFAULT_POLL_SCHEDULE}: 3 polls 1000 ms apart, then ×1.5 per poll up
   * to 10 000 ms, each delay ±20 % jitter.
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
  /** Delay of the first polls, in milliseconds; later polls back off from it. Default the client's `poll.intervalMs` (1000 ms). */
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

/** A stored input file. */
export interface UploadedFile {
  /** URL to pass as `video`/`audio`/`refImage` (`oss://…` on DashScope, https on EvoLink). */
  url: string;
  /** When the file stops being available, ISO 8601 (DashScope 48 h, EvoLink 72 h). */
  expiresAt?: string;
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
  /** Cancels a queued task (DashScope, PENDING only); `not_supported` on EvoLink. */
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
}

interface TaskMemory {
  estimatedTimeSec?: number;
  credits?: number;
  startedAt?: number;
  completedAt?: number;
}

const MEMORY_LIMIT = 1000;

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function checkBaseUrl(url: string, field: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new InvalidRequestError(`${field} "${url}" is not a URL`, {
      field,
      allowed: 'an http(s) URL',
      cause,
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidRequestError(`${field} must use http or https`, { field, allowed: 'an http(s) URL' });
  }
  return trimSlash(url);
}

function resolveBaseUrl(provider: Provider, baseUrl: string | undefined): string {
  if (baseUrl === undefined) return provider === 'evolink' ? EVOLINK_BASE_URL : DASHSCOPE_BASE_URL;
  const url = checkBaseUrl(baseUrl, 'baseUrl');
  if (provider === 'evolink') return url.replace(/\/v1$/, '');
  return new URL(url).pathname.replace(/\/+$/, '') === '' ? `${url}/api/v1` : url;
}

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

function readEvolinkError(body: unknown): ErrorDetails {
  const parsed = EvolinkErrorBodySchema.safeParse(body);
  if (parsed.success) {
    const e = parsed.data.error;
    return { code: e.code ?? undefined, message: e.message ?? undefined, param: e.param ?? undefined };
  }
  // The files API answers errors in its own envelope `{success:false, code, msg}`.
  const envelope = EvolinkFileUploadResponseSchema.partial().safeParse(body);
  if (envelope.success && (envelope.data.msg || envelope.data.code != null)) {
    const msg = envelope.data.msg ?? undefined;
    // The envelope's code is the HTTP status; a used-up file quota is told only by the message.
    const code = msg && /quota/i.test(msg) ? 'quota_exceeded' : (envelope.data.code ?? undefined);
    return { code, message: msg };
  }
  return {};
}

function readDashscopeError(body: unknown): ErrorDetails {
  const parsed = DashscopeErrorBodySchema.safeParse(body);
  if (parsed.success) {
    return {
      code: parsed.data.code ?? undefined,
      message: parsed.data.message ?? undefined,
      requestId: parsed.data.request_id ?? undefined,
    };
  }
  // The OSS upload host answers XML: <Error><Code>…</Code><Message>…</Message></Error>.
  if (typeof body === 'string') {
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
    return { code, message };
  }
  return {};
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
  const baseUrl = resolveBaseUrl(provider, options.baseUrl);
  const filesBaseUrl =
    options.filesBaseUrl !== undefined
      ? checkBaseUrl(options.filesBaseUrl, 'filesBaseUrl')
      : options.baseUrl !== undefined
        ? baseUrl
        : EVOLINK_FILES_BASE_URL;
  const fetchImpl: FetchLike | undefined =
    options.fetch ?? (globalThis.fetch?.bind(globalThis) as FetchLike | undefined);
  if (!fetchImpl) {
    throw new InvalidRequestError('No fetch available: pass the fetch option', {
      field: 'fetch',
      allowed: 'a fetch function',
    });
  }
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const schedule: PollSchedule = { ...DEFAULT_POLL_SCHEDULE, ...options.poll };
  const typicalJobMs = options.typicalJobMs;
  const apiKey = options.apiKey.trim();
  const auth = `Bearer ${apiKey}`;

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
    readError: provider === 'evolink' ? readEvolinkError : readDashscopeError,
    secret: apiKey,
  };
  const qps = rate('queriesPerSecond', options.queriesPerSecond, DASHSCOPE_QUERIES_PER_SECOND);
  const queryLimiter: RateLimiter | undefined =
    provider === 'dashscope' && Number.isFinite(qps)
      ? createRateLimiter({ perSecond: qps, clock })
      : undefined;
  const sps = rate('submitsPerSecond', options.submitsPerSecond, DASHSCOPE_SUBMITS_PER_SECOND);
  // One bucket of one token: submits of this client start at least 1000 / sps ms apart.
  const submitLimiter: RateLimiter | undefined =
    provider === 'dashscope' && Number.isFinite(sps)
      ? createRateLimiter({ perSecond: sps, burst: 1, clock })
      : undefined;

  const base = provider === 'evolink' ? EVOLINK_CAPABILITIES : DASHSCOPE_CAPABILITIES;
  const capabilities: ProviderCapabilities =
    provider === 'evolink' && options.evolinkUploadMedia
      ? { ...base, upload: { ...base.upload, mimeTypes: [...base.upload.mimeTypes, 'audio/*', 'video/*'] } }
      : base;

  const memory = new Map<string, TaskMemory>();
  const remember = (id: string, patch: TaskMemory) => {
    const entry = memory.get(id) ?? {};
    memory.delete(id);
    memory.set(id, { ...entry, ...patch });
    if (memory.size > MEMORY_LIMIT) memory.delete(memory.keys().next().value as string);
  };

  const baseHeaders = (): Record<string, string> => {
    const h: Record<string, string> = { authorization: auth };
    if (provider === 'dashscope' && options.workspace) h['x-dashscope-workspace'] = options.workspace;
    return h;
  };

  const call = (o: SendOptions) => send(transport, o);

  const toTask = (body: unknown, action: string): Task => {
    const now = clock.now();
    if (provider === 'evolink') {
      const parsed = parseWith(EvolinkTaskSchema, body, provider, action);
      const mem = memory.get(parsed.id) ?? {};
      if (typeof parsed.task_info?.estimated_time === 'number') {
        remember(parsed.id, { estimatedTimeSec: parsed.task_info.estimated_time });
      }
      const credits = parsed.usage?.credits ?? parsed.usage?.credits_reserved;
      if (typeof credits === 'number') remember(parsed.id, { credits });
      if (parsed.status === 'completed' && mem.completedAt === undefined)
        remember(parsed.id, { completedAt: now });
      return fromEvolinkTask(parsed, {
        now,
        estimatedTimeSec: mem.estimatedTimeSec,
        completedAt: memory.get(parsed.id)?.completedAt,
        credits: memory.get(parsed.id)?.credits,
      });
    }
    const parsed = parseWith(DashscopeTaskSchema, body, provider, action);
    const id = parsed.output.task_id;
    const status = parsed.output.task_status;
    if (status !== 'PENDING' && memory.get(id)?.startedAt === undefined) {
      // A task first seen mid-run (e.g. after a restart) starts from its scheduled_time when that
      // is plausible, so its estimated progress does not fall back to the start.
      const scheduled = parseDashscopeTime(parsed.output.scheduled_time);
      const plausible = scheduled !== undefined && scheduled <= now && now - scheduled < 6 * 3600_000;
      remember(id, { startedAt: plausible ? scheduled : now });
    }
    return fromDashscopeTask(parsed, { now, startedAt: memory.get(id)?.startedAt, typicalJobMs });
  };

  const submit = async (request: LipSyncRequest, opts: SubmitOptions = {}): Promise<Task> => {
    const req = parseLipSyncRequest(request);
    const urls = [req.video, req.audio, req.refImage];
    if (provider === 'evolink') {
      const oss = (['video', 'audio', 'refImage'] as const).find((f) => isOssUrl(req[f]));
      if (oss) {
        throw new InvalidRequestError(
          `${oss}: oss:// URLs work only with DashScope; use client.uploadFile() on EvoLink`,
          {
            field: oss,
            allowed: 'a public http(s) URL',
          },
        );
      }
      const key = opts.idempotencyKey ?? newIdempotencyKey();
      const res = await call({
        method: 'POST',
        url: `${baseUrl}/v1/videos/generations`,
        kind: 'write',
        action: 'submit',
        headers: { ...baseHeaders(), 'content-type': 'application/json', ...evolinkIdempotencyHeaders(key) },
        body: () => JSON.stringify(toEvolinkCreateBody(req)),
        signal: opts.signal,
        retries: Math.min(EVOLINK_SUBMIT_RETRIES, transport.writeRetries),
        retryOn: isEvolinkSubmitRetryable,
      });
      return toTask(res.body, 'submit');
    }
    if (req.callbackUrl !== undefined) {
      throw new InvalidRequestError(
        'callbackUrl: DashScope has no callbacks; drop it and use wait()/watch()',
        {
          field: 'callbackUrl',
          allowed: 'nothing on DashScope (EvoLink only)',
        },
      );
    }
    const headers: Record<string, string> = {
      ...baseHeaders(),
      'content-type': 'application/json',
      'x-dashscope-async': 'enable',
    };
    if (urls.some(isOssUrl)) headers['x-dashscope-ossresourceresolve'] = 'enable';
    const res = await call({
      method: 'POST',
      url: `${baseUrl}/services/aigc/image2video/video-synthesis/`,
      kind: 'write',
      action: 'submit',
      headers,
      body: () => JSON.stringify(toDashscopeCreateBody(req)),
      signal: opts.signal,
      pace: submitLimiter ? (signal) => submitLimiter.take(signal) : undefined,
    });
    return toTask(res.body, 'submit');
  };

  const checkId = (taskId: string) => {
    if (typeof taskId !== 'string' || taskId.trim() === '') {
      throw new InvalidRequestError('taskId is empty', {
        field: 'taskId',
        allowed: 'the id returned by submit()',
      });
    }
    return encodeURIComponent(taskId);
  };

  const get = async (taskId: string, opts: CallOptions = {}): Promise<Task> => {
    const id = checkId(taskId);
    const action = `query task ${taskId}`;
    if (provider === 'evolink') {
      const res = await call({
        method: 'GET',
        url: `${baseUrl}/v1/tasks/${id}`,
        kind: 'read',
        action,
        headers: baseHeaders(),
        signal: opts.signal,
      });
      return toTask(res.body, action);
    }
    const res = await call({
      method: 'GET',
      url: `${baseUrl}/tasks/${id}`,
      kind: 'read',
      action,
      headers: baseHeaders(),
      signal: opts.signal,
    });
    return toTask(res.body, action);
  };

  // Every DashScope query of this client, from any wait or get, passes the shared limiter.
  const pacedGet = async (taskId: string, opts: CallOptions = {}): Promise<Task> => {
    if (queryLimiter) {
      try {
        await queryLimiter.take(opts.signal);
      } catch {
        throw opts.signal ? abortErrorFrom(opts.signal, `query task ${taskId}`) : new AbortError('aborted');
      }
    }
    return get(taskId, opts);
  };

  const cancel = async (taskId: string, opts: CallOptions = {}): Promise<Task> => {
    const id = checkId(taskId);
    if (provider === 'evolink') {
      throw new NotSupportedError(
        'EvoLink has no cancel API for videoretalk (task_info.can_cancel is false); let the task finish or ignore it',
        { provider },
      );
    }
    await call({
      method: 'POST',
      url: `${baseUrl}/tasks/${id}/cancel`,
      kind: 'read',
      action: `cancel task ${taskId}`,
      headers: baseHeaders(),
      signal: opts.signal,
    });
    return pacedGet(taskId, opts);
  };

  // `first` is a task already read (run's submit answer); `budgetMs` is the caller's whole
  // timeout when part of it was spent before polling began (for the message).
  async function* poll(
    taskId: string,
    opts: WaitOptions,
    first?: Task,
    budgetMs?: number,
  ): AsyncGenerator<Task, void, undefined> {
    const controller = new AbortController();
    const onAbort = () =>
      controller.abort(
        new AbortError(`Waiting for task ${taskId} was aborted`, { cause: opts.signal?.reason }),
      );
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    const startedAt = clock.now();
    const deadline = opts.timeoutMs === undefined ? undefined : startedAt + opts.timeoutMs;
    let last: Task | undefined;
    const timeoutError = () =>
      new TimeoutError(
        `Task ${taskId} did not finish within ${budgetMs ?? opts.timeoutMs} ms (last status: ${last?.status ?? 'unknown'}); ` +
          'call wait() again or raise timeoutMs',
        { provider },
      );
    // A real timer as well as clock checks: a hung request must be cut at the deadline too.
    const deadlineTimer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => controller.abort(timeoutError()), opts.timeoutMs);
    const signal = controller.signal;
    const sched: PollSchedule =
      opts.intervalMs === undefined ? schedule : { ...schedule, intervalMs: opts.intervalMs };
    try {
      let attempt = 0;
      let failures = 0;
      let pending: Task | undefined = first;
      while (true) {
        let task: Task | undefined = pending;
        pending = undefined;
        let retryAfterMs: number | undefined;
        if (!task) {
          try {
            task = await pacedGet(taskId, { signal });
            failures = 0;
          } catch (error) {
            if (signal.aborted) throw abortErrorFrom(signal, `wait for task ${taskId}`);
            const retalk = error instanceof RetalkErrorClass ? error : undefined;
            if (!retalk?.retryable || ++failures >= DEFAULT_MAX_POLL_FAILURES) throw error;
            retryAfterMs = (retalk as { retryAfterMs?: number }).retryAfterMs;
          }
        }
        if (task) {
          if (last && !isTerminalStatus(task.status) && task.status === last.status) {
            task.progress = Math.max(task.progress, last.progress);
          }
          const changed =
            !last ||
            last.status !== task.status ||
            last.progress !== task.progress ||
            last.etaMs !== task.etaMs ||
            last.resultUrl !== task.resultUrl;
          last = task;
          if (changed) {
            opts.onUpdate?.(task);
            yield task;
          }
          if (isTerminalStatus(task.status)) return;
        }
        let delay = withJitter(pollDelayMs(attempt++, sched), sched.jitterRatio, random);
        // EvoLink tells how long the task should take: no point polling much faster than a
        // quarter of what is left.
        if (provider === 'evolink' && task?.etaMs !== undefined) {
          delay = Math.min(sched.maxIntervalMs, Math.max(delay, Math.round(task.etaMs / 4)));
        }
        if (retryAfterMs !== undefined) delay = Math.max(delay, retryAfterMs);
        if (deadline !== undefined) {
          const left = deadline - clock.now();
          if (left <= 0) throw timeoutError();
          delay = Math.min(delay, left);
        }
        try {
          await clock.sleep(delay, signal);
        } catch {
          throw abortErrorFrom(signal, `wait for task ${taskId}`);
        }
        if (deadline !== undefined && clock.now() >= deadline) throw timeoutError();
      }
    } finally {
      if (deadlineTimer !== undefined) clearTimeout(deadlineTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      // Cut any request or limiter wait still in flight on early exit (a consumer's `break`).
      if (!controller.signal.aborted) controller.abort(new AbortError('polling stopped'));
    }
  }

  const failure = (task: Task): RetalkError => {
    const code = task.error?.code ?? task.status;
    const hint = hintFor(provider, code);
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

  const waitFor = async (
    taskId: string,
    opts: WaitOptions = {},
    first?: Task,
    budgetMs?: number,
  ): Promise<Task> => {
    let last: Task | undefined;
    for await (const task of poll(taskId, opts, first, budgetMs)) last = task;
    if (!last) throw new AbortError(`Waiting for task ${taskId} ended without an answer`);
    if (last.status !== 'succeeded') throw failure(last);
    return last;
  };

  const uploadToDashscope = async (blob: Blob, o: UploadOptions): Promise<UploadedFile> => {
    const res = await call({
      method: 'GET',
      url: `${baseUrl}/uploads?action=getPolicy&model=videoretalk`,
      kind: 'read',
      action: 'get upload policy',
      headers: baseHeaders(),
      signal: o.signal,
    });
    const policy = parseWith(DashscopeUploadPolicySchema, res.body, provider, 'get upload policy').data;
    const maxMb = Number(policy.max_file_size_mb);
    if (Number.isFinite(maxMb) && maxMb > 0 && blob.size > maxMb * 1024 * 1024) {
      throw new InvalidRequestError(
        `${o.filename} is ${(blob.size / 1048576).toFixed(1)} MB; DashScope accepts at most ${maxMb} MB`,
        {
          field: 'data',
          allowed: `at most ${maxMb} MB`,
        },
      );
    }
    const key = `${policy.upload_dir.replace(/\/+$/, '')}/${safeFilename(o.filename)}`;
    await call({
      method: 'POST',
      url: policy.upload_host,
      kind: 'write',
      action: `upload ${o.filename}`,
      body: () => {
        const form = new FormData();
        form.append('OSSAccessKeyId', policy.oss_access_key_id);
        form.append('Signature', policy.signature);
        form.append('policy', policy.policy);
        form.append('key', key);
        form.append('x-oss-object-acl', policy.x_oss_object_acl ?? 'private');
        form.append('x-oss-forbid-overwrite', policy.x_oss_forbid_overwrite ?? 'true');
        form.append('success_action_status', '200');
        form.append('x-oss-content-type', o.contentType);
        // OSS PostObject requires the file to be the last field.
        form.append('file', blob, o.filename);
        return form;
      },
      signal: o.signal,
    });
    return { url: `oss://${key}`, expiresAt: new Date(clock.now() + DASHSCOPE_UPLOAD_TTL_MS).toISOString() };
  };

  const uploadToEvolink = async (blob: Blob, o: UploadOptions): Promise<UploadedFile> => {
    const res = await call({
      method: 'POST',
      url: `${filesBaseUrl}/api/v1/files/upload/stream`,
      kind: 'write',
      action: `upload ${o.filename}`,
      headers: baseHeaders(),
      body: () => {
        const form = new FormData();
        form.append('file_name', safeFilename(o.filename));
        form.append('file', blob, o.filename);
        return form;
      },
      signal: o.signal,
    });
    const body = parseWith(EvolinkFileUploadResponseSchema, res.body, provider, 'upload');
    if (!body.success || !body.data) {
      const text = `EvoLink refused the upload of ${o.filename}: ${body.msg ?? 'no reason given'}`;
      if (/quota|limit|exceed/i.test(body.msg ?? '') || body.code === 402) {
        throw new QuotaError(`${text}. Delete old files or wait for them to expire (72 h).`, {
          provider,
          providerCode: body.code == null ? undefined : String(body.code),
        });
      }
      throw new InvalidRequestError(`${text}.`, {
        provider,
        field: 'data',
        providerCode: body.code == null ? undefined : String(body.code),
      });
    }
    const out: UploadedFile = { url: body.data.file_url };
    const expires = body.data.expires_at ? Date.parse(body.data.expires_at) : Number.NaN;
    if (!Number.isNaN(expires)) out.expiresAt = new Date(expires).toISOString();
    return out;
  };

  return {
    provider,
    capabilities,
    baseUrl,
    submit,
    get: pacedGet,
    cancel,
    wait: (taskId, opts) => waitFor(taskId, opts),
    watch: (taskId, opts = {}) => ({ [Symbol.asyncIterator]: () => poll(taskId, opts) }),
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
      return provider === 'dashscope' ? uploadToDashscope(blob, opts) : uploadToEvolink(blob, opts);
    },
  };
}

function safeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? 'file';
  return base.replace(/[^\w.-]+/g, '_').slice(-120) || 'file';
}
