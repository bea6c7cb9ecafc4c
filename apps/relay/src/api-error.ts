import type { RelayErrorBody, RelayErrorCode } from '@retalk/core/relay';
import type { core } from 'zod';

/** An error the API answers with: HTTP status + the relay's error envelope. */
export class ApiError extends Error {
  override name = 'ApiError' as const;
  constructor(
    readonly statusCode: number,
    readonly code: RelayErrorCode,
    message: string,
    readonly extra: { field?: string; allowed?: string | (string | number)[]; retryAfterMs?: number } = {},
  ) {
    super(message);
  }

  toBody(requestId?: string): RelayErrorBody {
    const error: RelayErrorBody['error'] = { code: this.code, message: this.message };
    if (this.extra.field !== undefined) error.field = this.extra.field;
    if (this.extra.allowed !== undefined) error.allowed = this.extra.allowed;
    if (this.extra.retryAfterMs !== undefined) error.retryAfterMs = this.extra.retryAfterMs;
    if (requestId !== undefined) error.requestId = requestId;
    return { error };
  }
}

/**
 * Turns the first zod issue into a field-level 400 (`where` prefixes the path: `query`, `body`).
 * Takes core's error type: the contract's schemas are zod/mini, whose errors lack classic's methods.
 */
export function fromZodError(error: core.$ZodError, where: string): ApiError {
  const issue = error.issues[0];
  if (!issue) return new ApiError(400, 'invalid_request', `The ${where} is invalid.`);
  const field = issue.path.map(String).join('.');
  const extra: { field?: string; allowed?: string | (string | number)[] } = {};
  if (field) extra.field = field;
  let message: string;
  switch (issue.code) {
    case 'unrecognized_keys':
      message = `Unknown ${where} field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k.slice(0, 40)}"`).join(', ')}${field ? ` in ${field}` : ''}; remove ${issue.keys.length > 1 ? 'them' : 'it'} (check the spelling).`;
      break;
    case 'invalid_type':
      message =
        issue.input === undefined
          ? `${field || where} is required (${issue.expected}).`
          : `${field || where} must be ${article(issue.expected)}.`;
      extra.allowed = String(issue.expected);
      break;
    case 'invalid_value':
      message = `${field || where} must be one of ${issue.values.map(String).join(', ')}.`;
      extra.allowed = issue.values.map((v) => (typeof v === 'number' ? v : String(v)));
      break;
    case 'too_small':
    case 'too_big': {
      const bound =
        issue.code === 'too_small' ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
      const unit = issue.origin === 'string' ? ' characters long' : issue.origin === 'array' ? ' items' : '';
      message = `${field || where} must be ${bound}${unit}.`;
      extra.allowed = bound;
      break;
    }
    default:
      message = `${field || where}: ${issue.message}.`;
  }
  return new ApiError(400, 'invalid_request', message.replace(/\.\.$/, '.'), extra);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
