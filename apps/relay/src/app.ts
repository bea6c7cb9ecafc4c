import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Writable } from 'node:stream';
import {
  acceptsUpload,
  type Client,
  createClient,
  type LipSyncRequest,
  type ProviderLimits,
} from '@retalk/core';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { ApiError } from './api-error.js';
import { type Archiver, createArchiver } from './archive.js';
import { createMemberAuth, generateToken, hashToken } from './auth.js';
import type { RelayConfig } from './config.js';
import { type ConformPool, createConformPool } from './conform-pool.js';
import { createEventBus, type EventBus } from './event-bus.js';
import { createJobWriter, type JobWriter } from './jobs.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPreparer, needsPreparation, type Preparer } from './preparer.js';
import { ensurePrivateDir } from './private-files.js';
import { createRateLimiter, type RateLimiter } from './rate-limit.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerCallbackRoutes } from './routes/callbacks.js';
import { registerConnectRoutes } from './routes/connect.js';
import { registerEventRoutes } from './routes/events.js';
import { registerFileRoutes } from './routes/files.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerMeRoutes } from './routes/me.js';
import { registerUploadRoutes, uploadMaxBytes } from './routes/uploads.js';
import { createUrlSigner, type UrlSigner } from './signing.js';
import { createLocalStorage, type FileStorage } from './storage/local.js';
import { openStore } from './store/open.js';
import type { JobRecord, MemberRecord, RelayQueries, RelayStore } from './store/types.js';
import { createTracker, type Tracker } from './tracker.js';
import { createGuardedFetch } from './url-guard.js';

export const RELAY_VERSION = '0.1.0';

/** Where the relay's upstream lives (resolved by the caller: a real provider or a simulator). */
export interface UpstreamTarget {
  apiKey: string;
  baseUrl?: string | undefined;
  filesBaseUrl?: string | undefined;
  /** Retries of a failed provider read inside one call (default: the core client's). */
  readRetries?: number | undefined;
}

export interface RelayOptions {
  config: RelayConfig;
  upstream: UpstreamTarget;
  /** Log destination (default stdout); tests pass a stream to scan every line. */
  logStream?: Writable | undefined;
  now?: (() => number) | undefined;
  /** Hosts (`host:port`) accepted as input URLs even though they are private (the built-in simulator). */
  allowedInputHosts?: readonly string[] | undefined;
  /** Waits between result download attempts, in milliseconds. Default 1 s, 5 s, 30 s, 2 min. */
  archiveRetryDelaysMs?: readonly number[] | undefined;
  /** SSE heartbeat period, in milliseconds. Default 15 000. */
  heartbeatMs?: number | undefined;
  /**
   * Minimum gap between submits, in milliseconds. Default from the provider's documented submit
   * rate with 10 % headroom (DashScope 1 submit/s → 1100 ms), else 100 ms (EvoLink publishes none).
   */
  submitIntervalMs?: number | undefined;
  /** Period of the retention sweep, in milliseconds. Default 1 h. */
  sweepIntervalMs?: number | undefined;
  /** Entry module of the conform pool's child processes (tests pass a stand-in). Default: the real worker. */
  conformWorkerPath?: string | undefined;
  /** Limits of one probe's child process. Default 30 s and 512 MiB. */
  probeLimits?: { timeoutMs: number; memoryBytes: number } | undefined;
}

/** What routes share. */
export interface RelayContext {
  config: RelayConfig;
  store: RelayStore;
  storage: FileStorage;
  writer: JobWriter;
  tracker: Tracker;
  archiver: Archiver;
  /** Child processes that probe and conform media off the event loop. */
  pool: ConformPool;
  /** The `preparing` phase: fetches URL inputs once, conforms them, reserves the conformed length. */
  preparer: Preparer;
  bus: EventBus;
  metrics: Metrics;
  signer: UrlSigner;
  client: Client;
  now: () => number;
  log: FastifyBaseLogger;
  memberLimiter: RateLimiter;
  authFailureLimiter: RateLimiter;
  allowedInputHosts: readonly string[];
  /** fetch for URLs the relay follows itself: each hop (redirects too) passes the URL guard. */
  guardedFetch: typeof fetch;
  heartbeatMs: number;
  /** Enders of open SSE streams (closed before the server, which would otherwise wait for them). */
  openStreams: Set<() => void>;
  /** The same enders by member, oldest first (revocation and the per-member cap end them). */
  memberStreams: Map<string, Set<() => void>>;
  /** Public origin of this relay (config, else the address it listens on). */
  publicUrl(): string;
  /** Authenticates the member of a request or throws the matching 401/429. */
  requireMember(request: FastifyRequest, reply: FastifyReply): Promise<MemberRecord>;
}

