import type * as z from 'zod/mini';
import { sleep } from '../clock.js';
import {
  AbortError,
  AuthError,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  NotSupportedError,
  PermissionError,
  ProviderUnavailableError,
  QuotaError,
  RateLimitedError,
  ResponseValidationError,
  type RetalkError,
  TimeoutError,
} from '../errors.js';
import {
  type CreateJobRequest,
  type Job,
  type JobList,
  JobListSchema,
  JobSchema,
  type JobStatus,
  type Me,
  type MediaKind,
  MeSchema,
  RelayErrorBodySchema,
  type RelayEvent,
  type ResultLink,
  ResultLinkSchema,
  type Upload,
  UploadSchema,
} from './schemas.js';

/** Bytes sent so far of an upload body. */
export interface UploadProgress {
  loadedBytes: number;
  totalBytes: number;
}

/** What an upload transport is asked to send. */
export interface RelayUploadRequest {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  body: Blob | Uint8Array;
  onProgress?: ((progress: UploadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** What an upload transport returns: the HTTP status and the body as text. */
export interface RelayTransportResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/**
 * Sends an upload body and reports progress. Browsers need `XMLHttpRequest` for upload progress;
 * pass your own (e.g. a test fake) or let the client pick XHR when available and fetch otherwise.
 */
export type RelayUploadTransport = (request: RelayUploadRequest) => Promise<RelayTransportResponse>;

export interface RelayClientOptions {
  /** Relay origin, e.g. `https://relay.example.com` (a trailing slash is fine). */
  baseUrl: string;
  /** Personal member token (`rtk_…`). */
  token: string;
  /** Fetch implementation. Default: `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
  /** Upload transport. Default: XMLHttpRequest when defined (real progress), otherwise fetch. */
  upload?: RelayUploadTransport | undefined;
  /** Per-request timeout for JSON calls, in milliseconds. Default 30 000. Uploads and events have none. */
  timeoutMs?: number | undefined;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** Options of {@link RelayClient.upload}. */
export interface RelayUploadOptions extends CallOptions {
  kind: MediaKind;
  filename: string;
  /** Default: the Blob's type, else `application/octet-stream`. */
  contentType?: string | undefined;
  /** Called as bytes go out (at least once at the start and once at the end). */
  onProgress?: ((progress: UploadProgress) => void) | undefined;
}

export interface CreateJobOptions extends CallOptions {
  /** Repeating a create with the same key returns the first job instead of creating another. */
  idempotencyKey?: string | undefined;
}

export interface ListJobsOptions extends CallOptions {
  cursor?: string | undefined;
  /** Page size, 1–100. Default 20 (server side). */
  limit?: number | undefined;
  status?: JobStatus | readonly JobStatus[] | undefined;
}

export interface EventsOptions extends CallOptions {
  /** Resume after this event id (sent as `Last-Event-ID`). */
  lastEventId?: string | undefined;
  /** Wait before reconnecting after the stream drops, in milliseconds. Default 1000 (the server's `retry:` wins). */
  reconnectDelayMs?: number | undefined;
  /** Reconnect after drops. Default true; the iterator ends only when `signal` aborts or on a 4xx. */
  reconnect?: boolean | undefined;
}

export interface RelayClient {
  readonly baseUrl: string;
  /** `GET /v1/me`: who the token belongs to, budget, provider and limits. */
  me(options?: CallOptions): Promise<Me>;
  /** `PUT /v1/uploads`: sends a file to the relay, which probes it and hosts it for the provider. */
  upload(data: Blob | Uint8Array, options: RelayUploadOptions): Promise<Upload>;
  /** `POST /v1/jobs` → the stored job (status `received` or later). */
  createJob(request: CreateJobRequest, options?: CreateJobOptions): Promise<Job>;
  /** `GET /v1/jobs`, newest first. */
  listJobs(options?: ListJobsOptions): Promise<JobList>;
  getJob(id: string, options?: CallOptions): Promise<Job>;
  /** `POST /v1/jobs/:id/cancel`; `NotSupportedError` when the provider cannot cancel it now. */
  cancelJob(id: string, options?: CallOptions): Promise<Job>;
  /** A short-lived signed link to the archived result, usable without headers (downloads, `<video>`). */
  resultUrl(id: string, options?: CallOptions): Promise<ResultLink>;
  /**
   * `GET /v1/events` as an async iterator of the member's job changes; reconnects with
   * `Last-Event-ID` after a drop. Break out of the loop or abort `signal` to stop.
   * @example
   * for await (const event of relay.events({ signal })) if (event.type === 'job') render(event.job);
   */
  events(options?: EventsOptions): AsyncIterable<RelayEvent>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RECONNECT_DELAY_MS = 1_000;

/**
 * Creates a client of a Retalk relay. It throws core's {@link RetalkError} subclasses; the relay's
 * own error code (`budget_exceeded`, `url_not_allowed`, …) is in `providerCode`.
 *
 * @example
 * const relay = createRelayClient({ baseUrl: 'http://127.0.0.1:8787', token: 'rtk_…' });
 * const job = await relay.createJob({ video: { url }, audio: { uploadId } });
 */
export function createRelayClient(options: RelayClientOptions): RelayClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const auth = { authorization: `Bearer ${options.token}` };

  async function call<T>(
    method: string,
    path: string,
    schema: z.ZodMiniType<T>,
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const headers: Record<string, string> = { ...auth, accept: 'application/json', ...init.headers };
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body);
    }
    let response: Response;
    try {
      response = await doFetch(`${baseUrl}${path}`, { method, headers, body: body ?? null, signal });
    } catch (error) {
      throw toTransportError(error, init.signal, timeout, `${method} ${path}`);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw toTransportError(error, init.signal, timeout, `${method} ${path}`);
    }
    return parseResponse(response.status, text, schema, response.headers.get('retry-after'));
  }

  const uploadTransport = options.upload ?? defaultUploadTransport(doFetch);

  return {
    baseUrl,
    me: (o = {}) => call('GET', '/v1/me', MeSchema, { signal: o.signal }),
    async upload(data, o) {
      const contentType =
        o.contentType ??
        (typeof Blob !== 'undefined' && data instanceof Blob && data.type ? data.type : undefined);
      const query = new URLSearchParams({ kind: o.kind, filename: o.filename });
      let response: RelayTransportResponse;
      try {
        response = await uploadTransport({
          url: `${baseUrl}/v1/uploads?${query}`,
          method: 'PUT',
          headers: {
            ...auth,
            accept: 'application/json',
            'content-type': contentType ?? 'application/octet-stream',
          },
          body: data,
          onProgress: o.onProgress,
          signal: o.signal,
        });
      } catch (error) {
        throw toTransportError(error, o.signal, undefined, 'PUT /v1/uploads');
      }
      return parseResponse(
        response.status,
        response.body,
        UploadSchema,
        response.headers['retry-after'] ?? null,
      );
    },
    createJob: (request, o = {}) =>
      call('POST', '/v1/jobs', JobSchema, {
        body: request,
        signal: o.signal,
        headers: o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {},
      }),
    listJobs(o = {}) {
      const query = new URLSearchParams();
      if (o.cursor !== undefined) query.set('cursor', o.cursor);
      if (o.limit !== undefined) query.set('limit', String(o.limit));
      if (o.status !== undefined)
        query.set('status', typeof o.status === 'string' ? o.status : o.status.join(','));
      const qs = query.toString();
      return call('GET', `/v1/jobs${qs ? `?${qs}` : ''}`, JobListSchema, { signal: o.signal });
    },
    getJob: (id, o = {}) =>
      call('GET', `/v1/jobs/${encodeURIComponent(id)}`, JobSchema, { signal: o.signal }),
    cancelJob: (id, o = {}) =>
      call('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, JobSchema, { signal: o.signal }),
    async resultUrl(id, o = {}) {
      const link = await call('POST', `/v1/jobs/${encodeURIComponent(id)}/result-link`, ResultLinkSchema, {
        signal: o.signal,
      });
      return { ...link, url: new URL(link.url, `${baseUrl}/`).toString() };
    },
    events: (o = {}) => streamEvents(doFetch, baseUrl, auth.authorization, o),
  };
}

function parseResponse<T>(
  status: number,
  text: string,
  schema: z.ZodMiniType<T>,
  retryAfter: string | null,
): T {
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch (error) {
    if (status >= 500) throw new ProviderUnavailableError(`The relay answered HTTP ${status}`, { status });
    throw new ResponseValidationError(`The relay answered HTTP ${status} with a body that is not JSON`, {
      status,
      cause: error,
    });
  }
  if (status < 200 || status >= 300) throw relayErrorFromResponse(status, json, retryAfter);
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ResponseValidationError(
      `The relay's answer does not match the expected shape (${issue?.path.join('.') ?? ''}: ${issue ? describeIssue(issue) : ''}); is the relay up to date?`,
      { status, cause: parsed.error },
    );
  }
  return parsed.data;
}

// zod/mini loads no locale, so its own messages read "Invalid input"; say what was expected instead.
function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map(String).join(', ')}`;
  return issue.message;
}

/** Turns a relay error response into the matching RetalkError subclass. */
export function relayErrorFromResponse(
  status: number,
  body: unknown,
  retryAfter?: string | null,
): RetalkError {
  const parsed = RelayErrorBodySchema.safeParse(body);
  const error = parsed.success ? parsed.data.error : undefined;
  const message = error?.message ?? `The relay answered HTTP ${status}`;
  const base = { status, providerCode: error?.code, requestId: error?.requestId };
  const retryAfterSec = retryAfter ? Number(retryAfter) : Number.NaN;
  const retryAfterMs =
    error?.retryAfterMs ?? (Number.isFinite(retryAfterSec) ? retryAfterSec * 1000 : undefined);
  if (status === 401) return new AuthError(message, base);
  if (status === 402) return new QuotaError(message, base);
  if (status === 403) return new PermissionError(message, base);
  if (status === 404) return new NotFoundError(message, base);
  if (status === 429) return new RateLimitedError(message, { ...base, retryAfterMs });
  if (error?.code === 'not_cancelable') return new NotSupportedError(message, base);
  if (status >= 500) return new ProviderUnavailableError(message, base);
  const allowed = error?.allowed === undefined ? undefined : [error.allowed].flat().join(', ');
  return new InvalidRequestError(message, { ...base, field: error?.field, allowed });
}

function toTransportError(
  error: unknown,
  signal: AbortSignal | undefined,
  timeout: AbortSignal | undefined,
  what: string,
): RetalkError {
  if (signal?.aborted) return new AbortError(`${what} was aborted`, { cause: signal.reason });
  if (timeout?.aborted)
    return new TimeoutError(`${what} got no answer from the relay in time`, { cause: error });
  if (error instanceof Error && 'code' in error && typeof (error as RetalkError).retryable === 'boolean') {
    return error as RetalkError;
  }
  return new NetworkError(`${what} could not reach the relay; check the relay URL and that it is running`, {
    cause: error,
  });
}

function defaultUploadTransport(doFetch: typeof fetch): RelayUploadTransport {
  return (request) =>
    typeof XMLHttpRequest !== 'undefined' ? xhrUpload(request) : fetchUpload(doFetch, request);
}

function xhrUpload(request: RelayUploadRequest): Promise<RelayTransportResponse> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const total = request.body instanceof Uint8Array ? request.body.byteLength : request.body.size;
    const onAbort = () => xhr.abort();
    xhr.open(request.method, request.url);
    for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) =>
      request.onProgress?.({
        loadedBytes: event.loaded,
        totalBytes: event.lengthComputable ? event.total : total,
      });
    xhr.onload = () => {
      request.signal?.removeEventListener('abort', onAbort);
      request.onProgress?.({ loadedBytes: total, totalBytes: total });
      const headers: Record<string, string> = {};
      const retryAfter = xhr.getResponseHeader('retry-after');
      if (retryAfter) headers['retry-after'] = retryAfter;
      resolve({ status: xhr.status, body: xhr.responseText, headers });
    };
    xhr.onerror = () => {
      request.signal?.removeEventListener('abort', onAbort);
      reject(new TypeError('XMLHttpRequest network error'));
    };
    xhr.onabort = () => reject(request.signal?.reason ?? new DOMException('Aborted', 'AbortError'));
    if (request.signal?.aborted) {
      reject(request.signal.reason);
      return;
    }
    request.signal?.addEventListener('abort', onAbort, { once: true });
    request.onProgress?.({ loadedBytes: 0, totalBytes: total });
    // XHR takes ArrayBuffer views; copy only when the view is not a plain ArrayBuffer-backed one.
    xhr.send(
      request.body instanceof Uint8Array ? new Blob([request.body as Uint8Array<ArrayBuffer>]) : request.body,
    );
  });
}

const FETCH_UPLOAD_CHUNK_BYTES = 256 * 1024;

async function fetchUpload(
  doFetch: typeof fetch,
  request: RelayUploadRequest,
): Promise<RelayTransportResponse> {
  const total = request.body instanceof Uint8Array ? request.body.byteLength : request.body.size;
  let body: BodyInit = request.body as Blob | Uint8Array<ArrayBuffer>;
  const init: RequestInit & { duplex?: 'half' } = {
    method: request.method,
    // fetch sets Content-Length itself for Blob and bytes, and streams the progress-reporting body chunked.
    headers: request.headers,
    signal: request.signal ?? null,
  };
  request.onProgress?.({ loadedBytes: 0, totalBytes: total });
  if (request.onProgress && request.body instanceof Uint8Array && isNode()) {
    // Streamed so progress follows the bytes actually pulled by the connection. Node only: browsers
    // stream request bodies over HTTP/2 alone (and use XMLHttpRequest above when they have it).
    const bytes = request.body;
    let offset = 0;
    const onProgress = request.onProgress;
    body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.byteLength) {
          controller.close();
          return;
        }
        const end = Math.min(offset + FETCH_UPLOAD_CHUNK_BYTES, bytes.byteLength);
        controller.enqueue(bytes.subarray(offset, end));
        offset = end;
        onProgress({ loadedBytes: offset, totalBytes: total });
      },
    });
    init.duplex = 'half';
  }
  init.body = body;
  const response = await doFetch(request.url, init);
  const text = await response.text();
  request.onProgress?.({ loadedBytes: total, totalBytes: total });
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { status: response.status, body: text, headers };
}

function isNode(): boolean {
  return (
    typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node ===
    'string'
  );
}

async function* streamEvents(
  doFetch: typeof fetch,
  baseUrl: string,
  authorization: string,
  options: EventsOptions,
): AsyncGenerator<RelayEvent> {
  let lastEventId = options.lastEventId;
  let delayMs = options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS;
  const signal = options.signal;
  for (;;) {
    if (signal?.aborted) return;
    const local = new AbortController();
    const onAbort = () => local.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const headers: Record<string, string> = { authorization, accept: 'text/event-stream' };
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
      let response: Response;
      try {
        response = await doFetch(`${baseUrl}/v1/events`, { headers, signal: local.signal });
      } catch (error) {
        if (signal?.aborted) return;
        if (options.reconnect === false) throw toTransportError(error, signal, undefined, 'GET /v1/events');
        await pause(delayMs, signal);
        continue;
      }
      if (response.status !== 200 || !response.body) {
        const text = await response.text().catch(() => '');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const error = relayErrorFromResponse(response.status, json, response.headers.get('retry-after'));
        if (!error.retryable || options.reconnect === false) throw error;
        await pause(delayMs, signal);
        continue;
      }
      for await (const message of parseEventStream(response.body)) {
        if (message.retry !== undefined) delayMs = message.retry;
        if (message.id !== undefined) lastEventId = message.id;
        const event = toRelayEvent(message);
        if (event) yield event;
      }
      if (options.reconnect === false) return;
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof Error && 'retryable' in error) throw error;
      if (options.reconnect === false) throw toTransportError(error, signal, undefined, 'GET /v1/events');
    } finally {
      signal?.removeEventListener('abort', onAbort);
      local.abort();
    }
    await pause(delayMs, signal);
  }
}

function toRelayEvent(message: SseMessage): RelayEvent | undefined {
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const record = data as Record<string, unknown>;
  if (message.event === 'job') {
    const job = JobSchema.safeParse(record.job);
    return job.success ? { type: 'job', id: message.id ?? '', job: job.data } : undefined;
  }
  if (message.event === 'reset') {
    const reason = typeof record.reason === 'string' ? record.reason : 'resync';
    return message.id === undefined ? { type: 'reset', reason } : { type: 'reset', id: message.id, reason };
  }
  if (message.event === 'ready') {
    return { type: 'ready', lastEventId: typeof record.lastEventId === 'string' ? record.lastEventId : null };
  }
  return undefined;
}

/** One dispatched Server-Sent Event (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface SseMessage {
  event: string;
  data: string;
  id?: string | undefined;
  retry?: number | undefined;
}

/** Parses a `text/event-stream` body into messages, following the WHATWG rules for fields and line ends. */
export async function* parseEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  let retry: number | undefined;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const match = /\r\n|\r|\n/.exec(buffer);
        // A lone trailing \r may be the first half of \r\n: wait for more bytes.
        if (!match || (match[0] === '\r' && match.index === buffer.length - 1 && !done)) break;
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === '') {
          if (data.length > 0) {
            yield { event: event || 'message', data: data.join('\n'), id, retry };
          }
          event = '';
          data = [];
          retry = undefined;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) id = value;
        else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}

/** Waits before reconnecting; an abort ends the wait quietly (the loop then sees `signal.aborted`). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(ms, signal).catch(() => undefined);
}
