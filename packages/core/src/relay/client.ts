import type * as z from 'zod/mini';
import type { RetalkError } from '../errors.js';
import { parseResponse, toTransportError } from './errors.js';
import { streamEvents } from './events.js';
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
  type RelayEvent,
  type ResultLink,
  ResultLinkSchema,
  type Upload,
  UploadSchema,
} from './schemas.js';
import {
  defaultUploadTransport,
  type RelayTransportResponse,
  type RelayUploadTransport,
  type UploadProgress,
} from './upload-transport.js';

export { relayErrorFromResponse } from './errors.js';
export { parseEventStream, type SseMessage } from './events.js';
export type {
  RelayTransportResponse,
  RelayUploadRequest,
  RelayUploadTransport,
  UploadProgress,
} from './upload-transport.js';

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