export interface Relay {
  app: FastifyInstance;
  context: RelayContext;
  /** Starts the tracker, archiver and sweeps (not the listener); resolves once the live jobs are picked up. */
  start(): Promise<void>;
  /** Stops loops, closes the server and the store. */
  close(): Promise<void>;
}

/** Replaces the provider key in any string (defense in depth: logs and bodies never carry it). */
export function createScrubber(secrets: readonly string[]): (text: string) => string {
  const active = secrets.filter((s) => s.length >= 4);
  return (text) => {
    let out = text;
    for (const s of active) if (out.includes(s)) out = out.split(s).join('[redacted]');
    return out;
  };
}

function scrubDeep(value: unknown, scrub: (s: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error)
    return { type: value.name, message: scrub(value.message), stack: scrub(value.stack ?? '') };
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubDeep(v, scrub, depth + 1);
  return out;
}

const MEMBER_WINDOW_MS = 60_000;
const DEFAULT_SUBMIT_INTERVAL_MS = 100;
const DEFAULT_MAX_UPSTREAM_IN_FLIGHT = 32;

function submitIntervalFor(limits: ProviderLimits): number {
  const perSecond = limits.submitsPerSecond;
  return perSecond === undefined ? DEFAULT_SUBMIT_INTERVAL_MS : Math.ceil((1000 / perSecond) * 1.1);
}

