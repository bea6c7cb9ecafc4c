import type { Clock } from './clock.js';
import {
  AbortError,
  isRetalkError,
  NetworkError,
  ProviderUnavailableError,
  type RetalkError,
  RetalkError as RetalkErrorClass,
} from './errors.js';
import { toProviderError } from './provider-errors.js';
import { parseRetryAfterMs, retryDelayMs } from './retry.js';
import type { Provider } from './task.js';

/** The `fetch` signature Retalk needs (the global one, undici's, or a test double). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * How a failed call may be repeated:
 * - `read`: idempotent (query, policy, cancel) — retried on 429, 5xx and network errors.
 * - `write`: creates something that bills or uses quota (submit, upload) — retried only when the
 *   provider provably did not act on it (see {@link isProvablyNotReceived}).
 */
export type RequestKind = 'read' | 'write';

/** What a provider error body says, once read. */
export interface ErrorDetails {
  code?: string | number | undefined;
  message?: string | undefined;
  requestId?: string | undefined;
  param?: string | undefined;
}

/** Everything `send` needs, resolved once by `createClient`. */
export interface TransportOptions {
  provider: Provider;
  fetch: FetchLike;
  clock: Clock;
  random: () => number;
  readRetries: number;
  writeRetries: number;
  requestTimeoutMs: number;
  /** Largest answer body read, in bytes; a larger one is cut off and reported as `provider_unavailable`. */
  maxResponseBytes: number;
  /** Passed through as `init.dispatcher` (Node/undici only; browsers ignore it). */
  dispatcher?: unknown;
  readError: (body: unknown) => ErrorDetails;
  /** Removed from every message built from a low-level error (fetch may quote a bad header value). */
  secret?: string;
  /** Told of each failed attempt that is retried. */
  onRetry?: ((error: RetalkError) => void) | undefined;
}

/** One provider request. */
export interface SendOptions {
  method: 'GET' | 'POST';
  url: string;
  kind: RequestKind;
  /** What is being done, for messages: `query task 123`. */
  action: string;
  headers?: Record<string, string>;
  /** A function so a retry gets a fresh body (FormData and streams are single-use). */
  body?: () => BodyInit;
  signal?: AbortSignal | undefined;
  /**
   * Waits before every attempt, retries included (DashScope's submit pacing). Rejects only when
   * `signal` aborts.
   */
  pace?: ((signal: AbortSignal | undefined) => Promise<void>) | undefined;
  /** Overrides the retry count of `kind` (EvoLink submits: at most one, with the same idempotency key). */
  retries?: number | undefined;
  /** Overrides which failures `kind` may repeat. */
  retryOn?: ((error: RetalkError) => boolean) | undefined;
}

/** A successful (2xx) answer. */
export interface SendResult {
  status: number;
  headers: Headers;
  /** Parsed JSON, `undefined` for an empty body, the raw text when it is not JSON. */
  body: unknown;
}

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * True only when the request provably never reached the server: DNS failed, or the TCP
 * connection was refused or never opened. Browsers hide the cause, so there it is always false.
 */
