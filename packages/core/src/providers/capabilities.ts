// Zod-free on purpose: the relay, the extension and docs read capabilities without bundling schemas.

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
