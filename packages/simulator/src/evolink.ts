import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HOUR_MS } from './clock.js';
import type { SimContext } from './context.js';
import { applyQueryFault, cutResultDownload, slowResultDownload } from './faults.js';
import { BodyTooLargeError, bearerToken, readBody, sendFile, sendJson, sendText } from './http-io.js';
import { EVOLINK_TASK_ID_PREFIX, evolinkTaskId, uuid } from './ids.js';
import { isPrivateHost } from './net-address.js';
import { outbound } from './outbound.js';
import { documentedLength } from './result-media.js';
import { ScenarioError } from './scenario.js';
import { newTaskRecord, type TaskRecord } from './task-engine.js';

// EvoLink error envelope `{error:{code,message,type,param?}}` (providers.md A.2). `numericType`
// is the type name used by the variant whose `code` is the HTTP status (EvoLink's MCP types).
const HTTP_ERRORS: Record<number, { code: string; type: string; numericType: string; message: string }> = {
  400: {
    code: 'invalid_parameters',
    type: 'invalid_request_error',
    numericType: 'invalid_request_error',
    message: 'Invalid request parameters',
  },
  401: {
    code: 'unauthorized',
    type: 'authentication_error',
    numericType: 'authentication_error',
    message: 'Authentication required',
  },
  402: {
    code: 'insufficient_quota',
    type: 'insufficient_quota',
    numericType: 'insufficient_quota_error',
    message: 'Insufficient quota. Please top up your account.',
  },
  403: {
    code: 'model_access_denied',
    type: 'invalid_request_error',
    numericType: 'permission_error',
    message: "You don't have access to this model",
  },
  404: {
    code: 'not_found',
    type: 'invalid_request_error',
    numericType: 'not_found_error',
    message: 'The requested resource could not be found',
  },
  429: {
    code: 'rate_limit_exceeded',
    type: 'evo_api_error',
    numericType: 'rate_limit_error',
    message: 'Rate limit exceeded',
  },
  500: {
    code: 'internal_error',
    type: 'api_error',
    numericType: 'internal_error',
    message: 'Internal server error',
  },
  502: {
    code: 'upstream_error',
    type: 'api_error',
    numericType: 'upstream_error',
    message: 'Upstream service error',
  },
  503: {
    code: 'service_unavailable',
    type: 'api_error',
    numericType: 'service_unavailable_error',
    message: 'Service temporarily unavailable',
  },
  504: {
    code: 'gateway_timeout',
    type: 'api_error',
    numericType: 'upstream_error',
    message: 'Upstream request timed out',
  },
};

/** Messages for task-level failure codes (error-codes page) used by `fail:<code>`. */
const TASK_ERROR_MESSAGES: Record<string, string> = {
  content_policy_violation: 'The content violates the usage policy.',
  invalid_parameters: 'Invalid parameters for the generation task.',
  image_processing_error: 'Failed to process the input image.',
  image_dimension_mismatch: 'The image dimensions do not match the requirements.',
  request_cancelled: 'The request was cancelled.',
  generation_failed_no_content: 'The generation finished without producing content.',
  service_error: 'The generation service returned an error.',
  generation_timeout: 'The generation timed out.',
  resource_exhausted: 'Generation resources are exhausted, please retry later.',
  quota_exceeded: 'Quota exceeded.',
  service_unavailable: 'The generation service is unavailable.',
  resource_not_found: 'A required resource was not found.',
  unknown_error: 'An unknown error occurred.',
};

export function evolinkTaskErrorMessage(code: string): string | undefined {
  return TASK_ERROR_MESSAGES[code];
}

export interface EvolinkErrorDetail {
  code?: string;
  message?: string;
  type?: string;
  param?: string;
  headers?: Record<string, string>;
}