export function isProvablyNotReceived(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_FAILURES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The error to throw once `signal` aborted: its reason when that is a Retalk error, else `aborted`. */
export function abortErrorFrom(signal: AbortSignal, action: string): RetalkError {
  const reason: unknown = signal.reason;
  if (reason instanceof RetalkErrorClass) return reason;
  return new AbortError(`${action} was aborted`, { cause: reason });
}

/** Sends one provider request with the retry rules of its {@link RequestKind}. */
export async function send(t: TransportOptions, o: SendOptions): Promise<SendResult> {
  const maxRetries = o.retries ?? (o.kind === 'read' ? t.readRetries : t.writeRetries);
  const retryOn = o.retryOn ?? ((error: RetalkError) => mayRetry(o.kind, error));
  for (let attempt = 0; ; attempt++) {
    if (o.pace) {
      try {
        await o.pace(o.signal);
      } catch (error) {
        throw o.signal ? abortErrorFrom(o.signal, o.action) : error;
      }
    }
    let failure: RetalkError;
    try {
      return await sendOnce(t, o);
    } catch (error) {
      if (!(error instanceof RetalkErrorClass)) throw error;
      failure = error;
    }
    if (failure.code === 'aborted' || failure.code === 'timeout' || attempt >= maxRetries) throw failure;
    if (!retryOn(failure)) throw failure;
    t.onRetry?.(failure);
    const retryAfterMs = (failure as { retryAfterMs?: number }).retryAfterMs;
    const delay = Math.max(retryAfterMs ?? 0, retryDelayMs(attempt, t.random));
    try {
      await t.clock.sleep(delay, o.signal);
    } catch {
      throw o.signal ? abortErrorFrom(o.signal, o.action) : failure;
    }
  }
}

function mayRetry(kind: RequestKind, error: RetalkError): boolean {
  if (kind === 'read')
    return error.retryable && ['rate_limited', 'provider_unavailable', 'network'].includes(error.code);
  // A write without an idempotency key is repeated only when no task can exist: DashScope documents
  // 429 Throttling.RateQuota as a refused submit (1 submit/s), and a connection that was never
  // opened cannot have created anything. A 5xx, a reset or a timeout after the request went out
  // may have created a task, so repeating it could bill twice. (EvoLink submits carry an
  // Idempotency-Key and pass their own rule, see providers/evolink.ts; audit row 2.)
  if (error.code === 'rate_limited') return true;
  return error.code === 'network' && isProvablyNotReceived(error.cause);
}

async function sendOnce(t: TransportOptions, o: SendOptions): Promise<SendResult> {
  if (o.signal?.aborted) throw abortErrorFrom(o.signal, o.action);
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, t.requestTimeoutMs);
  try {
    const init: RequestInit & { dispatcher?: unknown } = {
      method: o.method,
      headers: o.headers ?? {},
      signal: controller.signal,
    };
    if (o.body) init.body = o.body();
    if (t.dispatcher !== undefined) init.dispatcher = t.dispatcher;
    let response: Response;
    try {
      response = await t.fetch(o.url, init);
    } catch (error) {
      if (o.signal?.aborted) throw abortErrorFrom(o.signal, o.action);
      if (timedOut) {
        throw new NetworkError(`${t.provider} ${o.action}: no answer within ${t.requestTimeoutMs} ms`, {
          provider: t.provider,
          cause: error,
        });
      }
      const reason = t.secret ? describe(error).split(t.secret).join('***') : describe(error);
      throw new NetworkError(
        `${t.provider} ${o.action}: could not reach ${new URL(o.url).origin} (${reason})`,
        {
          provider: t.provider,
          cause: error,
        },
      );
    }
    let text: string | undefined;
    try {
      text = await readCapped(response, t.maxResponseBytes);
    } catch (error) {
      if (o.signal?.aborted) throw abortErrorFrom(o.signal, o.action);
      throw new NetworkError(`${t.provider} ${o.action}: the connection broke while reading the answer`, {
        provider: t.provider,
        status: response.status,
        cause: error,
      });
    }
    if (text === undefined) {
      // A provider's JSON answer is a few KB; a huge one (a compromised or broken upstream sent
      // 300 MB per status read) is cut off, and the caller backs off as from any provider outage.
      throw new ProviderUnavailableError(
        `${t.provider} ${o.action}: the answer is larger than ${t.maxResponseBytes} bytes; it was not read`,
        { provider: t.provider, status: response.status },
      );
    }
    const body = parseBody(text);
    if (!response.ok) {
      const details = t.readError(body);
      throw toProviderError({
        provider: t.provider,
        status: response.status,
        code: details.code,
        message: details.message,
        // EvoLink names the request in a header (x-request-id, or x-oneapi-request-id behind its
        // gateway), DashScope in the body (audit row 21).
        requestId:
          details.requestId ??
          response.headers.get('x-request-id') ??
          response.headers.get('x-oneapi-request-id') ??
          undefined,
        param: details.param,
        retryAfterMs: parseRetryAfterMs(response.headers.get('retry-after'), t.clock.now()),
        action: o.action,
      });
    }
    return { status: response.status, headers: response.headers, body };
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** The body as text, or undefined (and the rest left unread) once it grows past `maxBytes`. */
async function readCapped(response: Response, maxBytes: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

function parseBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (isRetalkError(error)) return error.message;
  return error instanceof Error ? error.message : String(error);
}
