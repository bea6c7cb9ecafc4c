import { InvalidRequestError } from '../errors.js';
import type { AccountPacing } from '../rate-limiter.js';
import type { Provider, Task } from '../task.js';
import type { AdapterIO, ProviderAdapter } from './adapter.js';
import { createDashscopeAdapter } from './dashscope.js';
import { createEvolinkAdapter, readEvolinkCallback } from './evolink.js';

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

/** What `createClient` resolved for the adapter it builds; each adapter takes what it needs. */
export interface ProviderAdapterOptions {
  io: AdapterIO;
  baseUrl?: string | undefined;
  /** EvoLink files-API origin. */
  filesBaseUrl?: string | undefined;
  /** EvoLink: offer the files API for audio and video too (audit row 3). */
  uploadMedia?: boolean | undefined;
  /** Repeats of a submit that provably created nothing. */
  submitRetries: number;
  /** The account's pacing, built on first need (providers with published limits). */
  pacing: () => AccountPacing;
  /** DashScope: a typical job's length, for progress estimates (ms). */
  typicalJobMs?: number | undefined;
  /** DashScope `X-DashScope-WorkSpace`. */
  workspace?: string | undefined;
}

// The one place a provider name picks code: which adapter to build.
const ADAPTER_FACTORIES: Record<Provider, (o: ProviderAdapterOptions) => ProviderAdapter> = {
  evolink: (o) =>
    createEvolinkAdapter({
      io: o.io,
      baseUrl: o.baseUrl,
      filesBaseUrl: o.filesBaseUrl,
      uploadMedia: o.uploadMedia,
      submitRetries: o.submitRetries,
    }),
  dashscope: (o) =>
    createDashscopeAdapter({
      io: o.io,
      baseUrl: o.baseUrl,
      pacing: o.pacing(),
      typicalJobMs: o.typicalJobMs,
      workspace: o.workspace,
    }),
};

/** Builds `provider`'s adapter. */
export function createProviderAdapter(provider: Provider, options: ProviderAdapterOptions): ProviderAdapter {
  return ADAPTER_FACTORIES[provider](options);
}