export function sendEvolinkError(
  ctx: SimContext,
  res: ServerResponse,
  status: number,
  detail: EvolinkErrorDetail = {},
): void {
  const base = HTTP_ERRORS[status] ?? (status >= 500 ? HTTP_ERRORS[500] : HTTP_ERRORS[400]);
  const numeric = ctx.options.evolinkNumericErrorCodes;
  const error: Record<string, unknown> = {
    code: numeric ? status : (detail.code ?? base?.code),
    message: detail.message ?? base?.message,
    type: numeric ? base?.numericType : (detail.type ?? base?.type),
  };
  if (detail.param) error.param = detail.param;
  if (numeric && (status === 429 || status >= 500)) {
    error.fallback_suggestion =
      status === 429 ? 'Retry after a short wait' : 'Retry later or try another model';
  }
  sendJson(res, status, { error }, detail.headers);
}

function checkCallbackUrl(ctx: SimContext, value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'callback_url must be a non-empty string';
  if (value.length > 2048) return `callback_url must be at most 2048 characters (got ${value.length})`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'callback_url must be an absolute https URL';
  }
  if (ctx.options.allowInsecureCallbacks) {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'callback_url must use https';
    return undefined;
  }
  if (url.protocol !== 'https:') return 'callback_url must use https';
  if (isPrivateHost(url.hostname)) return 'callback_url must not point at a private or internal address';
  return undefined;
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const RESULT_TTL_MS = 24 * HOUR_MS;

function evolinkResultUrl(ctx: SimContext, task: TaskRecord): string {
  return `${ctx.baseUrl()}/cdn/evolink/${task.id}.mp4`;
}

// The doc's example reserves 480 credits: 120 s (the longest input) at 4 credits/s [inferred].
const CREDITS_PER_SECOND = 4;
const CREDITS_RESERVED = 120 * CREDITS_PER_SECOND;

/** What a succeeded task costs: its documented output length at 4 credits/s, rounded up. */
function chargeOf(task: TaskRecord): number | undefined {
  if (!task.inputs?.ok) return undefined;
  const { video, audio } = task.inputs;
  const seconds = documentedLength(video.durationSec, audio.durationSec, task.request.videoExtension);
  return Math.ceil(seconds * CREDITS_PER_SECOND);
}

/** The task as GET /v1/tasks/{id} shows it (also the callback body). */
export function evolinkTaskBody(ctx: SimContext, task: TaskRecord): Record<string, unknown> {
  const view = ctx.engine.view(task);
  const cancelled =
    view.phase === 'canceled' ||
    (view.phase === 'failed' && (task.failure?.code ?? 'request_cancelled') === 'request_cancelled');
  const status =
    view.phase === 'succeeded'
      ? 'completed'
      : cancelled && ctx.options.evolinkCancelledStatus === 'cancelled'
        ? 'cancelled'
        : view.phase === 'failed' || view.phase === 'canceled'
          ? 'failed'
          : view.phase === 'pending'
            ? 'pending'
            : 'processing';
  const body: Record<string, unknown> = {
    created: Math.floor(task.createdAt / 1000),
    id: task.id,
    model: task.request.model,
    object: 'video.generation.task',
    progress: view.progress,
    status,
    type: 'video',
    task_info:
      status === 'pending'
        ? { can_cancel: false, estimated_time: ctx.options.evolinkEstimatedTimeSec, video_duration: 0 }
        : { can_cancel: false },
  };
  if (status === 'completed') body.results = [evolinkResultUrl(ctx, task)];
  const charge = status === 'completed' ? chargeOf(task) : status === 'failed' ? 0 : undefined;
  if (ctx.options.evolinkChargeReport !== 'none' && charge !== undefined) {
    // Audit row 9: EvoLink's MCP reads `usage.credits_used ?? usage.cost.credits` as what was charged.
    const usage: Record<string, unknown> = { billing_rule: 'per_second', credits_reserved: CREDITS_RESERVED };
    if (ctx.options.evolinkChargeReport === 'credits_used') usage.credits_used = charge;
    else usage.cost = { credits: charge };
    body.usage = usage;
  }
  if (status === 'failed') {
    const failure = task.failure ?? { code: 'request_cancelled', message: 'The request was cancelled.' };
    // Upstream input problems surface through EvoLink as its own parameter error [inferred].
    const code = task.failure?.source === 'input' ? 'invalid_parameters' : failure.code;
    const message =
      task.failure?.source === 'input' ? `${failure.code}: ${failure.message}` : failure.message;
    body.error = { code, message, type: 'task_error' };
  }
  return body;
}

