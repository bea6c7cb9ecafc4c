// Zod-free: the relay's own job error codes and what a member should do about each, in one table
// the relay fills `JobError.hint` from (provider codes take their advice from core's provider
// table instead, see `jobErrorHint`). Clients show the hint; they never guess from the code.

/** One relay job error code: whether submitting again can help, and what to do. */
export interface RelayJobErrorEntry {
  retryable: boolean;
  hint: string;
}

const SUBMIT_AGAIN = 'Submit the job again.';

/** The codes the relay itself puts in `Job.error.code` (provider codes pass through unchanged). */
export const RELAY_JOB_ERRORS = {
  no_result: {
    retryable: true,
    hint: `The provider reported success without a result. ${SUBMIT_AGAIN}`,
  },
  upstream_lost: {
    retryable: true,
    hint: `The provider no longer knows this job. ${SUBMIT_AGAIN}`,
  },
  expired: {
    retryable: true,
    hint: `The provider forgot the task before the relay saw it end. ${SUBMIT_AGAIN}`,
  },
  input_unavailable: {
    retryable: true,
    hint: 'An input is gone from the relay (uploads expire): upload it again and resubmit.',
  },
  submit_interrupted: {
    retryable: true,
    hint: 'The relay cannot tell whether the provider got this job: check the provider dashboard before submitting again, so it is not billed twice.',
  },
  member_revoked: {
    retryable: false,
    hint: 'Your access to this relay was revoked: ask the relay admin for a new token.',
  },
  result_invalid: {
    retryable: true,
    hint: 'The provider returned something that is not a valid video; nothing was charged to your budget. Submit again, and tell the relay admin if it repeats.',
  },
  result_url_not_allowed: {
    retryable: true,
    hint: "The relay may not download the provider's result link; nothing was charged to your budget. Submit again, and tell the relay admin if it repeats.",
  },
  no_capable_upstream: {
    retryable: false,
    hint: "No provider account of the relay can take this job (for instance the only one that can refused its key): tell the relay admin; submitting again will not help until they fix the relay's upstreams.",
  },
  internal: {
    retryable: true,
    hint: 'The relay failed unexpectedly: submit again, and tell the relay admin if it repeats.',
  },
} as const satisfies Record<string, RelayJobErrorEntry>;

/** One of the relay's own job error codes. */
export type RelayJobErrorCode = keyof typeof RELAY_JOB_ERRORS;

/** The relay's advice for one of its own codes, or undefined for a provider code. */
export function relayJobErrorHint(code: string): string | undefined {
  return Object.hasOwn(RELAY_JOB_ERRORS, code) ? RELAY_JOB_ERRORS[code as RelayJobErrorCode].hint : undefined;
}
