import type { ConformRefusalCode } from './conform/refusal.js';
import type { Provider } from './task.js';

/**
 * Every stable error code a Retalk call can fail with. Branch on `error.code`, never on
 * `instanceof`: the code survives `postMessage`, structured clone and JSON, a class does not.
 */
export const ERROR_CODES = [
  'auth',
  'quota',
  'permission',
  'rate_limited',
  'invalid_request',
  'not_found',
  'task_failed',
  'provider_unavailable',
  'network',
  'timeout',
  'aborted',
  'response_validation',
  'not_supported',
  'conform',
] as const;

/** One of {@link ERROR_CODES}. */
export type RetalkErrorCode = (typeof ERROR_CODES)[number];

/** Fields every Retalk error may carry besides its message. */
export interface RetalkErrorOptions {
  /** HTTP status of the provider response that caused the error, when there was one. */
  status?: number | undefined;
  /** The provider's request id (DashScope `request_id`), for support tickets. */
  requestId?: string | undefined;
  /** Whether repeating the same call later can succeed. Default depends on the error class. */
  retryable?: boolean | undefined;
  /** Which provider answered. */
  provider?: Provider | undefined;
  /** The provider's own error code (`Throttling.RateQuota`, `task_not_found`, 402, …) as a string. */
  providerCode?: string | undefined;
  /** The low-level error (a fetch `TypeError`, a zod error, an abort reason). */
  cause?: unknown;
}

/** The plain-data form of a {@link RetalkError}, as produced by `toJSON()` and read by {@link errorFromJSON}. */
export interface SerializedRetalkError {
  name: string;
  code: RetalkErrorCode;
  message: string;
  retryable: boolean;
  status?: number;
  requestId?: string;
  provider?: Provider;
  providerCode?: string;
  retryAfterMs?: number;
  field?: string;
  allowed?: string;
  taskId?: string;
  taskStatus?: string;
  providerMessage?: string;
  reason?: string;
}

/**
 * Base class of every error Retalk throws. Carries data, not just a message: a stable `code`,
 * the HTTP `status` and provider `requestId` when known, and whether a retry can help.
 *
 * @example
 * try { await client.run(req) } catch (err) {
 *   if (isRetalkError(err) && err.code === 'rate_limited') setTimeout(retry, err.retryAfterMs ?? 1000);
 * }
 */
export class RetalkError extends Error {
  override name = 'RetalkError';
  readonly code: RetalkErrorCode;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly retryable: boolean;
  readonly provider: Provider | undefined;
  readonly providerCode: string | undefined;

  constructor(code: RetalkErrorCode, message: string, options: RetalkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.requestId = options.requestId;
    this.retryable = options.retryable ?? false;
    this.provider = options.provider;
    this.providerCode = options.providerCode;
  }

  /** Plain data that survives `postMessage`/JSON; rebuild the class with {@link errorFromJSON}. */
  toJSON(): SerializedRetalkError {
    const out: SerializedRetalkError = {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
    };
    if (this.status !== undefined) out.status = this.status;
    if (this.requestId !== undefined) out.requestId = this.requestId;
    if (this.provider !== undefined) out.provider = this.provider;
    if (this.providerCode !== undefined) out.providerCode = this.providerCode;
    return out;
  }
}

/** The API key is missing, wrong, or belongs to another region. Code `auth`. */
export class AuthError extends RetalkError {
  override name = 'AuthError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('auth', message, options);
  }
}

/** The account has no credit or balance left. Code `quota`. */
export class QuotaError extends RetalkError {
  override name = 'QuotaError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('quota', message, options);
  }
}

/** The key may not use this model, task or operation. Code `permission`. */
export class PermissionError extends RetalkError {
  override name = 'PermissionError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('permission', message, options);
  }
}

