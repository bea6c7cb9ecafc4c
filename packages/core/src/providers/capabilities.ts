// Zod-free on purpose: the relay, the extension and docs read capabilities without bundling schemas.
import type { Provider } from '../task.js';

/** A documented limit and who shares it. */
export interface ProviderLimits {
  /** Task submissions per second (DashScope videoretalk: 1). Undefined when none is published. */
  submitsPerSecond?: number | undefined;
  /** Tasks running at once; the rest wait upstream (DashScope videoretalk: 1). Undefined when none is published. */
  concurrentTasks?: number | undefined;
  /** Task queries (and list/cancel calls) per second (DashScope: 20). Undefined when none is published. */
  queriesPerSecond?: number | undefined;
  /**
   * Who shares these limits: `'account'` = every key of one provider account together (DashScope:
   * the Alibaba Cloud main account and its RAM users, audit row 6); `'unpublished'` = the provider
   * publishes no numbers (EvoLink: "set per model", answered with 429).
   */
  scope: 'account' | 'unpublished';
  /** Where the figures come from (a docs/providers.md section). */
  source: string;
}

/** The provider's own storage for local files (`client.uploadFile`). */
export interface UploadCapability {
  /** MIME types it takes; `type/*` covers a whole family. */
  mimeTypes: readonly string[];
  /** How long an uploaded file stays usable, in milliseconds. */
  ttlMs: number;
  /** Largest file, in bytes, when documented. */
  maxBytes?: number | undefined;
}

/** What one provider can do, as data: callers branch on these, never on the provider's name. */
export interface ProviderCapabilities {
  /** How people call it (`DashScope (Alibaba)`, `EvoLink`). */
  displayName: string;
  /** When a submitted task can still be canceled: `'never'` (no cancel API) or `'queued'` (only before it runs). */
  cancel: 'never' | 'queued';
  /** A task list that can find a task whose submit answer was lost (recovery of an interrupted submit). */
  taskList: boolean;
  /** A repeated submit with the same idempotency key answers the first task instead of billing again. */
  idempotentSubmit: boolean;
  /**
   * Per-request completion callbacks (`callbackUrl`). DashScope has account-wide EventBridge
   * notifications instead, configured outside the API (audit row 10), so `false` there.
   */
  callbacks: boolean;
  /** The provider storage for local files. */
  upload: UploadCapability;
  /** Documented rate and concurrency limits, and their scope. */
  limits: ProviderLimits;
  /** Result links stay valid this long after completion, in milliseconds. */
  resultTtlMs: number;
}

/** True when `capability` takes files of `contentType` (parameters such as `; charset=` ignored). */
export function acceptsUpload(capability: UploadCapability, contentType: string): boolean {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return capability.mimeTypes.some(
    (m) => m === type || (m.endsWith('/*') && type.startsWith(m.slice(0, -1))),
  );
}

const HOUR_MS = 60 * 60 * 1000;

/** What EvoLink can do (docs/providers.md A). */
export const EVOLINK_CAPABILITIES: ProviderCapabilities = {
  displayName: 'EvoLink',
  cancel: 'never',
  taskList: true,
  idempotentSubmit: true,
  callbacks: true,
  // The files API documents images only (audit row 3); 72 h; 100 MB per file (EvoLink's MCP skill).
  upload: {
    mimeTypes: ['image/jpeg', 'image/png', 'image/gif', 'image/webp'],
    ttlMs: 72 * HOUR_MS,
    maxBytes: 100 * 1024 * 1024,
  },
  limits: { scope: 'unpublished', source: 'docs/providers.md A.6' },
  resultTtlMs: 24 * HOUR_MS,
};

/** What DashScope can do for videoretalk (docs/providers.md B). */
export const DASHSCOPE_CAPABILITIES: ProviderCapabilities = {
  displayName: 'DashScope (Alibaba)',
  cancel: 'queued',
  taskList: true,
  idempotentSubmit: false,
  callbacks: false,
  // Temporary oss:// storage: any input kind, 48 h, bound to the model and the account.
  upload: { mimeTypes: ['video/*', 'audio/*', 'image/*'], ttlMs: 48 * HOUR_MS },
  limits: {
    submitsPerSecond: 1,
    concurrentTasks: 1,
    queriesPerSecond: 20,
    scope: 'account',
    source: 'docs/providers.md B.7',
  },
  resultTtlMs: 24 * HOUR_MS,
};

/**
 * Each provider's capabilities, by name: the one table the relay and the extension read instead of
 * testing provider names. Zod-free, so a page can read it without bundling schemas.
 *
 * @example if (PROVIDER_CAPABILITIES[job.provider].cancel === 'queued') showCancelButton();
 */
export const PROVIDER_CAPABILITIES: Readonly<Record<Provider, ProviderCapabilities>> = {
  evolink: EVOLINK_CAPABILITIES,
  dashscope: DASHSCOPE_CAPABILITIES,
};
