import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HOUR_MS, parseCompactBeijingTime, toDashscopeTime } from './clock.js';
import type { SimContext } from './context.js';
import { applyQueryFault, cutResultDownload, slowResultDownload } from './faults.js';
import { BodyTooLargeError, bearerToken, readBody, sendFile, sendJson } from './http-io.js';
import { uuid } from './ids.js';
import { sendOssError } from './oss.js';
import { documentedLength } from './result-media.js';
import { requestScenarios, ScenarioError } from './scenario.js';
import { newTaskRecord, type TaskPhase, type TaskRecord } from './task-engine.js';

// Defaults for `reject:<HTTP>` and `flaky:<N>:<HTTP>` (providers.md B.6).
const HTTP_ERRORS: Record<number, { code: string; message: string }> = {
  400: { code: 'InvalidParameter', message: 'The request parameter is invalid.' },
  401: { code: 'InvalidApiKey', message: 'Invalid API-key provided.' },
  403: { code: 'AccessDenied', message: 'Access denied.' },
  404: { code: 'ModelNotFound', message: 'Model can not be found.' },
  429: { code: 'Throttling', message: 'Requests throttling triggered.' },
  500: { code: 'InternalError', message: 'An internal error has occured, please try again later.' },
  503: { code: 'ModelUnavailable', message: 'Model is unavailable, please try again later.' },
  504: { code: 'RequestTimeOut', message: 'Request timed out, please try again later.' },
};

/** Messages for codes a `fail:<CODE>` scenario may name (B.6). */
const FAILURE_MESSAGES: Record<string, string> = {
  'InvalidURL.ConnectionRefused': 'Connection to the input URL refused, please provide avaiable URL',
  'InvalidURL.Timeout': 'Download the input URL timeout, please check network connection.',
  'InvalidFile.Size': 'The size of the input file is out of range.',
  'InvalidFile.Format': 'The format of the input file is not supported.',
  'InvalidFile.Resolution': 'The height or width of video must be 640 ~ 2048.',
  'InvalidFile.FPS': 'The fps of video must be 15 ~ 60.',
  'InvalidFile.Duration': 'The duration of video must be 2s ~ 120s.',
  'InvalidFile.ImageSize': 'The size of the input image is out of range.',
  'InvalidFile.Openerror': 'The input file can not be opened.',
  'InvalidFile.Content':
    'The input image has no human body or multi human bodies, please upload another image.',
  'InvalidFile.FaceNotMatch': 'There are no matched face in the video with the provided reference image.',
  InternalError: 'An internal error has occured, please try again later.',
  'InternalError.Algo': 'An internal algorithm error has occured, please try again later.',
  'InternalError.Timeout': 'The task did not finish within 3 hours.',
  DataInspectionFailed: 'Input data may contain inappropriate content.',
};

export function dashscopeFailureMessage(code: string): string | undefined {
  return FAILURE_MESSAGES[code];
}

export const RATE_QUOTA_MESSAGE = 'Requests rate limit exceeded, please try again later.';
const TASK_TTL_MS = 24 * HOUR_MS;
const LIST_WINDOW_MS = 24 * HOUR_MS;

/** The forms DashScope error bodies come in (audit row 14; `dashscopeErrorForm`). */
export type DashscopeErrorForm = 'flat' | 'msg' | 'envelope' | 'snake_case';

// The error page pairs these codes with snake_case aliases ("401-InvalidApiKey/invalid_api_key").
const SNAKE_CASE_CODES: Record<string, string> = {
  InvalidApiKey: 'invalid_api_key',
  AccessDenied: 'access_denied',
  ModelNotFound: 'model_not_found',
  DataInspectionFailed: 'data_inspection_failed',
};

// The form is the simulator's, set once per DashScope request by the router (`useErrorForm`), so
// the many places that answer an error need not carry the options.
const errorForms = new WeakMap<ServerResponse, DashscopeErrorForm>();

/** Makes every DashScope error answered on `res` take `form`. */
export function useErrorForm(res: ServerResponse, form: DashscopeErrorForm): void {
  errorForms.set(res, form);
}