function authorized(ctx: SimContext, req: IncomingMessage): string | undefined {
  const key = bearerToken(req);
  return key !== undefined && ctx.options.apiKeys.includes(key) ? key : undefined;
}

/** Canonical JSON (sorted keys), so a repeat with the same fields in another order is the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const IDEMPOTENCY_KEY_MAX = 255;

export async function handleEvolinkCreate(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  ctx.count('evolink.create');
  const header = req.headers['idempotency-key'];
  const idempotencyKey = typeof header === 'string' && header !== '' ? header : undefined;
  ctx.stats.createRequests.push({ provider: 'evolink', idempotencyKey: idempotencyKey ?? null });
  const account = authorized(ctx, req);
  if (!account) return sendEvolinkError(ctx, res, 401);
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse((await readBody(req, 1024 * 1024)).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new SyntaxError('not an object');
    body = parsed as Record<string, unknown>;
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      return sendEvolinkError(ctx, res, 413, { code: 'request_too_large', message: error.message });
    }
    return sendEvolinkError(ctx, res, 400, { message: 'The request body must be a JSON object' });
  }

  // EvoLink's own client sends one Idempotency-Key per paid intent and reads `idempotency-replayed`
  // (audit §4.5): a repeat of a create that went through answers the original task; the same key
  // with another body is `idempotency_conflict` (its HTTP status is [inferred]).
  let ledgerKey: string | undefined;
  if (idempotencyKey !== undefined) {
    if (idempotencyKey.length > IDEMPOTENCY_KEY_MAX) {
      return sendEvolinkError(ctx, res, 400, {
        message: `Idempotency-Key must be at most ${IDEMPOTENCY_KEY_MAX} characters`,
        param: 'Idempotency-Key',
      });
    }
    ledgerKey = `${account}|${idempotencyKey}`;
    const seen = ctx.evolinkIdempotency.get(ledgerKey);
    if (seen && ctx.clock.now() - seen.at < ctx.options.evolinkIdempotencyTtlMs) {
      if (seen.body !== canonical(body)) {
        return sendEvolinkError(ctx, res, 409, {
          code: 'idempotency_conflict',
          message: 'This Idempotency-Key was already used for a different request.',
          type: 'invalid_request_error',
        });
      }
      ctx.count('evolink.create.replayed');
      return sendJson(res, 200, seen.answer, { 'idempotency-replayed': 'true' });
    }
  }

  let scenario: ReturnType<SimContext['scenarioFor']>;
  try {
    scenario = ctx.scenarioFor(req, body.video_url);
  } catch (error) {
    if (error instanceof ScenarioError)
      return sendEvolinkError(ctx, res, 400, { message: error.message, param: 'sim' });
    throw error;
  }
  if (scenario.reject) {
    const { status, code } = scenario.reject;
    return sendEvolinkError(ctx, res, status, code ? { code } : {});
  }
  if (scenario.retryAfterSec !== undefined) {
    const key = `evolink|${account}|${String(body.video_url)}|${req.headers['x-sim-scenario'] ?? ''}`;
    if (scenario.retryAfterQueued || ctx.firstRetryAfter(key)) {
      ctx.stats.throttled++;
      return sendEvolinkError(ctx, res, 429, { headers: { 'retry-after': String(scenario.retryAfterSec) } });
    }
  }

  const missing = (['model', 'video_url', 'audio_url'] as const).find(
    (f) => body[f] === undefined || body[f] === '',
  );
  if (missing) {
    return sendEvolinkError(ctx, res, 400, {
      code: 'missing_required_params',
      message: `Missing required parameter: ${missing}`,
      param: missing,
    });
  }
  const invalid = (param: string, message: string) =>
    sendEvolinkError(ctx, res, 400, { code: 'invalid_parameters', message, param });
  if (body.model !== 'videoretalk') {
    return invalid(
      'model',
      `Unsupported model ${JSON.stringify(body.model)} for this simulator; allowed: videoretalk`,
    );
  }
  for (const field of ['video_url', 'audio_url', 'ref_image_url'] as const) {
    const value = body[field];
    if (value === undefined || (field === 'ref_image_url' && value === '')) continue;
    if (typeof value !== 'string' || !isHttpUrl(value)) {
      return invalid(field, `${field} must be a publicly reachable http(s) URL`);
    }
  }
  if (body.video_extension !== undefined && typeof body.video_extension !== 'boolean') {
    return invalid('video_extension', 'video_extension must be a boolean (true or false)');
  }
  const threshold = body.query_face_threshold;
  if (
    threshold !== undefined &&
    (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 120 || threshold > 200)
  ) {
    return invalid('query_face_threshold', 'query_face_threshold must be an integer from 120 to 200');
  }
  if (body.callback_url !== undefined) {
    const problem = checkCallbackUrl(ctx, body.callback_url);
    if (problem) return invalid('callback_url', problem);
  }

  const now = ctx.clock.now();
  const task = newTaskRecord({
    provider: 'evolink',
    rules: { failsWithoutFace: true, accountQueue: false },
    id: evolinkTaskId(now),
    requestId: uuid(),
    account,
    createdAt: now,
    jobMs: ctx.options.jobMs,
    scenario,
    videoUrl: body.video_url as string,
    audioUrl: body.audio_url as string,
    refImageUrl: body.ref_image_url,
    videoExtension: body.video_extension,
    faceThreshold: threshold,
    callbackUrl: body.callback_url,
  });
  ctx.startTask(task);
  const answer = {
    created: Math.floor(now / 1000),
    id: task.id,
    model: 'videoretalk',
    object: 'video.generation.task',
    progress: 0,
    status: 'pending',
    task_info: { can_cancel: false, estimated_time: ctx.options.evolinkEstimatedTimeSec, video_duration: 0 },
    type: 'video',
    usage: { billing_rule: 'per_second', credits_reserved: CREDITS_RESERVED, user_group: 'default' },
  };
  if (ledgerKey !== undefined) {
    ctx.evolinkIdempotency.set(ledgerKey, { body: canonical(body), answer, at: now });
  }
  if (scenario.lostAnswer) {
    res.destroy();
    return;
  }
  sendJson(res, 200, answer);
}

export function handleEvolinkQuery(ctx: SimContext, req: IncomingMessage, res: ServerResponse, id: string) {
  ctx.count('evolink.query');
  const account = authorized(ctx, req);
  if (!account) return sendEvolinkError(ctx, res, 401);
  if (!id.startsWith(EVOLINK_TASK_ID_PREFIX)) {
    return sendEvolinkError(ctx, res, 400, {
      code: 'invalid_task_id',
      message: "Invalid task ID format, must start with 'task-unified-'",
      param: 'task_id',
    });
  }
  const task = ctx.engine.get(id);
  if (task?.provider !== 'evolink') {
    return sendEvolinkError(ctx, res, 404, {
      code: 'task_not_found',
      message: 'The requested task could not be found',
    });
  }
  ctx.countTaskQuery(id);
  if (task.account !== account) {
    return sendEvolinkError(ctx, res, 403, {
      code: 'permission_denied',
      message: "You don't have permission to access this task",
    });
  }
  if (applyQueryFault(task, res)) return;
  if (task.flakyLeft > 0) {
    task.flakyLeft--;
    const status = task.scenario.flaky?.status ?? 503;
    return sendEvolinkError(
      ctx,
      res,
      status,
      status === 500 ? { message: 'Failed to retrieve task status' } : {},
    );
  }
  sendJson(res, 200, evolinkTaskBody(ctx, task));
}

/** GET /cdn/evolink/<id>.mp4: the result, valid 24 h after completion (A.6). */
export async function handleEvolinkResult(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
): Promise<void> {
  ctx.count('result.download');
  const task = ctx.engine.get(id);
  if (task?.provider !== 'evolink' || task.phase !== 'succeeded' || !task.inputs?.ok) {
    return sendText(res, 404, 'Not Found');
  }
  if (ctx.clock.now() >= (task.endedAt ?? 0) + RESULT_TTL_MS) {
    return sendText(res, 403, 'This result link has expired (results are kept 24 h).');
  }
  if (
    task.faults.cutResult > 0 &&
    cutResultDownload(task, res, await readFile(task.inputs.resultPath), 'video/mp4')
  )
    return;
  if (
    task.faults.slowResultMs > 0 &&
    (await slowResultDownload(task, res, await readFile(task.inputs.resultPath), 'video/mp4'))
  )
    return;
  await sendFile(req, res, task.inputs.resultPath, 'video/mp4');
}