/** Builds the relay: Fastify app, store, storage, tracker and archiver. Never listens. */
export async function buildRelay(options: RelayOptions): Promise<Relay> {
  const { config } = options;
  const now = options.now ?? Date.now;
  const scrub = createScrubber([options.upstream.apiKey]);
  ensurePrivateDir(config.dataDir);

  const app = Fastify({
    logger: {
      level: config.logLevel,
      ...(options.logStream ? { stream: options.logStream } : {}),
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-admin-token"]',
          'headers.authorization',
        ],
        censor: '[redacted]',
      },
      serializers: {
        req: (req: FastifyRequest) => {
          const r = req as unknown as { method?: string; url?: string; ip?: string };
          // Signed links carry their signature in the query; log the path only.
          return {
            method: r.method ?? '',
            url: String(r.url ?? '').split('?')[0] ?? '',
            remoteAddress: r.ip ?? '',
          };
        },
      },
      formatters: {
        // `req`/`res` are Fastify's objects, whose fields are getters: scrubbing copies would lose
        // them before the serializers run (findings L3: every access log line was empty).
        log: ({ req, res, ...rest }: Record<string, unknown>) => {
          const out = scrubDeep(rest, scrub) as Record<string, unknown>;
          if (req !== undefined) out.req = req;
          if (res !== undefined) out.res = res;
          return out;
        },
      },
      hooks: {
        logMethod(args: unknown[], method: (...a: unknown[]) => void) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? scrub(a) : a)),
          );
        },
      },
    },
    trustProxy: config.trustProxy,
    // A slow client, signed in or not, must not hold a connection forever (findings M1): no bytes
    // either way for idleTimeoutMs closes it, and headers and the whole request have deadlines.
    connectionTimeout: config.idleTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      // Node checks the header and request deadlines on this period (30 s by default).
      connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(config.headersTimeoutMs / 4))),
    },
    bodyLimit: 256 * 1024,
    return503OnClosing: true,
    // Random, so an id tells nobody how many requests the process has served (informational finding).
    genReqId: () => `req_${randomBytes(12).toString('base64url')}`,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Errors the router raises before any route runs get the same envelope (findings L16).
    frameworkErrors: (error, request, reply) => {
      const code = (error as { code?: string }).code;
      const api =
        code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ApiError(
              414,
              'invalid_request',
              'A part of the request path is longer than 200 characters.',
              {
                field: 'path',
              },
            )
          : new ApiError(
              400,
              'invalid_request',
              'The request URL is not valid (check its percent-encoding).',
              {
                field: 'path',
              },
            );
      const answer = reply as unknown as FastifyReply;
      closeIfBodyUnread(request as unknown as FastifyRequest, answer);
      answer
        .code(api.statusCode)
        .type('application/json')
        .send(api.toBody(String(request.id)));
    },
  });

  const store = await openStore(config);
  const storage = createLocalStorage(path.join(config.dataDir, 'files'));
  const bus = createEventBus();
  const metrics = createMetrics();
  const writer = createJobWriter(store, bus, now);

  let secret: string;
  try {
    secret = config.signingSecret ?? (await signingSecretOf(store));
    if (!config.simulator) await revokeSimulatorMembers(store, config.dataDir, app.log, now());
  } catch (error) {
    await store.close();
    throw error;
  }
  const signer = createUrlSigner(secret, now);

  const rawClient = createClient({
    provider: config.provider,
    apiKey: options.upstream.apiKey,
    baseUrl: options.upstream.baseUrl,
    filesBaseUrl: options.upstream.filesBaseUrl,
    readRetries: options.upstream.readRetries,
    typicalJobMs: config.simulator ? config.simulatorJobMs : undefined,
  });
  const client = instrumentClient(rawClient, metrics, now);

  const publicUrl = () => {
    if (config.publicUrl) return config.publicUrl;
    const address = app.server.address() as AddressInfo | null;
    const host = address
      ? address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address
      : config.host;
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address?.port ?? config.port}`;
  };

  const allowedInputHosts = [...config.allowedInputHosts, ...(options.allowedInputHosts ?? [])];
  // Everything the relay fetches by URL (input probes, result downloads) passes the same guard.
  const guardedFetch = createGuardedFetch({
    allowPrivate: config.allowPrivateUrls,
    allowedHosts: allowedInputHosts,
  });

  const archiver = createArchiver({
    store,
    writer,
    storage,
    log: app.log,
    metrics,
    now,
    retentionMs: config.retentionDays * 86_400_000,
    retryDelaysMs: options.archiveRetryDelaysMs ?? [1_000, 5_000, 30_000, 120_000],
    fetch: guardedFetch,
  });

  const pool = createConformPool({
    concurrency: config.conformConcurrency,
    conformLimits: { timeoutMs: config.conformTimeoutMs, memoryBytes: config.conformMemoryBytes },
    probeLimits: options.probeLimits ?? { timeoutMs: 30_000, memoryBytes: 512 * 1024 * 1024 },
    workerPath: options.conformWorkerPath,
  });

  // `submitAt` anchors the signed links, so rebuilding the request of one submit (recovery under
  // the same idempotency key) gives byte-identical URLs.
  async function buildRequest(job: JobRecord, submitAt: number): Promise<LipSyncRequest> {
    const toUrl = async (
      input: JobRecord['input']['video'],
      name: 'video' | 'audio' | 'refImage',
    ): Promise<string> => {
      // A prepared job sends the relay's own files: fetched copies and conformed outputs.
      const prepared = job.conform?.[name];
      if (prepared === undefined && input.url !== undefined) return input.url;
      const upload = await store.getUpload(prepared?.uploadId ?? (input.uploadId as string));
      if (!upload) throw new Error(`upload ${input.uploadId} was deleted`);
      // The provider's storage only when it takes this kind of file: EvoLink's files API documents
      // images only (audit row 3), so its video and audio go by relay link.
      if (
        config.inputRoute === 'provider' &&
        acceptsUpload(rawClient.capabilities.upload, upload.contentType)
      ) {
        // The provider's own storage (DashScope oss://, EvoLink files): a file-backed Blob keeps
        // memory flat while core uploads it.
        const blob = await fs.openAsBlob(storage.pathOf(upload.storageKey), { type: upload.contentType });
        const stored = await rawClient.uploadFile(blob, {
          filename: upload.filename,
          contentType: upload.contentType,
        });
        return stored.url;
      }
      const filePath = `/files/uploads/${upload.id}`;
      // Valid long enough for the provider to start the task after any queueing upstream.
      const link = `${publicUrl()}${filePath}?${signer.sign(filePath, 6 * 3_600_000, submitAt).query}`;
      // The built-in simulator reads its scenario markers (`?sim=fail:…`) from the video URL; the
      // offline demo keeps them working on the relay's copy of a URL input.
      const marker = config.simulator && input.url !== undefined ? simMarker(input.url) : undefined;
      return marker ? `${link}&sim=${encodeURIComponent(marker)}` : link;
    };
    const request: LipSyncRequest = {
      video: await toUrl(job.input.video, 'video'),
      audio: await toUrl(job.input.audio, 'audio'),
    };
    if (job.input.refImage) request.refImage = await toUrl(job.input.refImage, 'refImage');
    if (job.input.videoExtension) request.videoExtension = true;
    if (job.input.faceThreshold !== undefined) request.faceThreshold = job.input.faceThreshold;
    // Callbacks go only to public https URLs (EvoLink); the token in the path is unguessable per job.
    if (rawClient.capabilities.callbacks && publicUrl().startsWith('https://')) {
      request.callbackUrl = `${publicUrl()}/v1/callbacks/${job.callbackToken}`;
    }
    return request;
  }

  const limits = rawClient.capabilities.limits;
  // The tracker and the preparer hand jobs to each other; `tracker` is assigned right below.
  let tracker: Tracker;
  const preparer = createPreparer({
    store,
    writer,
    storage,
    pool,
    config,
    log: app.log,
    now,
    fetch: guardedFetch,
    maxBytes: uploadMaxBytes(config),
    onReady: (job) => tracker.enqueue(job),
  });

  tracker = createTracker({
    store,
    writer,
    client,
    log: app.log,
    now,
    pollIntervalMs: config.pollIntervalMs,
    submitIntervalMs: options.submitIntervalMs ?? submitIntervalFor(limits),
    // A provider that runs one task at a time (DashScope) gets one in flight; the rest wait here.
    maxUpstreamInFlight: limits.concurrentTasks ?? DEFAULT_MAX_UPSTREAM_IN_FLIGHT,
    buildRequest,
    onSucceeded: (job) => archiver.enqueue(job.id),
    isPrepared: (job) => !needsPreparation(job),
    cancelPreparing: (jobId) => preparer.cancel(jobId),
  });

  const memberLimiter = createRateLimiter(config.rateLimitPerMinute, MEMBER_WINDOW_MS, now);
  const authFailureLimiter = createRateLimiter(30, MEMBER_WINDOW_MS, now);

  const authenticate = createMemberAuth(store);
  async function requireMember(request: FastifyRequest, reply: FastifyReply): Promise<MemberRecord> {
    const auth = await authenticate(request.headers.authorization);
    if (!auth.ok) {
      const wait = authFailureLimiter.hit(request.ip);
      // Attributable, never the token itself (findings L3).
      request.log.warn(
        { remoteAddress: request.ip, reason: auth.reason, limited: wait > 0 },
        'failed sign-in',
      );
      if (wait > 0) {
        reply.header('retry-after', String(Math.ceil(wait / 1000)));
        throw new ApiError(
          429,
          'rate_limited',
          'Too many failed sign-ins from this address; wait a minute.',
          {
            retryAfterMs: wait,
          },
        );
      }
      const messages = {
        missing:
          'Sign in: send your member token as "Authorization: Bearer rtk_…" (ask your relay admin for one).',
        malformed:
          'The Authorization header is not "Bearer rtk_…" with a valid member token; copy the token again.',
        unknown:
          'This member token is not known to the relay; check it or ask your relay admin for a new one.',
        revoked: 'This member token was revoked; ask your relay admin for a new one.',
      } as const;
      reply.header('www-authenticate', 'Bearer realm="retalk"');
      throw new ApiError(401, 'unauthorized', messages[auth.reason]);
    }
    const wait = memberLimiter.hit(auth.member.id);
    if (wait > 0) {
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      throw new ApiError(
        429,
        'rate_limited',
        `Too many requests; the limit is ${config.rateLimitPerMinute} a minute. Wait and retry.`,
        {
          retryAfterMs: wait,
        },
      );
    }
    return auth.member;
  }

  const context: RelayContext = {
    config,
    store,
    storage,
    writer,
    tracker,
    archiver,
    pool,
    preparer,
    bus,
    metrics,
    signer,
    client,
    now,
    log: app.log,
    memberLimiter,
    authFailureLimiter,
    allowedInputHosts,
    guardedFetch,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    openStreams: new Set(),
    memberStreams: new Map(),
    publicUrl,
    requireMember,
  };

  installErrorHandling(app, scrub, metrics);
  registerHealthRoutes(app, context);
  registerMeRoutes(app, context);
  registerUploadRoutes(app, context);
  registerJobRoutes(app, context);
  registerEventRoutes(app, context);
  registerFileRoutes(app, context);
  registerCallbackRoutes(app, context);
  registerAdminRoutes(app, context);
  registerConnectRoutes(app, context);

  let sweepTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  return {
    app,
    context,
    async start() {
      await tracker.start();
      for (const job of await store.listLiveJobs()) if (needsPreparation(job)) preparer.enqueue(job.id);
      pool.warm();
      const sweep = () =>
        archiver.sweep().catch((error) => app.log.warn({ err: String(error) }, 'retention sweep failed'));
      void sweep();
      sweepTimer = setInterval(sweep, options.sweepIntervalMs ?? 3_600_000);
      sweepTimer.unref();
    },
    close() {
      closing ??= (async () => {
        if (sweepTimer) clearInterval(sweepTimer);
        await preparer.stop();
        await tracker.stop();
        await archiver.stop();
        for (const end of context.openStreams) end();
        await app.close();
        // After the server: an upload finishing during the drain still gets its probe.
        await pool.close();
        await store.close();
      })();
      return closing;
    },
  };
}

function simMarker(url: string): string | undefined {
  try {
    return new URL(url).searchParams.get('sim') ?? undefined;
  } catch {
    return undefined;
  }
}

function instrumentClient(client: Client, metrics: Metrics, now: () => number): Client {
  const timed =
    <A extends unknown[], R>(op: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const start = now();
      try {
        const result = await fn(...args);
        metrics.inc('retalk_upstream_requests_total', { op, outcome: 'ok' });
        return result;
      } catch (error) {
        metrics.inc('retalk_upstream_requests_total', { op, outcome: 'error' });
        throw error;
      } finally {
        metrics.observe('retalk_upstream_request_seconds', { op }, (now() - start) / 1000);
      }
    };
  return {
    ...client,
    submit: timed('submit', client.submit),
    get: timed('get', client.get),
    cancel: timed('cancel', client.cancel),
    recoverSubmit: timed('recover', client.recoverSubmit),
  };
}

const FASTIFY_ERRORS: Record<string, { status: number; code: ApiError['code']; message: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'This endpoint takes "Content-Type: application/json".',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    message: 'The request body is too large.',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: 'invalid_json',
    message: 'The body is empty; send a JSON object (or drop the Content-Type header).',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'invalid_json',
    message: 'The body is not valid JSON.',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'invalid_request',
    message: 'Content-Length does not match the body that was sent.',
  },
  FST_ERR_CTP_INVALID_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'The Content-Type header is not valid.',
  },
  FST_ERR_BAD_URL: { status: 400, code: 'invalid_request', message: 'The request URL is not valid.' },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'invalid_request', message: 'The request is not valid.' },
};

/**
 * A refused request whose body was never read (an upload, a callback, an unknown route): answer with
 * `Connection: close` so Node closes the socket after the answer, instead of draining an unbounded
 * body to keep the connection alive (findings M1: a 401 kept accepting a drip for 40 s).
 */
function closeIfBodyUnread(request: FastifyRequest, reply: FastifyReply): void {
  if (!request.raw.complete) reply.header('connection', 'close');
}

function installErrorHandling(app: FastifyInstance, scrub: (s: string) => string, metrics: Metrics): void {
  app.setErrorHandler((error: unknown, request, reply) => {
    let api: ApiError;
    if (error instanceof ApiError) {
      api = error;
    } else {
      const e = error as { code?: string; statusCode?: number; message?: string; name?: string };
      const known = e.code ? FASTIFY_ERRORS[e.code] : undefined;
      if (known) {
        api = new ApiError(known.status, known.code, known.message);
      } else if (e.name === 'SyntaxError' || e.code?.startsWith('FST_ERR_CTP')) {
        api = new ApiError(400, 'invalid_json', 'The body is not valid JSON.');
      } else if (e.code?.startsWith('SQLITE_BUSY')) {
        // Another process (a CLI, a backup) holds the database past the busy timeout: nothing was
        // written, so the client can safely retry.
        reply.header('retry-after', '2');
        api = new ApiError(
          503,
          'not_ready',
          "The relay's database is busy (locked by another process); nothing was saved. Retry in a few seconds.",
          { retryAfterMs: 2_000 },
        );
      } else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
        api = new ApiError(
          e.statusCode,
          e.statusCode === 413 ? 'payload_too_large' : 'invalid_request',
          scrub(e.message ?? 'Bad request.'),
        );
      } else {
        request.log.error({ err: error }, 'unhandled error');
        api = new ApiError(
          500,
          'internal',
          'The relay hit an unexpected error; try again, and tell your relay admin if it persists.',
        );
      }
    }
    if (api.statusCode >= 500 && !(error instanceof ApiError)) metrics.inc('retalk_internal_errors_total');
    closeIfBodyUnread(request, reply);
    reply
      .code(api.statusCode)
      .type('application/json')
      .send(api.toBody(String(request.id)));
  });
  app.setNotFoundHandler((request, reply) => {
    const route = `${request.method} ${request.url.split('?')[0]?.slice(0, 200)}`;
    closeIfBodyUnread(request, reply);
    reply
      .code(404)
      .type('application/json')
      .send(
        new ApiError(
          404,
          'not_found',
          `There is no ${route} on this relay; see the API in the relay's README.`,
        ).toBody(String(request.id)),
      );
  });
  app.addHook('onSend', async (_request, _reply, payload) =>
    typeof payload === 'string' ? scrub(payload) : payload,
  );
  app.addHook('onResponse', async (request, reply) => {
    metrics.inc('retalk_http_requests_total', {
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    });
  });
}