export function sendDashscopeError(
  res: ServerResponse,
  status: number,
  code?: string,
  message?: string,
  headers: Record<string, string> = {},
): void {
  const base = HTTP_ERRORS[status] ?? (status >= 500 ? HTTP_ERRORS[500] : HTTP_ERRORS[400]);
  const theCode = code ?? base?.code;
  const text = message ?? (code ? FAILURE_MESSAGES[code] : undefined) ?? base?.message;
  const requestId = uuid();
  const form = errorForms.get(res) ?? 'flat';
  const body =
    form === 'msg'
      ? { request_id: requestId, code: theCode, msg: text }
      : form === 'envelope'
        ? { error: { code: theCode, message: text, request_id: requestId } }
        : form === 'snake_case'
          ? { request_id: requestId, code: SNAKE_CASE_CODES[theCode ?? ''] ?? theCode, message: text }
          : { request_id: requestId, code: theCode, message: text };
  sendJson(res, status, body, headers);
}

/** 401 InvalidApiKey with the message for a missing or a wrong key; returns the key's Alibaba Cloud account. */
function authorize(ctx: SimContext, req: IncomingMessage, res: ServerResponse): string | undefined {
  const key = bearerToken(req);
  if (key === undefined) {
    sendDashscopeError(res, 401, 'InvalidApiKey', 'No API-key provided.');
    return undefined;
  }
  if (!ctx.options.apiKeys.includes(key)) {
    sendDashscopeError(res, 401, 'InvalidApiKey', 'Invalid API-key provided.');
    return undefined;
  }
  const outage = ctx.outages.get(key);
  if (outage) {
    sendDashscopeError(res, outage.status, outage.code, outage.message);
    return undefined;
  }
  return ctx.options.dashscopeAccountOf(key);
}

const STATUS_OF: Record<TaskPhase, string> = {
  pending: 'PENDING',
  'pre-processing': 'PRE-PROCESSING',
  running: 'RUNNING',
  'post-processing': 'POST-PROCESSING',
  succeeded: 'SUCCEEDED',
  failed: 'FAILED',
  canceled: 'CANCELED',
};

const isExpired = (ctx: SimContext, t: TaskRecord) =>
  t.endedAt !== undefined && ctx.clock.now() >= t.endedAt + TASK_TTL_MS;

const round3 = (n: number) => Math.round(n * 1000) / 1000;

function usageOf(task: TaskRecord): Record<string, unknown> | undefined {
  if (!task.inputs?.ok) return undefined;
  const { video, audio } = task.inputs;
  // Output = min(video, audio); with video_extension the video is stretched to the audio (B.5).
  // The muxed result is exactly this long.
  const seconds = documentedLength(video.durationSec, audio.durationSec, task.request.videoExtension);
  const usage: Record<string, unknown> = { video_duration: round3(seconds), video_ratio: 'standard' };
  if (video.width !== undefined && video.height !== undefined) usage.size = `${video.width}*${video.height}`;
  if (video.fps !== undefined) usage.fps = Math.round(video.fps);
  return usage;
}

function resultUrl(ctx: SimContext, task: TaskRecord): string {
  const expiresSec = Math.floor(((task.endedAt ?? 0) + TASK_TTL_MS) / 1000);
  return ctx.oss.signUrl(`${ctx.baseUrl()}/oss/dashscope-results/${task.id}.mp4`, expiresSec);
}

/** The body of GET {prefix}/tasks/{id}. */
export function dashscopeTaskBody(ctx: SimContext, task: TaskRecord): Record<string, unknown> {
  const view = ctx.engine.view(task);
  const output: Record<string, unknown> = {
    task_id: task.id,
    task_status: STATUS_OF[view.phase],
    submit_time: toDashscopeTime(task.createdAt),
  };
  if (task.startedAt !== undefined) output.scheduled_time = toDashscopeTime(task.startedAt);
  if (task.endedAt !== undefined) output.end_time = toDashscopeTime(task.endedAt);
  const body: Record<string, unknown> = { request_id: uuid(), output };
  if (view.phase === 'succeeded') {
    output.video_url = resultUrl(ctx, task);
    const usage = usageOf(task);
    if (usage) body.usage = usage;
  }
  if (view.phase === 'failed' && task.failure) {
    output.code = task.failure.code;
    output.message = task.failure.message;
  }
  return body;
}

function unknownTask(res: ServerResponse, id: string): void {
  sendJson(res, 200, { request_id: uuid(), output: { task_id: id, task_status: 'UNKNOWN' } });
}

