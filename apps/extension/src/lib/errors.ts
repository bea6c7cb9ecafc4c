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

/** The message to show for any thrown value: relay/core errors and ours all carry a readable message. */
export function toErrorMessage(error: unknown): string {
  if (error instanceof Error && error.message) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}