/** The provider throttled the call. Code `rate_limited`; `retryAfterMs` when the provider said. */
export class RateLimitedError extends RetalkError {
  override name = 'RateLimitedError' as const;
  /** How long the provider asked to wait (from `Retry-After`), in milliseconds. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: RetalkErrorOptions & { retryAfterMs?: number | undefined } = {}) {
    super('rate_limited', message, { retryable: true, ...options });
    this.retryAfterMs = options.retryAfterMs;
  }
  override toJSON(): SerializedRetalkError {
    const out = super.toJSON();
    if (this.retryAfterMs !== undefined) out.retryAfterMs = this.retryAfterMs;
    return out;
  }
}

/** The request was refused as invalid. Code `invalid_request`; `field` and `allowed` say what to fix. */
export class InvalidRequestError extends RetalkError {
  override name = 'InvalidRequestError' as const;
  /** Path of the offending field (`faceThreshold`, `video`, …) when known. */
  readonly field: string | undefined;
  /** The allowed values or range, in words (`an integer from 120 to 200`). */
  readonly allowed: string | undefined;
  constructor(
    message: string,
    options: RetalkErrorOptions & { field?: string | undefined; allowed?: string | undefined } = {},
  ) {
    super('invalid_request', message, options);
    this.field = options.field;
    this.allowed = options.allowed;
  }
  override toJSON(): SerializedRetalkError {
    const out = super.toJSON();
    if (this.field !== undefined) out.field = this.field;
    if (this.allowed !== undefined) out.allowed = this.allowed;
    return out;
  }
}

/** The task (or model) does not exist for this key. Code `not_found`. */
export class NotFoundError extends RetalkError {
  override name = 'NotFoundError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('not_found', message, options);
  }
}

/**
 * The task reached a terminal state other than success (failed, canceled or expired). Code
 * `task_failed`; `providerCode`/`providerMessage` hold the provider's reason and `retryable` says
 * whether submitting the same inputs again can work.
 */
export class TaskFailedError extends RetalkError {
  override name = 'TaskFailedError' as const;
  readonly taskId: string | undefined;
  /** The terminal {@link TaskStatus} (`failed`, `canceled` or `expired`). */
  readonly taskStatus: string | undefined;
  readonly providerMessage: string | undefined;
  /** The terminal task itself (not serialized by `toJSON`). */
  readonly task: unknown;
  constructor(
    message: string,
    options: RetalkErrorOptions & {
      taskId?: string | undefined;
      taskStatus?: string | undefined;
      providerMessage?: string | undefined;
      task?: unknown;
    } = {},
  ) {
    super('task_failed', message, options);
    this.taskId = options.taskId;
    this.taskStatus = options.taskStatus;
    this.providerMessage = options.providerMessage;
    this.task = options.task;
  }
  override toJSON(): SerializedRetalkError {
    const out = super.toJSON();
    if (this.taskId !== undefined) out.taskId = this.taskId;
    if (this.taskStatus !== undefined) out.taskStatus = this.taskStatus;
    if (this.providerMessage !== undefined) out.providerMessage = this.providerMessage;
    return out;
  }
}

/** The provider answered 5xx or is overloaded. Code `provider_unavailable`, retryable. */
export class ProviderUnavailableError extends RetalkError {
  override name = 'ProviderUnavailableError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('provider_unavailable', message, { retryable: true, ...options });
  }
}

/** The request never got an answer (DNS, refused connection, reset, per-request timeout). Code `network`. */
export class NetworkError extends RetalkError {
  override name = 'NetworkError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('network', message, { retryable: true, ...options });
  }
}

/** A `timeoutMs` deadline passed. Code `timeout` (distinct from `aborted`). */
export class TimeoutError extends RetalkError {
  override name = 'TimeoutError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('timeout', message, { retryable: true, ...options });
  }
}

/** The caller's `AbortSignal` fired. Code `aborted`. */
export class AbortError extends RetalkError {
  override name = 'AbortError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('aborted', message, options);
  }
}

/** The provider answered with a body Retalk cannot read. Code `response_validation`. */
export class ResponseValidationError extends RetalkError {
  override name = 'ResponseValidationError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('response_validation', message, options);
  }
}

/** The provider has no such operation (e.g. cancel on EvoLink). Code `not_supported`. */
export class NotSupportedError extends RetalkError {
  override name = 'NotSupportedError' as const;
  constructor(message: string, options: RetalkErrorOptions = {}) {
    super('not_supported', message, options);
  }
}

/**
 * A file cannot be made to fit the provider's limits (or cannot be read at all). Code `conform`;
 * `reason` says why (`clip_too_long`, `undecodable`, …), `field` which input or option to change,
 * and the message what to do ("choose a clip of at most 2 min").
 *
 * @example
 * if (isRetalkError(err) && err.code === 'conform' && err.reason === 'clip_too_long') askForAShorterClip();
 */
