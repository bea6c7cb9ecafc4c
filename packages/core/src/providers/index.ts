import { InvalidRequestError } from '../errors.js';
import type { Provider, Task } from '../task.js';
import { readEvolinkCallback } from './evolink.js';

const CALLBACK_READERS: Partial<Record<Provider, (body: unknown, now: number) => Task>> = {
  evolink: readEvolinkCallback,
};

/** Reads a callback body of `provider` into a task; `invalid_request` for a provider without callbacks. */
export function readProviderCallback(provider: Provider, body: unknown, now: number): Task {
  const read = CALLBACK_READERS[provider];
  if (!read) {
    const callers = Object.keys(CALLBACK_READERS).join(', ');
    throw new InvalidRequestError(`${provider} does not send per-task callbacks`, {
      field: 'provider',
      allowed: callers,
    });
  }
  return read(body, now);
}
