import {
  AuthError,
  InvalidRequestError,
  NotFoundError,
  NotSupportedError,
  PermissionError,
  ProviderUnavailableError,
  QuotaError,
  RateLimitedError,
  type RetalkError,
  type RetalkErrorCode,
  type RetalkErrorOptions,
} from './errors.js';
import { relayJobErrorHint } from './job-errors.js';
import type { Provider } from './task.js';

/** How one provider error code maps onto Retalk. */
export interface ProviderErrorEntry {
  /** The Retalk error code this becomes when it comes back as an HTTP error. */
  error: Exclude<
    RetalkErrorCode,
    'task_failed' | 'network' | 'timeout' | 'aborted' | 'response_validation' | 'conform'
  >;
  /** Whether the same call (or, for a failed task, the same inputs) can succeed later. */
  retryable: boolean;
  /** What the user should do about it. */
  hint: string;
}

const FIX_INPUT = 'Fix the input and submit again.';
const REGION_HINT =
  'videoretalk is served by the China (Beijing) region only: use https://dashscope.aliyuncs.com/api/v1 with a Beijing-region key, or a reseller that offers videoretalk.';

const TOP_UP_EVOLINK = 'The EvoLink account balance is too low: top it up in the EvoLink console.';
const KEY_LIMIT_EVOLINK =
  "This EvoLink key's own spending limit is used up (not the account balance): raise it in the EvoLink console or use another key.";
const KEY_DAILY_EVOLINK =
  "This EvoLink key's daily limit is used up; it resets at midnight, or raise it in the EvoLink console.";
const TRY_LATER = 'This is on the provider side; try again in a few minutes.';

/**
 * Every error code documented for each provider (HTTP-level and task-level, see
 * reference/providers.md A.2, A.5, B.6, B.9) and what it means for a caller.
 */
