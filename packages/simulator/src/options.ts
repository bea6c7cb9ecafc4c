import type { ResolvedOptions } from './context.js';
import type { DashscopeErrorForm } from './dashscope.js';
import { DEFAULT_MEDIA_LIMITS, type MediaLimits } from './media-limits.js';
import { RESULT_MODE_ENV, RESULT_MODES, type ResultMode } from './result-media.js';

/** The key the simulator accepts unless `apiKeys` says otherwise. */
export const SIMULATOR_API_KEY = 'sim-key';

export const DEFAULT_DASHSCOPE_PREFIXES = ['/api/v1', '/qwen/api/v1', '/alibailian/api/v1'];

export interface SimulatorLimits {
  /** DashScope task submissions per second per key (videoretalk: 1). Infinity disables. */
  dashscopeSubmitsPerSecond?: number;
  /** DashScope tasks running at once per key; the rest stay PENDING (videoretalk: 1). */
  dashscopeConcurrentTasks?: number;
  /** DashScope task queries (and list calls) per second per key (20). */
  dashscopeQueriesPerSecond?: number;
  /** DashScope getPolicy calls per second per key and model (100). */
  dashscopeGetPolicyPerSecond?: number;
}

export interface SimulatorOptions {
  /** Interface to bind. Default `'127.0.0.1'`. */
  host?: string;
  /** Port; default 0 (any free port). */
  port?: number;
  /** Accepted Bearer keys; default `[SIMULATOR_API_KEY]`. Tasks belong to the key that made them. */
  apiKeys?: string[];
  /**
   * DashScope: keys of one Alibaba Cloud account. Keys of one account see each other's tasks
   * (query, cancel, list, `oss://` files) and share its limits (1 submit/s, 1 running task,
   * 20 queries/s), as the task-management docs say (audit row 6). Default: each key its own account.
   */
  dashscopeAccounts?: string[][];
  /** Time from create to terminal state of one task, in ms. Default 8000; tests use ~100–300. */
  jobMs?: number;
  /** Clock in epoch ms. Default `Date.now`; `advanceTime(ms)` jumps it forward. */
  now?: () => number;
  /** GET the input URLs and probe their bytes like the real service. Default true. */
  fetchInputs?: boolean;
  /**
   * Fail input URLs on loopback/private addresses with InvalidURL.ConnectionRefused, as the
   * public service cannot reach them. Default false, so tests can serve inputs on 127.0.0.1.
   */
  refusePrivateInputs?: boolean;
  /** Input download timeout (InvalidURL.Timeout), ms. Default 60000 (the documented 60 s). */
  inputTimeoutMs?: number;
  /** Path prefixes DashScope is mounted under. Default `/api/v1`, `/qwen/api/v1`, `/alibailian/api/v1`. */
  dashscopePrefixes?: string[];
  limits?: SimulatorLimits;
  /** Override single media limits (e.g. `{ videoMinSideRule: 'longer' }` to let 640×480 pass). Defaults: providers.md B.5, `videoMinSideRule: 'each'`. */
  mediaLimits?: Partial<MediaLimits>;
  /** Show DashScope's PRE-PROCESSING and POST-PROCESSING states. Default true. */
  dashscopeProcessingStates?: boolean;
  /** Answer to cancelling a task that is not PENDING. Default 400 `UnsupportedOperation`. */
  dashscopeCancelError?: { status: number; code: string; message: string };
  /** EvoLink HTTP errors with `code` = the HTTP status (number) instead of a string. Default false. */
  evolinkNumericErrorCodes?: boolean;
  /** EvoLink `task_info.estimated_time` in seconds. Default `ceil(jobMs / 1000)`. */
  evolinkEstimatedTimeSec?: number;
  /** Accept http and private-address EvoLink `callback_url`s (tests on 127.0.0.1). Default false. */
  allowInsecureCallbacks?: boolean;
  /** Waits before each callback retry, ms. Default `[1000, 2000, 4000]`. */
  callbackRetryDelaysMs?: number[];
  /** Callback request timeout, ms. Default 10000. */
  callbackTimeoutMs?: number;
  /**
   * EvoLink files API allow-list: `'images'` (jpeg/png/gif/webp, as EvoLink's upload docs say) or
   * `'media'` (+ audio/video, as EvoLink's own MCP client assumes). Default `'images'` (audit row 3).
   */
  evolinkFilesMimeTypes?: 'images' | 'media';
  /**
   * How EvoLink shows a cancelled task: `'failed'` with `error.code: "request_cancelled"` (its
   * query docs list four statuses) or `'cancelled'`, a status of its own (EvoLink's MCP client
   * types; audit row 1). Default `'failed'`.
   */
  evolinkCancelledStatus?: 'failed' | 'cancelled';
  /** How long EvoLink remembers an `Idempotency-Key`, in ms. Default 24 h **[inferred]**. */
  evolinkIdempotencyTtlMs?: number;
  /**
   * What a finished EvoLink task reports as its actual charge (audit row 9): `'none'` (the query
   * docs have no `usage`), `'credits_used'` (`usage.credits_used`) or `'cost'` (`usage.cost.credits`),
   * both as EvoLink's MCP client reads them: 4 credits per output second, 0 for a failed (refunded)
   * task. Default `'none'`.
   */
  evolinkChargeReport?: 'none' | 'credits_used' | 'cost';
  /**
   * The response header carrying EvoLink's request id (audit row 21; EvoLink's MCP reads
   * `x-request-id`, then `x-oneapi-request-id`), or `'none'`. Default `'x-request-id'`.
   */
  evolinkRequestIdHeader?: 'x-request-id' | 'x-oneapi-request-id' | 'none';
  /**
   * The form of DashScope's HTTP error bodies (audit row 14): `'flat'` `{request_id, code,
   * message}` (the VideoRetalk page), `'msg'` (`msg` for `message`, read by the Python SDK),
   * `'envelope'` (`{error:{code, message, request_id}}`, field notes) or `'snake_case'` (flat, with
   * the error page's aliases such as `invalid_api_key`). Default `'flat'`.
   */
  dashscopeErrorForm?: DashscopeErrorForm;
  /** EvoLink files per key. Default 100. */
  evolinkFilesQuota?: number;
  /** EvoLink max bytes per file. Default 100 MiB. */
  evolinkFilesMaxBytes?: number;
  /**
   * What a succeeded task returns. `'mux'`: the submitted video with the submitted audio, at the
   * documented length (re-encoded only for `video_extension`). `'echo'`: the submitted video's
   * bytes, at no cost, for tests that never look at the result. Default: the
   * `RETALK_SIM_RESULT_MODE` environment variable, else `'mux'`.
   */
  resultMode?: ResultMode;
  /** Receives one line per request (method, path, status, ms) and notes about results. Keys are never logged. */
  logger?: (line: string) => void;
}

