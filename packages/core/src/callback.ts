import { ResponseValidationError } from './errors.js';
import { readProviderCallback } from './providers/index.js';
import type { Provider, Task } from './task.js';

/**
 * Reads a provider callback body (EvoLink POSTs the task-query body to `callback_url`) into a
 * {@link Task}. Accepts the raw text or the parsed JSON. Callbacks are unsigned: treat the result
 * as a hint and re-read the task with `client.get()` before acting on it.
 *
 * @example
 * const task = parseCallback(await request.text(), 'evolink');
 * if (isTerminalStatus(task.status)) tracker.wake(task.id);
 */
export function parseCallback(body: unknown, provider: Provider, now: number = Date.now()): Task {
  let value = body;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new ResponseValidationError(`The ${provider} callback body is not JSON`, { provider, cause });
    }
  }
  return readProviderCallback(provider, value, now);
}
