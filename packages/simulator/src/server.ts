import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClock } from './clock.js';
import type { CallbackAttempt, Outage, SimContext, SimStats } from './context.js';
import {
  dashscopeFailureMessage,
  handleDashscopeCancel,
  handleDashscopeCreate,
  handleDashscopeList,
  handleDashscopeQuery,
  handleDashscopeResult,
  sendDashscopeError,
  useErrorForm,
} from './dashscope.js';
import {
  deliverEvolinkCallback,
  evolinkTaskErrorMessage,
  handleEvolinkCreate,
  handleEvolinkList,
  handleEvolinkQuery,
  handleEvolinkResult,
  sendEvolinkError,
} from './evolink.js';
import { createEvolinkFileStore, handleEvolinkFiles, handleEvolinkFileUrl } from './evolink-files.js';
import { contentTypeFor, sendFile, sendJson } from './http-io.js';
import { uuid } from './ids.js';
import { prepareInputs } from './inputs.js';
import { resolveOptions, type SimulatorOptions } from './options.js';
import { createOssStore, handleGetPolicy, handleOssUpload } from './oss.js';
import { emptyScenario, parseScenario, requestScenarios, type Scenario } from './scenario.js';
import { createShutdown } from './shutdown.js';
import { createTaskEngine, type TaskRecord } from './task-engine.js';

export interface Simulator {
  /** `http://host:port`: the EvoLink base URL and the EvoLink files-API base. */
  readonly url: string;
  /** `url + '/api/v1'`: the DashScope base URL. */
  readonly dashscopeUrl: string;
  /** URL of a bundled fixture, e.g. `fixtureUrl('talking-640x640-25fps-3s.mp4')`. */
  fixtureUrl(name: string): string;
  stats(): SimStats;
  resetStats(): void;
  /** Queues a scenario for the next create request (either provider). Throws on bad grammar. */
  nextScenario(scenario: string): void;
  /** Jumps the simulator clock forward by `ms` (expiry, rate windows, task progress). */
  advanceTime(ms: number): void;
  /**
   * DashScope: every request made with `apiKey` answers `outage` (a 5xx storm, a 401 for a revoked
   * key, 400 `Arrearage` for an unpaid account) until it is cleared with `undefined`. Tasks already
   * made keep running.
   */
  setOutage(apiKey: string, outage: Outage | undefined): void;
  close(): Promise<void>;
}

const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));
const DEFAULT_RESULT_FIXTURE = 'talking-640x640-25fps-3s.mp4';

function emptyStats(): SimStats {
  return {
    requests: {},
    createRequests: [],
    tasks: {},
    submits: 0,
    throttled: 0,
    callbacks: [],
    inputs: [],
    peakTasksPerAccount: {},
  };
}

/**
 * Starts a fake EvoLink + DashScope VideoRetalk service on one loopback port.
 * @example
 * const sim = await createSimulator({ jobMs: 200 });
 * // EvoLink: POST `${sim.url}/v1/videos/generations`; DashScope: `${sim.dashscopeUrl}/services/...`
 * await sim.close();
 */