export class ConformError extends RetalkError {
  override name = 'ConformError' as const;
  readonly reason: ConformRefusalCode;
  /** The input or option to change (`clip.endSec`, `video`, …). */
  readonly field: string | undefined;
  /** What is allowed, in words (`at most 120 s`). */
  readonly allowed: string | undefined;
  constructor(
    reason: ConformRefusalCode,
    message: string,
    options: RetalkErrorOptions & { field?: string | undefined; allowed?: string | undefined } = {},
  ) {
    super('conform', message, options);
    this.reason = reason;
    this.field = options.field;
    this.allowed = options.allowed;
  }
  override toJSON(): SerializedRetalkError {
    const out = super.toJSON();
    out.reason = this.reason;
    if (this.field !== undefined) out.field = this.field;
    if (this.allowed !== undefined) out.allowed = this.allowed;
    return out;
  }
}

/**
 * True for a {@link RetalkError} and for its plain-data form (after `toJSON()`, JSON or
 * structured clone): an object with a known string `code` and a string `message`.
 */
export function isRetalkError(value: unknown): value is RetalkError | SerializedRetalkError {
  if (value instanceof RetalkError) return true;
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { code?: unknown; message?: unknown };
  return (
    typeof v.code === 'string' &&
    (ERROR_CODES as readonly string[]).includes(v.code) &&
    typeof v.message === 'string'
  );
}

function opt<T>(v: unknown, type: 'string' | 'number' | 'boolean'): T | undefined {
  return typeof v === type ? (v as T) : undefined;
}

/**
 * Rebuilds the matching {@link RetalkError} subclass from its plain-data form (what `toJSON()`
 * produced on the other side of a message boundary). A value that is not a serialized Retalk error
 * comes back as a `ResponseValidationError` holding the value in `cause`.
 */
export function errorFromJSON(value: unknown): RetalkError {
  if (value instanceof RetalkError) return value;
  if (!isRetalkError(value)) {
    return new ResponseValidationError('Not a serialized Retalk error', { cause: value });
  }
  const v = value as unknown as Record<string, unknown>;
  const base: RetalkErrorOptions = {
    status: opt<number>(v.status, 'number'),
    requestId: opt<string>(v.requestId, 'string'),
    retryable: opt<boolean>(v.retryable, 'boolean'),
    provider: opt<Provider>(v.provider, 'string'),
    providerCode: opt<string>(v.providerCode, 'string'),
  };
  const message = v.message as string;
  switch (v.code as RetalkErrorCode) {
    case 'auth':
      return new AuthError(message, base);
    case 'quota':
      return new QuotaError(message, base);
    case 'permission':
      return new PermissionError(message, base);
    case 'rate_limited':
      return new RateLimitedError(message, { ...base, retryAfterMs: opt<number>(v.retryAfterMs, 'number') });
    case 'invalid_request':
      return new InvalidRequestError(message, {
        ...base,
        field: opt<string>(v.field, 'string'),
        allowed: opt<string>(v.allowed, 'string'),
      });
    case 'not_found':
      return new NotFoundError(message, base);
    case 'task_failed':
      return new TaskFailedError(message, {
        ...base,
        taskId: opt<string>(v.taskId, 'string'),
        taskStatus: opt<string>(v.taskStatus, 'string'),
        providerMessage: opt<string>(v.providerMessage, 'string'),
      });
    case 'provider_unavailable':
      return new ProviderUnavailableError(message, base);
    case 'network':
      return new NetworkError(message, base);
    case 'timeout':
      return new TimeoutError(message, base);
    case 'aborted':
      return new AbortError(message, base);
    case 'response_validation':
      return new ResponseValidationError(message, base);
    case 'not_supported':
      return new NotSupportedError(message, base);
    case 'conform':
      return new ConformError(
        (opt<string>(v.reason, 'string') ?? 'undecodable') as ConformRefusalCode,
        message,
        {
          ...base,
          field: opt<string>(v.field, 'string'),
          allowed: opt<string>(v.allowed, 'string'),
        },
      );
  }
}
