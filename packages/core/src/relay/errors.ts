// How a relay answer, or a failure to get one, becomes one of core's RetalkError subclasses.
import type * as z from 'zod/mini';
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
import { RelayErrorBodySchema } from './schemas.js';

/** Reads a relay answer: the parsed body on 2xx, else the matching error. */
export function parseResponse<T>(
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

/** A fetch that threw (abort, timeout, unreachable relay) as a RetalkError naming `what`. */
export function toTransportError(
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