export const PROVIDER_ERRORS: Record<Provider, Record<string, ProviderErrorEntry>> = {
  evolink: {
    // HTTP-level (create, query, files)
    invalid_task_id: {
      error: 'invalid_request',
      retryable: false,
      hint: 'EvoLink task ids start with "task-unified-".',
    },
    unauthorized: { error: 'auth', retryable: false, hint: 'Check RETALK_API_KEY / the apiKey option.' },
    quota_exceeded: { error: 'quota', retryable: false, hint: 'Top up the EvoLink account.' },
    // 402 sub-codes (EvoLink's MCP error-handler, audit §4.6): the account balance, the key's own
    // limit, the key's daily limit; and key states.
    insufficient_quota: { error: 'quota', retryable: false, hint: TOP_UP_EVOLINK },
    insufficient_user_quota: { error: 'quota', retryable: false, hint: TOP_UP_EVOLINK },
    quota_not_enough: { error: 'quota', retryable: false, hint: TOP_UP_EVOLINK },
    account_balance_insufficient: { error: 'quota', retryable: false, hint: TOP_UP_EVOLINK },
    insufficient_token_quota: { error: 'quota', retryable: false, hint: KEY_LIMIT_EVOLINK },
    key_quota_exhausted: { error: 'quota', retryable: false, hint: KEY_LIMIT_EVOLINK },
    token_daily_quota_exceeded: { error: 'quota', retryable: false, hint: KEY_DAILY_EVOLINK },
    key_daily_quota_exhausted: { error: 'quota', retryable: false, hint: KEY_DAILY_EVOLINK },
    key_disabled: {
      error: 'auth',
      retryable: false,
      hint: 'This EvoLink key is disabled: enable it in the EvoLink console or use another key.',
    },
    key_expired: {
      error: 'auth',
      retryable: false,
      hint: 'This EvoLink key has expired: extend it in the EvoLink console or use another key.',
    },
    key_model_not_allowed: {
      error: 'permission',
      retryable: false,
      hint: "This key may not use videoretalk: add it to the key's model list in the EvoLink console.",
    },
    no_available_channel: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    model_unavailable: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    permission_denied: {
      error: 'permission',
      retryable: false,
      hint: 'The task belongs to another account.',
    },
    model_access_denied: { error: 'permission', retryable: false, hint: 'Enable videoretalk for this key.' },
    task_not_found: { error: 'not_found', retryable: false, hint: 'Check the task id.' },
    rate_limit_exceeded: { error: 'rate_limited', retryable: true, hint: 'Slow down and retry shortly.' },
    internal_error: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    // A repeated Idempotency-Key with another body; and one whose first request is still in flight
    // (EvoLink's MCP error-handler, audit §4.5).
    idempotency_conflict: {
      error: 'invalid_request',
      retryable: false,
      hint: 'This idempotency key was already used for a different request; submit with a new key.',
    },
    paid_outcome_unknown: {
      error: 'provider_unavailable',
      retryable: true,
      hint: 'The first submit with this idempotency key is still being processed; retry with the same key shortly.',
    },
    missing_required_params: {
      error: 'invalid_request',
      retryable: false,
      hint: 'Send both video and audio.',
    },
    // task-level (error.code of a failed task)
    content_policy_violation: { error: 'invalid_request', retryable: false, hint: 'Use other media.' },
    invalid_parameters: { error: 'invalid_request', retryable: false, hint: FIX_INPUT },
    image_processing_error: {
      error: 'invalid_request',
      retryable: false,
      hint: 'Check the reference image.',
    },
    image_dimension_mismatch: {
      error: 'invalid_request',
      retryable: false,
      hint: 'Check the reference image.',
    },
    request_cancelled: { error: 'invalid_request', retryable: false, hint: 'The task was cancelled.' },
    generation_failed_no_content: {
      error: 'provider_unavailable',
      retryable: true,
      hint: 'Make sure the video shows one clear face, then retry.',
    },
    service_error: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    generation_timeout: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    resource_exhausted: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    service_unavailable: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    resource_not_found: {
      error: 'not_found',
      retryable: false,
      hint: 'Check that the input URLs are reachable.',
    },
    unknown_error: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
  },
  dashscope: {
    InvalidParameter: { error: 'invalid_request', retryable: false, hint: FIX_INPUT },
    'InvalidParameter.DataInspection': {
      error: 'invalid_request',
      retryable: false,
      hint: 'oss:// inputs need the X-DashScope-OssResourceResolve header (Retalk adds it).',
    },
    invalid_parameter_error: { error: 'invalid_request', retryable: false, hint: FIX_INPUT },
    InvalidApiKey: { error: 'auth', retryable: false, hint: 'Use a China (Beijing) region DashScope key.' },
    Throttling: { error: 'rate_limited', retryable: true, hint: 'Slow down and retry shortly.' },
    'Throttling.RateQuota': {
      error: 'rate_limited',
      retryable: true,
      hint: 'videoretalk accepts 1 submit/s and 20 queries/s; retry shortly.',
    },
    // Billing and free-tier answers (audit row 4): a 403/429 that waiting cannot fix, so never
    // retried, and the hint says what to do in the console.
    'Throttling.AllocationQuota': {
      error: 'quota',
      retryable: false,
      hint: 'The free quota of videoretalk is used up and pay-as-you-go is not on: turn it on (or buy a plan) in the Model Studio console.',
    },
    'AllocationQuota.FreeTierOnly': {
      error: 'quota',
      retryable: false,
      hint: 'The free tier is used up and the key is set to "free tier only": turn that off in the Model Studio console to pay as you go.',
    },
    PrepaidBillOverdue: {
      error: 'quota',
      retryable: false,
      hint: 'The Alibaba Cloud account has an overdue prepaid bill: settle it in the billing console.',
    },
    PostpaidBillOverdue: {
      error: 'quota',
      retryable: false,
      hint: 'The Alibaba Cloud account has an overdue bill: top it up in the billing console.',
    },
    CommodityNotPurchased: {
      error: 'quota',
      retryable: false,
      hint: 'videoretalk is not activated for this account: activate it in the Model Studio console.',
    },
    // The error page lists the 500 form; an older table listed 408 (audit row 13). Both are retried.
    RequestTimeOut: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    'BadRequest.IllegalInput': { error: 'invalid_request', retryable: false, hint: FIX_INPUT },
    'BadRequest.TooLarge': { error: 'invalid_request', retryable: false, hint: FIX_INPUT },
    'InvalidURL.ConnectionRefused': {
      error: 'invalid_request',
      retryable: false,
      hint: 'The provider could not download an input: use a public URL or uploadFile().',
    },
    'InvalidURL.Timeout': {
      error: 'invalid_request',
      retryable: true,
      hint: 'The provider could not download an input within 60 s: use a faster host or uploadFile().',
    },
    InvalidURL: { error: 'invalid_request', retryable: false, hint: 'Use public http(s) or oss:// URLs.' },
    'InvalidFile.Size': {
      error: 'invalid_request',
      retryable: false,
      hint: 'Video ≤300 MB, audio ≤30 MB, image ≤10 MB.',
    },
    'InvalidFile.Format': {
      error: 'invalid_request',
      retryable: false,
      hint: 'Video mp4/avi/mov, audio wav/mp3/aac.',
    },
    'InvalidFile.Resolution': {
      error: 'invalid_request',
      retryable: false,
      hint: 'Each side of the video, width and height, must be 640–2048 px: upscale or pad a smaller video, downscale a larger one.',
    },
    'InvalidFile.FPS': { error: 'invalid_request', retryable: false, hint: 'The video must be 15–60 fps.' },
    'InvalidFile.Duration': {
      error: 'invalid_request',
      retryable: false,
      hint: 'Video and audio must be 2–120 s.',
    },
    'InvalidFile.ImageSize': {
      error: 'invalid_request',
      retryable: false,
      hint: 'Reference image ≤10 MB, aspect ratio ≤2, longest side ≤4096 px.',
    },
    'InvalidFile.Openerror': {
      error: 'invalid_request',
      retryable: false,
      hint: 'The file could not be opened; re-encode it.',
    },
    'InvalidFile.Content': {
      error: 'invalid_request',
      retryable: false,
      hint: 'The reference image must show exactly one person.',
    },
    'InvalidFile.FaceNotMatch': {
      error: 'invalid_request',
      retryable: false,
      hint: 'The reference face must appear in the video; pick another image or lower faceThreshold.',
    },
    DataInspectionFailed: {
      error: 'invalid_request',
      retryable: false,
      hint: 'Content moderation refused the input.',
    },
    'BadRequest.EmptyInput': { error: 'invalid_request', retryable: false, hint: FIX_INPUT },
    'BadRequest.EmptyParameters': { error: 'invalid_request', retryable: false, hint: FIX_INPUT },
    'BadRequest.EmptyModel': { error: 'invalid_request', retryable: false, hint: FIX_INPUT },
    Arrearage: {
      error: 'quota',
      retryable: false,
      hint: 'The Alibaba Cloud account is in arrears; top it up.',
    },
    UnsupportedOperation: {
      error: 'not_supported',
      retryable: false,
      hint: 'DashScope can cancel a task only while it is PENDING.',
    },
    AccessDenied: { error: 'permission', retryable: false, hint: 'Check that the key may call videoretalk.' },
    'AccessDenied.Unpurchased': {
      error: 'permission',
      retryable: false,
      hint: 'Activate videoretalk in Model Studio.',
    },
    'Model.AccessDenied': {
      error: 'permission',
      retryable: false,
      hint: 'Activate videoretalk in Model Studio.',
    },
    ModelNotFound: { error: 'not_found', retryable: false, hint: REGION_HINT },
    InternalError: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    'InternalError.Algo': { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    'InternalError.Timeout': { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
    ModelUnavailable: { error: 'provider_unavailable', retryable: true, hint: TRY_LATER },
  },
};

/** The Retalk code for an HTTP status when the provider's code is unknown or numeric. */
export function errorCodeForStatus(status: number): ProviderErrorEntry['error'] {
  // 408 Request Timeout: the provider gave up waiting, nothing was refused (audit row 13).
  if (status === 408) return 'provider_unavailable';
  if (status === 401) return 'auth';
  if (status === 402) return 'quota';
  if (status === 403) return 'permission';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'provider_unavailable';
  return 'invalid_request';
}

/** Looks a provider code up in {@link PROVIDER_ERRORS}; undefined for codes it does not list. */
export function lookupProviderError(provider: Provider, code: string | number | undefined) {
  if (code === undefined) return undefined;
  const table = PROVIDER_ERRORS[provider];
  return Object.hasOwn(table, String(code)) ? table[String(code)] : undefined;
}

/**
 * Codes whose meaning differs when a task fails with them from when an HTTP call answers them.
 * EvoLink lists `quota_exceeded` and `resource_not_found` among its task errors with their own
 * advice ("rate limit or quota exceeded, retry later"; "task id invalid or expired"), while the
 * same `quota_exceeded` on HTTP 402 means the balance (audit row 8).
 */
export const TASK_ERRORS: Partial<
  Record<Provider, Record<string, Pick<ProviderErrorEntry, 'retryable' | 'hint'>>>
> = {
  evolink: {
    quota_exceeded: {
      retryable: true,
      hint: 'EvoLink hit a rate limit or quota while running it: submit again in a few minutes, and check the balance if it repeats.',
    },
    resource_not_found: {
      retryable: false,
      hint: 'EvoLink no longer knows the task (its id is invalid or expired): submit again.',
    },
  },
};

function lookupTaskError(provider: Provider, code: string) {
  const table = TASK_ERRORS[provider];
  return table && Object.hasOwn(table, code) ? table[code] : lookupProviderError(provider, code);
}

/** Whether a failed task with this provider code is worth submitting again. Unknown codes: no. */
export function isRetryableTaskCode(provider: Provider, code: string): boolean {
  return lookupTaskError(provider, code)?.retryable ?? false;
}

/** What the user should do about a task that failed with this provider code, or undefined. */
export function taskHintFor(provider: Provider, code: string): string | undefined {
  return lookupTaskError(provider, code)?.hint;
}

/** What the user should do about a provider code, or undefined. */
export function hintFor(provider: Provider, code: string | number | undefined): string | undefined {
  return lookupProviderError(provider, code)?.hint;
}

/**
 * What a member should do about a relay job that failed with `code`: the relay's own advice for
 * its codes (`submit_interrupted`, …), else the provider's for a task failure, else for an HTTP
 * answer; undefined when nobody knows the code. The relay puts it in `JobError.hint`.
 */
export function jobErrorHint(provider: Provider, code: string): string | undefined {
  return relayJobErrorHint(code) ?? taskHintFor(provider, code);
}

/** Inputs of {@link toProviderError}. */
export interface ProviderErrorInput {
  provider: Provider;
  /** HTTP status of the response. */
  status: number;
  /** Provider code from the body (string, or EvoLink's numeric variant). */
  code?: string | number | undefined;
  message?: string | undefined;
  requestId?: string | undefined;
  /** Parsed `Retry-After`, in milliseconds. */
  retryAfterMs?: number | undefined;
  /** EvoLink `param`, naming the offending field. */
  param?: string | undefined;
  /** What was being done (`query task X`), for the message. */
  action: string;
}

/**
 * Answers whose code is too broad to advise on, told apart by their message: DashScope answers
 * an unknown or unavailable model as 400 `InvalidParameter` "Model not exist." (audit row 5).
 */
const BY_MESSAGE: Partial<
  Record<Provider, Array<{ code: string; pattern: RegExp; entry: ProviderErrorEntry }>>
> = {
  dashscope: [
    {
      code: 'InvalidParameter',
      pattern: /model not exist|model can ?not be found/i,
      entry: { error: 'invalid_request', retryable: false, hint: REGION_HINT },
    },
  ],
};

/** Turns a provider's HTTP error answer into the right {@link RetalkError} subclass, table-driven. */
export function toProviderError(input: ProviderErrorInput): RetalkError {
  const special = BY_MESSAGE[input.provider]?.find(
    (m) => m.code === String(input.code) && m.pattern.test(input.message ?? ''),
  );
  const entry = special?.entry ?? lookupProviderError(input.provider, input.code);
  const kind = entry?.error ?? errorCodeForStatus(input.status);
  const hint = entry?.hint ?? defaultHint(kind);
  const codeText = input.code === undefined ? '' : ` ${input.code}`;
  const message = `${input.provider} ${input.action} failed: HTTP ${input.status}${codeText}${
    input.message ? ` (${input.message})` : ''
  }. ${hint}`;
  const options: RetalkErrorOptions = {
    status: input.status,
    requestId: input.requestId,
    provider: input.provider,
    providerCode: input.code === undefined ? undefined : String(input.code),
    retryable: entry?.retryable ?? (kind === 'rate_limited' || kind === 'provider_unavailable'),
  };
  switch (kind) {
    case 'auth':
      return new AuthError(message, options);
    case 'quota':
      return new QuotaError(message, options);
    case 'permission':
      return new PermissionError(message, options);
    case 'rate_limited':
      return new RateLimitedError(message, { ...options, retryAfterMs: input.retryAfterMs });
    case 'not_found':
      return new NotFoundError(message, options);
    case 'provider_unavailable':
      return new ProviderUnavailableError(message, options);
    case 'not_supported':
      return new NotSupportedError(message, options);
    case 'invalid_request':
      return new InvalidRequestError(message, { ...options, field: input.param });
  }
}

function defaultHint(kind: ProviderErrorEntry['error']): string {
  switch (kind) {
    case 'auth':
      return 'Check the API key.';
    case 'quota':
      return 'Top up the account.';
    case 'permission':
      return 'Check what this key may access.';
    case 'rate_limited':
      return 'Slow down and retry shortly.';
    case 'not_found':
      return 'Check the id.';
    case 'provider_unavailable':
      return TRY_LATER;
    case 'not_supported':
      return 'The provider does not offer this operation.';
    case 'invalid_request':
      return FIX_INPUT;
  }
}