/** POSTs the final task body to callback_url; on failure retries after each configured delay. */
export function deliverEvolinkCallback(ctx: SimContext, task: TaskRecord): void {
  const url = task.request.callbackUrl;
  if (!url) return;
  const body = JSON.stringify(evolinkTaskBody(ctx, task));
  const delays = ctx.options.callbackRetryDelaysMs;
  const attempt = async (n: number): Promise<void> => {
    if (ctx.shutdown.signal.aborted) return;
    const controller = ctx.shutdown.link();
    let timer: NodeJS.Timeout | undefined;
    let ok = false;
    try {
      timer = setTimeout(() => controller.abort(), ctx.options.callbackTimeoutMs);
      const res = await outbound(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'EvoLink-Callback (retalk-simulator)' },
        body,
        signal: controller.signal,
      });
      res.resume();
      const status = res.statusCode ?? 0;
      ok = status >= 200 && status < 300;
      ctx.stats.callbacks.push({
        taskId: task.id,
        url,
        attempt: n,
        status,
        ok,
        final: ok || delays[n - 1] === undefined,
      });
    } catch (error) {
      if (ctx.shutdown.signal.aborted) return;
      const message = controller.signal.aborted
        ? 'timeout'
        : error instanceof Error
          ? error.message
          : String(error);
      ctx.stats.callbacks.push({
        taskId: task.id,
        url,
        attempt: n,
        error: message,
        ok: false,
        final: delays[n - 1] === undefined,
      });
    } finally {
      clearTimeout(timer);
      controller.release();
    }
    const delay = delays[n - 1];
    if (!ok && delay !== undefined) ctx.setTimer(() => void attempt(n + 1), delay);
  };
  void attempt(1);
}