export async function createSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const opts = resolveOptions(options);
  const clock = createClock(options.now);
  let stats = emptyStats();
  const scenarioQueue: string[] = [];
  const retryAfterSeen = new Set<string>();
  const rateHits = new Map<string, number[]>();
  const timers = new Set<NodeJS.Timeout>();
  const shutdown = createShutdown();
  let workDirPromise: Promise<string> | undefined;
  // Input downloads and result muxes in flight; close() waits for them (they stop at its abort)
  // before it removes the files they write.
  const preparingTasks = new Set<Promise<unknown>>();
  let baseUrl = '';
  let wakeTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const oss = createOssStore(() => clock.now());
  const evolinkFiles = createEvolinkFileStore(() => clock.now());

  const engine = createTaskEngine({
    clock,
    dashscopeConcurrentTasks: opts.dashscopeConcurrentTasks,
    dashscopeProcessingStates: opts.dashscopeProcessingStates,
    failureMessage: (code) =>
      evolinkTaskErrorMessage(code) ?? dashscopeFailureMessage(code) ?? `Simulated failure ${code}.`,
    onTerminal: (task) => {
      // Only EvoLink requests carry a callback_url.
      if (task.request.callbackUrl) deliverEvolinkCallback(ctx, task);
    },
  });

  const setTimer = (fn: () => void, ms: number) => {
    if (closed) return;
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  // One timer at the next state change, so terminal states (and callbacks) happen on time
  // without anyone polling.
  const reschedule = () => {
    if (closed) return;
    if (wakeTimer) clearTimeout(wakeTimer);
    wakeTimer = undefined;
    const at = engine.nextEventAt();
    if (at === undefined) return;
    const delay = Math.min(2 ** 31 - 1, Math.max(5, at - clock.now() + 1));
    wakeTimer = setTimeout(() => {
      wakeTimer = undefined;
      engine.tick();
      reschedule();
    }, delay);
  };

  const ctx: SimContext = {
    options: opts,
    clock,
    engine,
    oss,
    evolinkFiles,
    evolinkIdempotency: new Map(),
    outages: new Map(),
    get stats() {
      return stats;
    },
    baseUrl: () => baseUrl,
    count(endpoint) {
      stats.requests[endpoint] = (stats.requests[endpoint] ?? 0) + 1;
    },
    countTaskQuery(taskId) {
      const entry = stats.tasks[taskId] ?? { queries: 0 };
      entry.queries++;
      stats.tasks[taskId] = entry;
    },
    takeRate(bucket, limit) {
      if (limit === Number.POSITIVE_INFINITY) return true;
      const now = clock.now();
      const hits = (rateHits.get(bucket) ?? []).filter((t) => t > now - 1000);
      if (hits.length >= limit) {
        rateHits.set(bucket, hits);
        return false;
      }
      hits.push(now);
      rateHits.set(bucket, hits);
      return true;
    },
    scenarioFor(req: IncomingMessage, videoUrl: unknown): Scenario {
      const scenario = emptyScenario();
      // Validate the request's own sources first, so a bad header does not eat a queued scenario.
      const own = requestScenarios(req.headers['x-sim-scenario'], videoUrl);
      const queued = scenarioQueue.shift();
      if (queued) parseScenario(queued, scenario);
      // A queued scenario is used up by this request, so its retry-after needs no memory.
      const queuedRetryAfter = scenario.retryAfterSec !== undefined;
      for (const source of own) parseScenario(source, scenario);
      if (queuedRetryAfter && scenario.retryAfterSec !== undefined) scenario.retryAfterQueued = true;
      return scenario;
    },
    // Alternates per key: the 429 and then the retry that gets through. A later, separate
    // submit with the same scenario sees its own 429 again.
    firstRetryAfter(key) {
      if (retryAfterSeen.delete(key)) return false;
      retryAfterSeen.add(key);
      return true;
    },
    startTask(task: TaskRecord) {
      engine.add(task);
      stats.submits++;
      if (task.provider === 'dashscope') {
        engine.tick();
        let open = 0;
        for (const t of engine.all())
          if (t.provider === 'dashscope' && t.account === task.account && t.endedAt === undefined) open++;
        // An account of one key is named by the key's position, never by the key.
        const keyIndex = opts.apiKeys.indexOf(task.account);
        const label = keyIndex >= 0 ? `key-${keyIndex + 1}` : task.account;
        stats.peakTasksPerAccount[label] = Math.max(stats.peakTasksPerAccount[label] ?? 0, open);
      }
      stats.tasks[task.id] = { queries: 0 };
      const preparing = prepareInputs(task.request, {
        fetchInputs: opts.fetchInputs,
        refusePrivateInputs: opts.refusePrivateInputs,
        inputTimeoutMs: opts.inputTimeoutMs,
        limits: opts.mediaLimits,
        workDir: ctx.workDir,
        resolveLocal: (url) => oss.resolveLocal(url),
        defaultResultPath: join(FIXTURES_DIR, DEFAULT_RESULT_FIXTURE),
        resultMode: opts.resultMode,
        shutdown,
        log: ctx.log,
        onReceived: (input) => stats.inputs.push({ taskId: task.id, ...input }),
      })
        .catch((error: unknown) => ({
          ok: false as const,
          failure: {
            code: 'InvalidFile.Openerror',
            message: `The input file can not be opened: ${error instanceof Error ? error.message : String(error)}`,
          },
        }))
        .then((outcome) => {
          if (closed) return;
          engine.inputsReady(task, outcome);
          reschedule();
        })
        .finally(() => preparingTasks.delete(preparing));
      preparingTasks.add(preparing);
      reschedule();
    },
    resolveLocal: (url) => oss.resolveLocal(url),
    workDir() {
      workDirPromise ??= mkdtemp(join(tmpdir(), 'retalk-sim-'));
      return workDirPromise;
    },
    setTimer,
    shutdown,
    fixturePath: (name) => join(FIXTURES_DIR, basename(name)),
    log: (line) => options.logger?.(line),
  };

  const dashscopeRoute = (path: string): { prefix: string; rest: string } | undefined => {
    for (const prefix of opts.dashscopePrefixes) {
      if (path === prefix || path.startsWith(`${prefix}/`))
        return { prefix, rest: path.slice(prefix.length) };
    }
    return undefined;
  };

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    engine.tick();

    // Audit row 21: EvoLink's gateway names each answer in a header (EvoLink's MCP reads it).
    if (path.startsWith('/v1/') && opts.evolinkRequestIdHeader !== 'none')
      res.setHeader(opts.evolinkRequestIdHeader, uuid());
    if (path === '/v1/videos/generations' && method === 'POST') return handleEvolinkCreate(ctx, req, res);
    if (path === '/v1/tasks' && method === 'GET') return handleEvolinkList(ctx, req, res, url);
    const evolinkTask = /^\/v1\/tasks\/([^/]+)$/.exec(path);
    if (evolinkTask && method === 'GET')
      return handleEvolinkQuery(ctx, req, res, decodeURIComponent(evolinkTask[1] ?? ''));
    if (path.startsWith('/api/v1/files/')) return handleEvolinkFiles(ctx, req, res, url);
    if (path.startsWith('/files/') && (method === 'GET' || method === 'HEAD')) {
      return handleEvolinkFileUrl(ctx, req, res, url);
    }
    const evolinkResult = /^\/cdn\/evolink\/([^/]+)\.mp4$/.exec(path);
    if (evolinkResult && (method === 'GET' || method === 'HEAD')) {
      return handleEvolinkResult(ctx, req, res, evolinkResult[1] ?? '');
    }
    const dashscopeResult = /^\/oss\/dashscope-results\/([^/]+)\.mp4$/.exec(path);
    if (dashscopeResult && (method === 'GET' || method === 'HEAD')) {
      return handleDashscopeResult(ctx, req, res, url, dashscopeResult[1] ?? '');
    }
    if (path.startsWith('/fixtures/') && (method === 'GET' || method === 'HEAD'))
      return serveFixture(req, res, url);
    if (path === '/' && method === 'POST') return handleOssUpload(ctx, req, res);

    const ds = dashscopeRoute(path);
    if (ds) {
      useErrorForm(res, opts.dashscopeErrorForm);
      const rest = ds.rest;
      if (rest.replace(/\/$/, '') === '/services/aigc/image2video/video-synthesis' && method === 'POST') {
        return handleDashscopeCreate(ctx, req, res);
      }
      if (rest.replace(/\/$/, '') === '/tasks' && method === 'GET')
        return handleDashscopeList(ctx, req, res, url);
      const cancel = /^\/tasks\/([^/]+)\/cancel\/?$/.exec(rest);
      if (cancel && method === 'POST')
        return handleDashscopeCancel(ctx, req, res, decodeURIComponent(cancel[1] ?? ''));
      const task = /^\/tasks\/([^/]+)\/?$/.exec(rest);
      if (task && method === 'GET')
        return handleDashscopeQuery(ctx, req, res, decodeURIComponent(task[1] ?? ''));
      if (rest.replace(/\/$/, '') === '/uploads' && method === 'GET')
        return handleGetPolicy(ctx, req, res, url);
      ctx.count('not_found');
      return sendDashscopeError(
        res,
        404,
        'NotFound',
        `No DashScope route ${method} ${path} in this simulator.`,
      );
    }
    if (path === '/' && method === 'GET') {
      return sendJson(res, 200, {
        name: '@retalk/simulator',
        evolink: baseUrl,
        dashscope: opts.dashscopePrefixes.map((p) => baseUrl + p),
        fixtures: `${baseUrl}/fixtures/`,
      });
    }
    ctx.count('not_found');
    if (path.startsWith('/v1/'))
      return sendEvolinkError(ctx, res, 404, { message: `No route ${method} ${path}` });
    sendJson(res, 404, { error: { code: 'not_found', message: `No simulator route ${method} ${path}` } });
  }

  async function serveFixture(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    ctx.count('fixture.download');
    const name = decodeURIComponent(url.pathname.slice('/fixtures/'.length));
    const path = ctx.fixturePath(name);
    if (name !== basename(name) || name.startsWith('.') || !existsSync(path)) {
      return sendJson(res, 404, { error: { code: 'not_found', message: `No fixture named ${name}` } });
    }
    // `sim_delay_ms` holds the response back, to make a slow input URL (InvalidURL.Timeout).
    const delayMs = Number(url.searchParams.get('sim_delay_ms') ?? 0);
    if (delayMs > 0) {
      const link = shutdown.link();
      await new Promise<void>((resolve) => {
        if (link.signal.aborted) return resolve();
        setTimer(resolve, Math.min(delayMs, 600_000));
        link.signal.addEventListener('abort', () => resolve(), { once: true });
        res.on('close', () => resolve());
      });
      link.release();
      if (res.destroyed || closed) return;
    }
    await sendFile(req, res, path, contentTypeFor(name));
  }

  const server = createServer((req, res) => {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://sim.local');
    res.on('finish', () =>
      ctx.log(`${req.method} ${url.pathname} ${res.statusCode} ${Date.now() - started}ms`),
    );
    route(req, res, url)
      .then(() => reschedule())
      .catch((error: unknown) => {
        if (!res.headersSent) {
          sendJson(res, 500, {
            error: {
              code: 'simulator_error',
              message: error instanceof Error ? error.message : String(error),
            },
          });
        } else {
          res.destroy();
        }
      });
  });
  // Longer than any client keeps an idle connection (undici: the server's hint less 2 s), so a client
  // never sends a request on a connection this side is closing at that moment. At 5 s, a submit on
  // a loaded machine could go out on a socket the simulator was just closing and fail as
  // submit_interrupted.
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  baseUrl = `http://${hostForUrl}:${address.port}`;

  return {
    url: baseUrl,
    dashscopeUrl: `${baseUrl}${opts.dashscopePrefixes[0] ?? '/api/v1'}`,
    fixtureUrl: (name) => `${baseUrl}/fixtures/${encodeURIComponent(name)}`,
    stats: () => structuredClone(stats),
    resetStats() {
      stats = emptyStats();
    },
    nextScenario(scenario) {
      parseScenario(scenario);
      scenarioQueue.push(scenario);
    },
    setOutage(apiKey, outage) {
      if (!opts.apiKeys.includes(apiKey)) throw new RangeError('setOutage: the key is not one of apiKeys');
      if (outage) ctx.outages.set(apiKey, { ...outage });
      else ctx.outages.delete(apiKey);
    },
    advanceTime(ms) {
      clock.advance(ms);
      engine.tick();
      reschedule();
    },
    async close() {
      if (closed) return;
      closed = true;
      shutdown.close();
      if (wakeTimer) clearTimeout(wakeTimer);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.allSettled(preparingTasks);
      if (workDirPromise) {
        const dir = await workDirPromise.catch(() => undefined);
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

export type { CallbackAttempt, Outage, SimStats };