function resultModeOf(option: ResultMode | undefined): ResultMode {
  const fromEnv = process.env[RESULT_MODE_ENV];
  const value = option ?? (fromEnv === undefined || fromEnv === '' ? 'mux' : fromEnv);
  if (!RESULT_MODES.includes(value as ResultMode)) {
    const source = option === undefined ? RESULT_MODE_ENV : 'resultMode';
    throw new RangeError(
      `createSimulator: ${source} must be one of ${RESULT_MODES.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as ResultMode;
}

function positive(name: string, value: number | undefined, fallback: number, allowInfinity = false): number {
  const v = value ?? fallback;
  if (Number.isNaN(v) || v <= 0 || (!allowInfinity && !Number.isFinite(v))) {
    throw new RangeError(
      `createSimulator: ${name} must be a positive number${allowInfinity ? ' or Infinity' : ''}, got ${v}`,
    );
  }
  return v;
}

export function resolveOptions(o: SimulatorOptions): ResolvedOptions {
  const jobMs = positive('jobMs', o.jobMs, 8000);
  const delays = o.callbackRetryDelaysMs ?? [1000, 2000, 4000];
  if (delays.some((d) => !Number.isFinite(d) || d < 0)) {
    throw new RangeError('createSimulator: callbackRetryDelaysMs must be finite numbers >= 0');
  }
  const prefixes = (o.dashscopePrefixes ?? DEFAULT_DASHSCOPE_PREFIXES).map(
    (p) => `/${p.replace(/^\/+|\/+$/g, '')}`,
  );
  const apiKeys = o.apiKeys ?? [SIMULATOR_API_KEY];
  if (apiKeys.length === 0) throw new RangeError('createSimulator: apiKeys must list at least one key');
  const accountOfKey = new Map<string, string>();
  for (const [i, keys] of (o.dashscopeAccounts ?? []).entries()) {
    for (const key of keys) {
      if (!apiKeys.includes(key))
        throw new RangeError(`createSimulator: dashscopeAccounts lists "${key}", which is not in apiKeys`);
      if (accountOfKey.has(key))
        throw new RangeError(`createSimulator: "${key}" is in two dashscopeAccounts`);
      accountOfKey.set(key, `account-${i + 1}`);
    }
  }
  return {
    host: o.host ?? '127.0.0.1',
    dashscopeAccountOf: (key: string) => accountOfKey.get(key) ?? key,
    port: o.port ?? 0,
    apiKeys,
    jobMs,
    fetchInputs: o.fetchInputs ?? true,
    refusePrivateInputs: o.refusePrivateInputs ?? false,
    inputTimeoutMs: positive('inputTimeoutMs', o.inputTimeoutMs, 60_000),
    dashscopePrefixes: prefixes,
    dashscopeSubmitsPerSecond: positive(
      'limits.dashscopeSubmitsPerSecond',
      o.limits?.dashscopeSubmitsPerSecond,
      1,
      true,
    ),
    dashscopeConcurrentTasks: positive(
      'limits.dashscopeConcurrentTasks',
      o.limits?.dashscopeConcurrentTasks,
      1,
      true,
    ),
    dashscopeQueriesPerSecond: positive(
      'limits.dashscopeQueriesPerSecond',
      o.limits?.dashscopeQueriesPerSecond,
      20,
      true,
    ),
    dashscopeGetPolicyPerSecond: positive(
      'limits.dashscopeGetPolicyPerSecond',
      o.limits?.dashscopeGetPolicyPerSecond,
      100,
      true,
    ),
    dashscopeProcessingStates: o.dashscopeProcessingStates ?? true,
    dashscopeCancelError: o.dashscopeCancelError ?? {
      status: 400,
      code: 'UnsupportedOperation',
      message: 'Failed to cancel the task, please confirm if the task is in PENDING status.',
    },
    evolinkNumericErrorCodes: o.evolinkNumericErrorCodes ?? false,
    evolinkEstimatedTimeSec: o.evolinkEstimatedTimeSec ?? Math.max(1, Math.ceil(jobMs / 1000)),
    allowInsecureCallbacks: o.allowInsecureCallbacks ?? false,
    callbackRetryDelaysMs: delays,
    callbackTimeoutMs: positive('callbackTimeoutMs', o.callbackTimeoutMs, 10_000),
    evolinkFilesMimeTypes: o.evolinkFilesMimeTypes ?? 'images',
    evolinkCancelledStatus: o.evolinkCancelledStatus ?? 'failed',
    evolinkIdempotencyTtlMs: positive('evolinkIdempotencyTtlMs', o.evolinkIdempotencyTtlMs, 24 * 3_600_000),
    evolinkChargeReport: o.evolinkChargeReport ?? 'none',
    evolinkRequestIdHeader: o.evolinkRequestIdHeader ?? 'x-request-id',
    dashscopeErrorForm: o.dashscopeErrorForm ?? 'flat',
    evolinkFilesQuota: o.evolinkFilesQuota ?? 100,
    evolinkFilesMaxBytes: positive('evolinkFilesMaxBytes', o.evolinkFilesMaxBytes, 100 * 1024 * 1024),
    mediaLimits: { ...DEFAULT_MEDIA_LIMITS, ...o.mediaLimits },
    resultMode: resultModeOf(o.resultMode),
  };
}