/**
 * GET /v1/tasks?status&type&model&page&page_size: the key's recent tasks, newest first, without
 * result links (EvoLink's MCP client `listTasks`; not in the public docs, audit §4.7).
 */
export function handleEvolinkList(ctx: SimContext, req: IncomingMessage, res: ServerResponse, url: URL) {
  ctx.count('evolink.list');
  const account = authorized(ctx, req);
  if (!account) return sendEvolinkError(ctx, res, 401);
  const q = url.searchParams;
  const intParam = (name: string, fallback: number, max: number): number | undefined => {
    const raw = q.get(name);
    if (raw === null || raw === '') return fallback;
    const n = Number(raw);
    return Number.isInteger(n) && n >= 1 && n <= max ? n : undefined;
  };
  const page = intParam('page', 1, 1_000_000);
  const pageSize = intParam('page_size', 20, 100);
  if (page === undefined || pageSize === undefined) {
    return sendEvolinkError(ctx, res, 400, {
      code: 'invalid_parameters',
      message: 'page must be an integer ≥ 1 and page_size an integer from 1 to 100',
      param: page === undefined ? 'page' : 'page_size',
    });
  }
  const status = q.get('status');
  const model = q.get('model');
  const rows: Record<string, unknown>[] = [];
  const tasks = [...ctx.engine.all()].sort((a, b) => b.createdAt - a.createdAt);
  for (const t of tasks) {
    if (t.provider !== 'evolink' || t.account !== account) continue;
    if (model && t.request.model !== model) continue;
    const body = evolinkTaskBody(ctx, t);
    if (status && body.status !== status) continue;
    rows.push({
      id: t.id,
      model: t.request.model,
      type: 'video',
      status: body.status,
      progress: body.progress,
      created_at: Math.floor(t.createdAt / 1000),
      has_results: body.status === 'completed',
      result_count: body.status === 'completed' ? 1 : 0,
      has_error: body.error !== undefined,
    });
  }
  sendJson(res, 200, {
    data: rows.slice((page - 1) * pageSize, page * pageSize),
    total: rows.length,
    page,
    page_size: pageSize,
  });
}
