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

/**
 * What a member reads for the errors that speak HTTP when they come from the relay client
 * ("GET /v1/me could not reach the relay", "HTTP 404 with a body that is not JSON", "The
 * Authorization header is not …"), by their stable code (finding 10). Other errors already say
 * what to do in plain words and are shown as they are.
 */
const PLAIN_MESSAGES: Partial<Record<string, (message: string) => string>> = {
  network: () => 'Cannot reach the relay. Check its address and that it is running, then try again.',
  timeout: () => 'The relay did not answer in time. Try again in a moment.',
  response_validation: () =>
    'That address answers, but not as a Retalk relay. Check the relay URL your team gave you, e.g. https://relay.example.com',
  auth: (message) =>
    /revoked/i.test(message)
      ? 'Your access to this relay was revoked. Ask your relay admin for a new link or token.'
      : 'The relay does not accept this token. Check that you copied all of it, or ask your relay admin for a new one.',
};

/** The message to show for any thrown value, in the member's words rather than HTTP's. */
export function toErrorMessage(error: unknown): string {
  const raw =
    error instanceof Error
      ? error.message
      : typeof error === 'object' && error !== null && 'message' in error
        ? String(error.message)
        : String(error);
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  return PLAIN_MESSAGES[code]?.(raw) ?? (raw || String(error));
}
