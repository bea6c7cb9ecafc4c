import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { PROVIDER_CAPABILITIES, type ProviderLimits } from '@retalk/core';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ApiError } from './api-error.js';
import { createArchiver } from './archive.js';
import { relayClusterEvents } from './cluster-events.js';
import type { RelayConfig } from './config.js';
import { createConformPool } from './conform-pool.js';
import type { RelayContext } from './context.js';
import { closeIfBodyUnread, installErrorHandling } from './error-handling.js';
import { createEventBus } from './event-bus.js';
import { createJobWriter } from './jobs.js';
import { revokeSimulatorMembers } from './members.js';
import { createMetrics } from './metrics.js';
import { relayLinksReachable, sentFilesOf, unmetNeedOn } from './placement.js';
import { createPreparer, needsPreparation } from './preparer.js';
import { ensurePrivateDir } from './private-files.js';
import { createRequestBuilder } from './provider-request.js';
import { createRateLimiter, createSharedRateLimiter, type RateLimiter } from './rate-limit.js';
import { registerAdminRoutes, requireAdmin } from './routes/admin.js';
import { registerCallbackRoutes } from './routes/callbacks.js';
import {
  registerAdminConnectRoutes,
  registerConnectRoutes,
  registerMemberConnectRoutes,
} from './routes/connect.js';
import { registerEventRoutes } from './routes/events.js';
import { registerFileRoutes } from './routes/files.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerMeRoutes } from './routes/me.js';
import { registerUploadRoutes, uploadMaxBytes } from './routes/uploads.js';
import { createSignIn } from './sign-in.js';
import { createUrlSigner } from './signing.js';
import { createLocalStorage } from './storage/local.js';
import { openStore } from './store/open.js';
import type { RelayStore } from './store/types.js';
import { createTracker, type Tracker } from './tracker.js';
import { createUpstreamPool } from './upstream-pool.js';
import { DEFAULT_UPSTREAM_NAME, type UpstreamConfig } from './upstreams.js';
import { createGuardedFetch } from './url-guard.js';

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
  /** How long the single upstream (no upstreams file) rests after failing before it is probed, in ms. Default 30 000. */
  upstreamCooldownMs?: number | undefined;
  /** Period of the retention sweep, in milliseconds. Default 1 h. */
  sweepIntervalMs?: number | undefined;
  /** Entry module of the conform pool's child processes (tests pass a stand-in). Default: the real worker. */
  conformWorkerPath?: string | undefined;
  /** Limits of one probe's child process. Default 30 s and 512 MiB. */
  probeLimits?: { timeoutMs: number; memoryBytes: number } | undefined;
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
  const scrub = createScrubber([options.upstream.apiKey, ...(config.upstreams ?? []).map((u) => u.apiKey)]);
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
  // On PostgreSQL several instances may share the database (and the data dir's volume): each has a
  // name, leases the jobs it creates, hears every instance's events as notices, and counts rate
  // limits in the database.
  const cluster = store.cluster;
  // Named once it listens (host and port: a restart on the same address is the same instance and
  // holds its leases and leftovers at once), else at random.
  let instanceId = config.instanceId;
  const instance = (): string => {
    instanceId ??= defaultInstanceId(app.server.address());
    return instanceId;
  };
  const leaseMs = config.leaseMs ?? 10_000;
  const storage = createLocalStorage(path.join(config.dataDir, 'files'), {
    instance: cluster ? instance : undefined,
  });
  const bus = createEventBus();
  const metrics = createMetrics(cluster ? { instance } : {});
  const writer = createJobWriter(store, bus, now, {
    publish: cluster === undefined,
    onInsert: cluster
      ? async (tx, job) => {
          await tx.leaseJob?.(job.id, instance(), now() + leaseMs);
        }
      : undefined,
  });

  let secret: string;
  try {
    secret = config.signingSecret ?? (await signingSecretOf(store));
    if (!config.simulator) await revokeSimulatorMembers(store, config.dataDir, app.log, now());
  } catch (error) {
    await store.close();
    throw error;
  }
  const signer = createUrlSigner(secret, now);

  const limits = PROVIDER_CAPABILITIES[config.provider].limits;
  // No upstreams file: the one upstream of RETALK_PROVIDER / RETALK_API_KEY, as before the pool.
  const single: UpstreamConfig = {
    name: DEFAULT_UPSTREAM_NAME,
    provider: config.provider,
    apiKey: options.upstream.apiKey,
    baseUrl: options.upstream.baseUrl,
    filesBaseUrl: options.upstream.filesBaseUrl,
    account: DEFAULT_UPSTREAM_NAME,
    // A provider that runs one task at a time (DashScope) gets one in flight; the rest wait here.
    concurrency: limits.concurrentTasks ?? DEFAULT_MAX_UPSTREAM_IN_FLIGHT,
    submitIntervalMs: options.submitIntervalMs ?? submitIntervalFor(limits),
    queriesPerSecond: limits.queriesPerSecond ?? Number.POSITIVE_INFINITY,
    priority: 1,
    costPerOutputSecond: 0,
    cooldownMs: options.upstreamCooldownMs ?? 30_000,
  };
  // The tracker places waiting jobs again once an upstream recovers; assigned right below.
  let onRecovered = () => {};
  const upstreams = createUpstreamPool({
    upstreams: config.upstreams ?? [single],
    metrics,
    log: app.log,
    store,
    now,
    readRetries: options.upstream.readRetries,
    typicalJobMs: config.simulator ? config.simulatorJobMs : undefined,
    onRecovered: () => onRecovered(),
    instance: cluster ? instance : undefined,
  });
  const client = upstreams.fallback.client;

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

  const buildRequest = createRequestBuilder({ config, store, storage, upstreams, signer, publicUrl });

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
    pool: upstreams,
    log: app.log,
    now,
    pollIntervalMs: config.pollIntervalMs,
    buildRequest,
    onSucceeded: (job) => archiver.enqueue(job.id),
    isPrepared: (job) => !needsPreparation(job),
    cancelPreparing: (jobId) => preparer.cancel(jobId),
    onUnprepared: (job) => preparer.enqueue(job.id),
    // A mixed pool: a job goes only to upstreams that can be sent its files (placement.ts).
    needsOf: async (job) => {
      if (relayLinksReachable(config)) return () => undefined;
      const files = await sentFilesOf(job, store);
      return (upstream) => unmetNeedOn(upstream.config.provider, files, config);
    },
    cluster: cluster
      ? {
          store: cluster,
          get owner() {
            return instance();
          },
          leaseMs,
        }
      : undefined,
  });
  onRecovered = () => tracker.retryWaiting();

  // Shared through the database when instances share one (a member's limit is per relay, not per
  // instance); in memory for the one SQLite process.
  const limiter = (name: string, limit: number): RateLimiter =>
    cluster
      ? createSharedRateLimiter(cluster, name, limit, MEMBER_WINDOW_MS, now)
      : createRateLimiter(limit, MEMBER_WINDOW_MS, now);
  const memberLimiter = limiter('member', config.rateLimitPerMinute);
  const authFailureLimiter = limiter('auth', 30);

  const requireMember = createSignIn({ store, memberLimiter, authFailureLimiter, config });

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
    upstreams,
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
  };

  installErrorHandling(app, scrub, metrics);
  // Open routes: health, signed files, provider callbacks (their own per-job token), connect links.
  registerHealthRoutes(app, context);
  registerFileRoutes(app, context);
  registerCallbackRoutes(app, context);
  registerConnectRoutes(app, context);
  // Member routes: one scope signs the member in before anything else runs (an upload's body is
  // not read for a stranger), and its handlers read `request.member`.
  app.decorateRequest('member', undefined);
  app.register(async (members) => {
    members.addHook('onRequest', async (request, reply) => {
      request.member = await requireMember(request, reply);
    });
    registerMeRoutes(members, context);
    registerUploadRoutes(members, context);
    registerJobRoutes(members, context);
    registerEventRoutes(members, context);
    registerMemberConnectRoutes(members, context);
  });
  // Admin routes: the admin token, checked once for the whole scope.
  app.register(async (admin) => {
    admin.addHook('onRequest', async (request) => requireAdmin(context, request));
    registerAdminRoutes(admin, context);
    registerAdminConnectRoutes(admin, context);
  });

  let sweepTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  let stopEvents: (() => Promise<void>) | undefined;

  return {
    app,
    context,
    async start() {
      if (cluster) {
        app.log.info(
          { instance: instance() },
          'several instances may share this database; this one is named',
        );
        await storage.sweepLeftovers();
        stopEvents = await relayClusterEvents({
          cluster,
          store,
          bus,
          writer,
          log: app.log,
          onUpstreamHealth: (name) => void upstreams.adoptShared(name),
        });
        // What the other instances found before this one listened.
        await upstreams.adoptShared(null);
      }
      await tracker.start();
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
        await upstreams.close();
        await archiver.stop();
        for (const end of context.openStreams) end();
        await stopEvents?.();
        await app.close();
        // After the server: an upload finishing during the drain still gets its probe.
        await pool.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/**
 * A name no other running instance has: the host (the container in compose) and the port it listens
 * on; host, process and a random part when it does not listen (tests driving the app directly).
 */
function defaultInstanceId(address: AddressInfo | string | null): string {
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9.-]/g, '')
      .slice(0, 40) || 'relay';
  if (address !== null && typeof address === 'object' && address.port > 0) return `${host}-${address.port}`;
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

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
