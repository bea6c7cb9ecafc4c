import { RELAY_JOB_ERRORS, type RelayJobErrorCode } from '@retalk/core/relay';
import { browser } from 'wxt/browser';
import { t } from './i18n.js';

/** Stable codes for problems the extension itself detects (relay errors keep the relay's codes). */
export type ExtensionErrorCode =
  | 'invalid_relay_url'
  | 'invalid_token'
  | 'not_connected'
  | 'permission_denied'
  | 'relay_unreachable'
  | 'no_video'
  | 'stream_source'
  | 'video_fetch_failed'
  | 'canceled'
  | 'audio_unreadable';

/** An error the UI can explain: `code` survives messaging and storage, `field` names the input at fault. */
export type ExtensionError = Error & { readonly code: ExtensionErrorCode; readonly field?: string };

export function createExtensionError(
  code: ExtensionErrorCode,
  message: string,
  options: { field?: string; cause?: unknown } = {},
): ExtensionError {
  const error = new Error(message, { cause: options.cause }) as Error & {
    code: ExtensionErrorCode;
    field?: string;
  };
  error.name = 'ExtensionError';
  error.code = code;
  if (options.field !== undefined) error.field = options.field;
  return error;
}

/** The relay's error codes (`RelayErrorCode`) that have a sentence of their own in the messages. */
const RELAY_CODES = new Set([
  'budget_exceeded',
  'too_many_jobs',
  'rate_limited',
  'payload_too_large',
  'storage_full',
  'storage_quota_exceeded',
  'upstream_unavailable',
  'upstream_error',
  'link_expired',
  'not_cancelable',
  'result_not_ready',
  'forbidden',
  'internal',
  'not_found',
  'method_not_allowed',
  'invalid_json',
  'unsupported_media_type',
  'not_ready',
]);
/** Relay codes whose message carries the detail (which field, which limit): shown after a local lead. */
const RELAY_CODES_WITH_DETAIL = new Set([
  'media_rejected',
  'invalid_request',
  'url_not_allowed',
  'conflict',
  'no_capable_upstream',
]);

/**
 * What a member reads for an error, in the UI's language, by its stable code (finding 10): the
 * client's transport codes (`network`, `timeout`, `auth`…) and the relay's own codes (carried in
 * `providerCode` by core's relay client, or `code` in plain data). Errors the extension raised
 * itself are already in the member's language and are shown as they are.
 */
function localMessage(code: string, relayCode: string, message: string): string | undefined {
  if (code === 'network') return t('errors.network');
  if (code === 'timeout') return t('errors.timeout');
  if (code === 'response_validation') return t('errors.notRelay');
  if (code === 'auth' || relayCode === 'unauthorized')
    return /revoked/i.test(message) ? t('errors.revoked') : t('errors.badToken');
  const relay = relayCode || code;
  if (RELAY_CODES.has(relay)) return t(`errors.relay.${relay}` as Parameters<typeof t>[0]);
  if (RELAY_CODES_WITH_DETAIL.has(relay))
    return t(`errors.relay.${relay}` as 'errors.relay.media_rejected', { detail: message });
  return undefined;
}

function stringField(error: unknown, name: string): string {
  return typeof error === 'object' && error !== null && name in error
    ? String((error as Record<string, unknown>)[name] ?? '')
    : '';
}

/** The message to show for any thrown value, in the member's words (and language) rather than HTTP's. */
export function toErrorMessage(error: unknown): string {
  const raw =
    error instanceof Error
      ? error.message
      : typeof error === 'object' && error !== null && 'message' in error
        ? String(error.message)
        : String(error);
  return (
    localMessage(stringField(error, 'code'), stringField(error, 'providerCode'), raw) ??
    (raw || String(error))
  );
}

/** Local advice for the relay's own job error codes (`RELAY_JOB_ERRORS`); undefined for a provider code. */
function relayJobAdvice(code: string): string | undefined {
  return Object.hasOwn(RELAY_JOB_ERRORS, code) ? t(`errors.job.${code as RelayJobErrorCode}`) : undefined;
}

/**
 * The message name of a provider code's advice (`errors.provider.<code>` in the locales, with the
 * code's dots written as underscores, since message names allow only letters, digits and `_`).
 */
export function providerAdviceKey(code: string): string {
  return `errors_provider_${code.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * What to do about a failed job, in the member's language, by its code: the relay's own codes and
 * every provider code in core's table (`PROVIDER_ERRORS`) have a message in each locale; undefined
 * for a code the extension does not know yet (the caller shows the relay's English `hint` then).
 */
export function jobAdvice(code: string): string | undefined {
  const relay = relayJobAdvice(code);
  if (relay !== undefined) return relay;
  // Looked up directly (not through the typed `t`): a provider code newer than this extension is
  // expected, not a missing key, and its name is only known at run time.
  const getMessage = browser.i18n.getMessage as (name: string) => string;
  return getMessage(providerAdviceKey(code)) || undefined;
}