function isSupportedUrl(value: string): boolean {
  if (value.startsWith('oss://')) return value.length > 'oss://'.length;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export async function handleDashscopeCreate(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  ctx.count('dashscope.create');
  const header = req.headers['idempotency-key'];
  ctx.stats.createRequests.push({
    provider: 'dashscope',
    idempotencyKey: typeof header === 'string' && header !== '' ? header : null,
  });
  const account = authorize(ctx, req, res);
  if (!account) return;
  if (String(req.headers['x-dashscope-async'] ?? '').toLowerCase() !== 'enable') {
    return sendDashscopeError(
      res,
      403,
      'AccessDenied',
      'current user api does not support synchronous calls.',
    );
  }
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse((await readBody(req, 1024 * 1024)).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new SyntaxError('not an object');
    body = parsed as Record<string, unknown>;
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      return sendDashscopeError(res, 413, 'InvalidParameter', error.message);
    return sendDashscopeError(res, 400, 'InvalidParameter', 'The request body must be a JSON object.');
  }
  const input = (typeof body.input === 'object' && body.input !== null ? body.input : {}) as Record<
    string,
    unknown
  >;
  const parameters = (
    typeof body.parameters === 'object' && body.parameters !== null ? body.parameters : {}
  ) as Record<string, unknown>;

  const required = (field: string) =>
    sendDashscopeError(res, 400, 'InvalidParameter', `Field required: ${field}`);
  const invalid = (message: string) =>
    sendDashscopeError(res, 400, 'InvalidParameter', `The request parameter is invalid. ${message}`);
  if (body.model === undefined || body.model === '') return required('model');
  // The error page lists "Model not exist." under 400 InvalidParameter, and field notes saw it on
  // this path (audit row 5); 404 ModelNotFound "Model can not be found." is another endpoint's.
  if (body.model !== 'videoretalk')
    return sendDashscopeError(res, 400, 'InvalidParameter', 'Model not exist.');
  if (typeof body.input !== 'object' || body.input === null) return required('input');
  for (const field of ['video_url', 'audio_url'] as const) {
    if (input[field] === undefined || input[field] === '') return required(`input.${field}`);
  }
  for (const field of ['video_url', 'audio_url', 'ref_image_url'] as const) {
    const value = input[field];
    if (value === undefined || (field === 'ref_image_url' && value === '')) continue;
    if (typeof value !== 'string' || !isSupportedUrl(value)) {
      return invalid(`input.${field} must be a public http(s) URL or an oss:// temporary URL.`);
    }
  }
  if (parameters.video_extension !== undefined && typeof parameters.video_extension !== 'boolean') {
    return invalid('parameters.video_extension must be a boolean.');
  }
  const threshold = parameters.query_face_threshold;
  if (
    threshold !== undefined &&
    (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 120 || threshold > 200)
  ) {
    return invalid('parameters.query_face_threshold must be an integer in [120, 200].');
  }
  const urls = ['video_url', 'audio_url', 'ref_image_url']
    .map((f) => input[f])
    .filter((v): v is string => typeof v === 'string' && v.startsWith('oss://'));
  if (urls.length > 0) {
    if (String(req.headers['x-dashscope-ossresourceresolve'] ?? '').toLowerCase() !== 'enable') {
      return sendDashscopeError(
        res,
        400,
        'InvalidParameter',
        `No connection adapters were found for '${urls[0]}'. Send the header X-DashScope-OssResourceResolve: enable to use oss:// URLs.`,
      );
    }
    for (const url of urls) {
      const problem = ctx.oss.check(url, account, 'videoretalk');
      if (typeof problem === 'string') return sendDashscopeError(res, 400, 'InvalidParameter', problem);
    }
  }

  try {
    requestScenarios(req.headers['x-sim-scenario'], input.video_url);
  } catch (error) {
    if (error instanceof ScenarioError)
      return sendDashscopeError(res, 400, 'InvalidParameter', error.message);
    throw error;
  }
  // Inferred (the docs are silent): only a well-formed request takes the 1 submit/s quota, so a
  // malformed body within the same second gets its 400 instead of a 429 that hides the mistake.
  // Checked before scenarioFor() so a throttled request leaves a queued scenario for its retry.
  if (!ctx.takeRate(`dashscope.submit|${account}`, ctx.options.dashscopeSubmitsPerSecond)) {
    ctx.stats.throttled++;
    return sendDashscopeError(res, 429, 'Throttling.RateQuota', RATE_QUOTA_MESSAGE);
  }
  // The request's own scenarios were checked above and queued ones by nextScenario(): no throw.
  const scenario = ctx.scenarioFor(req, input.video_url);
  if (scenario.reject) return sendDashscopeError(res, scenario.reject.status, scenario.reject.code);
  if (scenario.retryAfterSec !== undefined) {
    const key = `dashscope|${account}|${String(input.video_url)}|${req.headers['x-sim-scenario'] ?? ''}`;
    if (scenario.retryAfterQueued || ctx.firstRetryAfter(key)) {
      ctx.stats.throttled++;
      return sendDashscopeError(res, 429, 'Throttling.RateQuota', RATE_QUOTA_MESSAGE, {
        'retry-after': String(scenario.retryAfterSec),
      });
    }
  }

  const now = ctx.clock.now();
  const task = newTaskRecord({
    provider: 'dashscope',
    rules: { failsWithoutFace: false, accountQueue: true },
    id: uuid(),
    requestId: uuid(),
    account,
    createdAt: now,
    jobMs: ctx.options.jobMs,
    scenario,
    videoUrl: input.video_url as string,
    audioUrl: input.audio_url as string,
    refImageUrl: input.ref_image_url,
    videoExtension: parameters.video_extension,
    faceThreshold: threshold,
  });
  ctx.startTask(task);
  if (scenario.lostAnswer) {
    res.destroy();
    return;
  }
  sendJson(res, 200, { output: { task_id: task.id, task_status: 'PENDING' }, request_id: task.requestId });
}

function queryAllowed(ctx: SimContext, account: string, res: ServerResponse): boolean {
  if (ctx.takeRate(`dashscope.query|${account}`, ctx.options.dashscopeQueriesPerSecond)) return true;
  ctx.stats.throttled++;
  sendDashscopeError(res, 429, 'Throttling.RateQuota', RATE_QUOTA_MESSAGE);
  return false;
}

export function handleDashscopeQuery(ctx: SimContext, req: IncomingMessage, res: ServerResponse, id: string) {
  ctx.count('dashscope.query');
  const known = ctx.engine.get(id);
  if (known?.provider === 'dashscope') ctx.countTaskQuery(id);
  const account = authorize(ctx, req, res);
  if (!account) return;
  if (!queryAllowed(ctx, account, res)) return;
  const task = known?.provider === 'dashscope' && known.account === account ? known : undefined;
  if (!task || isExpired(ctx, task)) return unknownTask(res, id);
  if (applyQueryFault(task, res)) return;
  if (task.flakyLeft > 0) {
    task.flakyLeft--;
    return sendDashscopeError(res, task.scenario.flaky?.status ?? 503);
  }
  sendJson(res, 200, dashscopeTaskBody(ctx, task));
}

export function handleDashscopeCancel(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
) {
  ctx.count('dashscope.cancel');
  const account = authorize(ctx, req, res);
  if (!account) return;
  const task = ctx.engine.get(id);
  const mine = task?.provider === 'dashscope' && task.account === account && !isExpired(ctx, task);
  if (task && mine && ctx.engine.cancel(task)) {
    sendJson(res, 200, { request_id: uuid() });
    return;
  }
  const { status, code, message } = ctx.options.dashscopeCancelError;
  sendDashscopeError(res, status, code, message);
}

// The list shows the coarse states of the general task API (B.4).
const LIST_STATUS: Record<TaskPhase, string> = {
  pending: 'PENDING',
  'pre-processing': 'RUNNING',
  running: 'RUNNING',
  'post-processing': 'RUNNING',
  succeeded: 'SUCCEEDED',
  failed: 'FAILED',
  canceled: 'CANCELED',
};

export function handleDashscopeList(ctx: SimContext, req: IncomingMessage, res: ServerResponse, url: URL) {
  ctx.count('dashscope.list');
  const account = authorize(ctx, req, res);
  if (!account) return;
  if (!queryAllowed(ctx, account, res)) return;
  const q = url.searchParams;
  const intParam = (name: string, fallback: number, max: number): number | string => {
    const raw = q.get(name);
    if (raw === null || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > max) return `${name} must be an integer from 1 to ${max}`;
    return n;
  };
  const pageNo = intParam('page_no', 1, 1_000_000);
  const pageSize = intParam('page_size', 10, 100);
  if (typeof pageNo === 'string') return sendDashscopeError(res, 400, 'InvalidParameter', pageNo);
  if (typeof pageSize === 'string') return sendDashscopeError(res, 400, 'InvalidParameter', pageSize);
  const timeParam = (name: string): number | undefined | string => {
    const raw = q.get(name);
    if (raw === null || raw === '') return undefined;
    return parseCompactBeijingTime(raw) ?? `${name} must be formatted YYYYMMDDhhmmss, e.g. 20230420000000`;
  };
  const startParam = timeParam('start_time');
  const endParam = timeParam('end_time');
  if (typeof startParam === 'string') return sendDashscopeError(res, 400, 'InvalidParameter', startParam);
  if (typeof endParam === 'string') return sendDashscopeError(res, 400, 'InvalidParameter', endParam);
  // B.4 / audit row 19: the window defaults to the 24 h before end_time (end_time: now) and may
  // not span more than 24 h.
  const end = endParam ?? ctx.clock.now();
  const start = startParam ?? end - LIST_WINDOW_MS;
  if (start > end || end - start > LIST_WINDOW_MS) {
    return sendDashscopeError(
      res,
      400,
      'InvalidParameter',
      'start_time must be before end_time and at most 24 hours earlier',
    );
  }
  const status = q.get('status')?.toUpperCase();
  const allowedStatus = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'UNKNOWN'];
  if (status && !allowedStatus.includes(status)) {
    return sendDashscopeError(
      res,
      400,
      'InvalidParameter',
      `status must be one of ${allowedStatus.join(', ')}`,
    );
  }
  const taskId = q.get('task_id');
  const model = q.get('model_name');
  const rows: Record<string, unknown>[] = [];
  for (const t of ctx.engine.all()) {
    if (t.provider !== 'dashscope' || t.account !== account || isExpired(ctx, t)) continue;
    if (model && t.request.model !== model) continue;
    if (taskId && t.id !== taskId) continue;
    if (t.createdAt < start || t.createdAt > end) continue;
    const listStatus = LIST_STATUS[ctx.engine.view(t).phase];
    if (status && listStatus !== status) continue;
    // The docs' RUNNING example leaves end_time out rather than sending null.
    const row: Record<string, unknown> = {
      api_key_id: `ak-${account.length}`,
      caller_parent_id: '1000000000000000',
      caller_uid: '1000000000000000',
      gmt_create: t.createdAt,
      model_name: t.request.model,
      region: 'cn-beijing',
      request_id: t.requestId,
      status: listStatus,
      task_id: t.id,
      user_api_unique_key: `apikey:v1:${t.request.model}:sim`,
    };
    if (t.startedAt !== undefined) row.start_time = t.startedAt;
    if (t.endedAt !== undefined) row.end_time = t.endedAt;
    rows.push(row);
  }
  rows.sort((a, b) => (b.gmt_create as number) - (a.gmt_create as number));
  const total = rows.length;
  sendJson(res, 200, {
    request_id: uuid(),
    data: rows.slice((pageNo - 1) * pageSize, pageNo * pageSize),
    total,
    total_page: Math.ceil(total / pageSize),
    page_no: pageNo,
    page_size: pageSize,
  });
}

/** GET /oss/dashscope-results/<id>.mp4?Expires=…: a signed OSS-style link valid 24 h (B.3). */
export async function handleDashscopeResult(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  id: string,
): Promise<void> {
  ctx.count('result.download');
  const task = ctx.engine.get(id);
  if (task?.provider !== 'dashscope' || task.phase !== 'succeeded' || !task.inputs?.ok) {
    return sendOssError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  }
  const expires = Number(url.searchParams.get('Expires'));
  if (!ctx.oss.verifyUrl(url)) {
    return sendOssError(
      res,
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match.',
    );
  }
  if (!Number.isFinite(expires) || ctx.clock.now() >= expires * 1000) {
    return sendOssError(res, 403, 'AccessDenied', 'Request has expired.');
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
