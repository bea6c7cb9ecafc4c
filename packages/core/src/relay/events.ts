// The relay's event stream (server-sent events): parsing, reconnecting, resuming.
import { sleep } from '../clock.js';
import type { EventsOptions } from './client.js';
import { relayErrorFromResponse, toTransportError } from './errors.js';
import { JobSchema, type RelayEvent } from './schemas.js';

const DEFAULT_RECONNECT_DELAY_MS = 1_000;

/** Follows `GET /v1/events`, reconnecting with `Last-Event-ID` after drops. */
export async function* streamEvents(
  doFetch: typeof fetch,
  baseUrl: string,
  authorization: string,
  options: EventsOptions,
): AsyncGenerator<RelayEvent> {
  let lastEventId = options.lastEventId;
  let delayMs = options.reconnectDelayMs ?? DEFAULT_RECONNECT_DELAY_MS;
  const signal = options.signal;
  for (;;) {
    if (signal?.aborted) return;
    const local = new AbortController();
    const onAbort = () => local.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const headers: Record<string, string> = { authorization, accept: 'text/event-stream' };
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
      let response: Response;
      try {
        response = await doFetch(`${baseUrl}/v1/events`, { headers, signal: local.signal });
      } catch (error) {
        if (signal?.aborted) return;
        if (options.reconnect === false) throw toTransportError(error, signal, undefined, 'GET /v1/events');
        await pause(delayMs, signal);
        continue;
      }
      if (response.status !== 200 || !response.body) {
        const text = await response.text().catch(() => '');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const error = relayErrorFromResponse(response.status, json, response.headers.get('retry-after'));
        if (!error.retryable || options.reconnect === false) throw error;
        await pause(delayMs, signal);
        continue;
      }
      for await (const message of parseEventStream(response.body)) {
        if (message.retry !== undefined) delayMs = message.retry;
        if (message.id !== undefined) lastEventId = message.id;
        const event = toRelayEvent(message);
        if (event) yield event;
      }
      if (options.reconnect === false) return;
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof Error && 'retryable' in error) throw error;
      if (options.reconnect === false) throw toTransportError(error, signal, undefined, 'GET /v1/events');
    } finally {
      signal?.removeEventListener('abort', onAbort);
      local.abort();
    }
    await pause(delayMs, signal);
  }
}

function toRelayEvent(message: SseMessage): RelayEvent | undefined {
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const record = data as Record<string, unknown>;
  if (message.event === 'job') {
    const job = JobSchema.safeParse(record.job);
    return job.success ? { type: 'job', id: message.id ?? '', job: job.data } : undefined;
  }
  if (message.event === 'reset') {
    const reason = typeof record.reason === 'string' ? record.reason : 'resync';
    return message.id === undefined ? { type: 'reset', reason } : { type: 'reset', id: message.id, reason };
  }
  if (message.event === 'ready') {
    return { type: 'ready', lastEventId: typeof record.lastEventId === 'string' ? record.lastEventId : null };
  }
  return undefined;
}

/** One dispatched Server-Sent Event (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface SseMessage {
  event: string;
  data: string;
  id?: string | undefined;
  retry?: number | undefined;
}

/** Parses a `text/event-stream` body into messages, following the WHATWG rules for fields and line ends. */
export async function* parseEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  let retry: number | undefined;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const match = /\r\n|\r|\n/.exec(buffer);
        // A lone trailing \r may be the first half of \r\n: wait for more bytes.
        if (!match || (match[0] === '\r' && match.index === buffer.length - 1 && !done)) break;
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === '') {
          if (data.length > 0) {
            yield { event: event || 'message', data: data.join('\n'), id, retry };
          }
          event = '';
          data = [];
          retry = undefined;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) id = value;
        else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}

/** Waits before reconnecting; an abort ends the wait quietly (the loop then sees `signal.aborted`). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(ms, signal).catch(() => undefined);
}
