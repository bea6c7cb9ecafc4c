export { parseCallback } from './callback.js';
export type {
  CallOptions,
  Client,
  ClientOptions,
  ListTasksOptions,
  RecoverSubmitOptions,
  SubmitOptions,
  SubmitRecovery,
  TaskSummary,
  UploadedFile,
  UploadOptions,
  WaitOptions,
} from './client.js';
export {
  createClient,
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  IDEMPOTENCY_WINDOW_MS,
} from './client.js';
export type { Clock } from './clock.js';
export { sleep, systemClock } from './clock.js';
export type {
  ClipRange,
  ConformOptions,
  ConformOutput,
  ConformPlan,
  ConformRefusal,
  ConformRefusalCode,
  ConformResult,
  ConformStep,
  MediaKind,
  PixelSize,
  ProbedAudioTrack,
  ProbedImage,
  ProbedMedia,
  ProbedVideoTrack,
  Rotation,
} from './conform/index.js';
export {
  CONFORM_JPEG_QUALITY,
  CONFORM_LOW_FPS_TARGET,
  CONFORM_MAX_SAMPLE_RATE,
  CONFORM_REFUSAL_CODES,
  displaySize,
  formatClock,
  planConform,
} from './conform/index.js';
export type { RetalkErrorCode, RetalkErrorOptions, SerializedRetalkError } from './errors.js';
export {
  AbortError,
  AuthError,
  ConformError,
  ERROR_CODES,
  errorFromJSON,
  InvalidRequestError,
  isRetalkError,
  NetworkError,
  NotFoundError,
  NotSupportedError,
  PermissionError,
  ProviderUnavailableError,
  QuotaError,
  RateLimitedError,
  ResponseValidationError,
  RetalkError,
  TaskFailedError,
  TimeoutError,
} from './errors.js';
export type {
  CheckMediaOptions,
  KindLimits,
  MediaProblem,
  MinSideRule,
  OutputEstimateInput,
  ProviderMediaLimits,
} from './limits.js';
export { checkMedia, estimateOutputSeconds, MEDIA_LIMITS, strictestMediaLimits } from './limits.js';
export type { MediaMeta } from './media-meta.js';
export { MediaMetaSchema } from './media-meta.js';
export type { PollSchedule } from './poll.js';
export {
  DEFAULT_JITTER_RATIO,
  DEFAULT_MAX_POLL_FAILURES,
  DEFAULT_POLL_BACKOFF_FACTOR,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_POLL_MAX_INTERVAL_MS,
  DEFAULT_POLL_QUICK_CHECKS,
  DEFAULT_POLL_SCHEDULE,
  pollDelayMs,
} from './poll.js';
export type { ProviderErrorEntry } from './provider-errors.js';
export { jobErrorHint, PROVIDER_ERRORS } from './provider-errors.js';
export type { ProviderAdapter } from './providers/adapter.js';
export type { ProviderCapabilities, ProviderLimits, UploadCapability } from './providers/capabilities.js';
export {
  acceptsUpload,
  DASHSCOPE_CAPABILITIES,
  EVOLINK_CAPABILITIES,
  PROVIDER_CAPABILITIES,
} from './providers/capabilities.js';
export type {
  DashscopeCreateBody,
  DashscopeErrorBody,
  DashscopeTask,
  DashscopeUploadPolicy,
} from './providers/dashscope.js';
export {
  DASHSCOPE_BASE_URL,
  DASHSCOPE_POLL_SCHEDULE,
  DashscopeCreateBodySchema,
  DashscopeErrorBodySchema,
  DashscopeTaskSchema,
  DashscopeUploadPolicySchema,
  DEFAULT_DASHSCOPE_TYPICAL_JOB_MS,
} from './providers/dashscope.js';
export type {
  EvolinkCreateBody,
  EvolinkErrorBody,
  EvolinkFileUploadResponse,
  EvolinkTask,
} from './providers/evolink.js';
export {
  EVOLINK_BASE_URL,
  EVOLINK_FILES_BASE_URL,
  EVOLINK_POLL_SCHEDULE,
  EvolinkCreateBodySchema,
  EvolinkErrorBodySchema,
  EvolinkFileUploadResponseSchema,
  EvolinkTaskSchema,
} from './providers/evolink.js';
export type { AccountPacing, AccountPacingOptions, RateLimiter, RateLimiterOptions } from './rate-limiter.js';
export {
  createAccountPacing,
  createRateLimiter,
  DASHSCOPE_QUERIES_PER_SECOND,
  DASHSCOPE_SUBMITS_PER_SECOND,
} from './rate-limiter.js';
export {
  DEFAULT_READ_RETRIES,
  DEFAULT_RETRY_BASE_MS,
  DEFAULT_RETRY_MAX_MS,
  DEFAULT_SUBMIT_RETRIES,
  parseRetryAfterMs,
} from './retry.js';
export type { LipSyncRequest, Provider, Task, TaskStatus } from './task.js';
export {
  isTerminalStatus,
  LIP_SYNC_REQUEST_ALLOWED,
  LipSyncRequestSchema,
  PROVIDERS,
  parseLipSyncRequest,
  TaskSchema,
  TaskStatusSchema,
} from './task.js';
export type { FetchLike } from './transport.js';