/** Where simulator mode writes the demo member's token (0600), for the admin and the extension's tests. */
export function demoTokenFile(dataDir: string): string {
  return path.join(dataDir, 'demo-token.txt');
}

/** Meta key listing the ids of members simulator mode created for itself (the unlimited `demo`). */
const SIMULATOR_MEMBERS_KEY = 'simulator_member_ids';

/**
 * The secret that signs file links: kept in the store, so links stay valid across restarts (and
 * instances). Two instances starting together on an empty store agree on the first one written.
 */
async function signingSecretOf(store: RelayStore): Promise<string> {
  return store.transaction(async (tx) => {
    const existing = await tx.getMeta('signing_secret');
    if (existing) return existing;
    const secret = randomBytes(32).toString('base64url');
    await tx.setMeta('signing_secret', secret);
    return secret;
  });
}

async function simulatorMemberIds(store: RelayQueries): Promise<string[]> {
  const raw = await store.getMeta(SIMULATOR_MEMBERS_KEY);
  if (!raw) return [];
  try {
    const ids = JSON.parse(raw) as unknown;
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

/** Records that simulator mode created this member; it is revoked once a real provider is configured. */
export async function markSimulatorMember(store: RelayStore, memberId: string): Promise<void> {
  await store.transaction(async (tx) => {
    const ids = await simulatorMemberIds(tx);
    await tx.setMeta(SIMULATOR_MEMBERS_KEY, JSON.stringify([...ids, memberId]));
  });
}

/**
 * Findings M6: the demo member has no budget and its token went to the log, so it must not spend
 * a real provider key. Started against a real provider, the relay revokes every member simulator
 * mode created (and deletes the demo token file), saying so in the log.
 */
async function revokeSimulatorMembers(
  store: RelayStore,
  dataDir: string,
  log: FastifyBaseLogger,
  now: number,
): Promise<void> {
  for (const id of await simulatorMemberIds(store)) {
    const member = await store.getMember(id);
    if (!member || member.revokedAt !== null) continue;
    await store.revokeMember(member.name, now);
    log.warn(
      { member: member.name },
      'a real provider is configured: the simulator\'s demo member (unlimited budget) was revoked; add real members with "retalk-relay members add <name> --budget-seconds N"',
    );
  }
  fs.rmSync(demoTokenFile(dataDir), { force: true });
}

/** Creates a member and returns its token (shown once; only the hash is stored). */
export async function createMember(
  store: Pick<RelayQueries, 'createMember'>,
  input: {
    name: string;
    budgetSeconds?: number | null | undefined;
    period?: 'day' | 'month' | null | undefined;
    maxConcurrentJobs?: number | null | undefined;
  },
  now: number,
): Promise<{ member: MemberRecord; token: string }> {
  const token = generateToken();
  const member: MemberRecord = {
    id: `mem_${randomBytes(9).toString('base64url')}`,
    name: input.name,
    tokenHash: hashToken(token),
    createdAt: now,
    revokedAt: null,
    budgetSeconds: input.budgetSeconds ?? null,
    period: input.budgetSeconds != null ? (input.period ?? 'month') : null,
    maxConcurrentJobs: input.maxConcurrentJobs ?? null,
  };
  await store.createMember(member);
  return { member, token };
}
