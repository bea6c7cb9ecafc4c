import { randomBytes } from 'node:crypto';
import { type Client, createAccountPacing, createClient, isRetalkError } from '@retalk/core';
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from './metrics.js';
import type { RelayStore } from './store/types.js';
import type { SlotUpstream } from './submit-slots.js';
import type { UpstreamConfig } from './upstreams.js';

/** Failures in a row (5xx, timeouts, network) after which an upstream counts as in a storm. */
export const STORM_FAILURES = 3;

/** Provider answers that say the key cannot be used (bad key, no permission, no balance). */
const KEY_REFUSED = new Set(['auth', 'permission', 'quota']);
/** Provider answers that say it is down or overloaded for now. */
const OUTAGE = new Set(['provider_unavailable', 'network', 'timeout']);

export type UpstreamState = 'healthy' | 'unhealthy';

/**
 * An upstream's health as the store keeps it (meta `upstream_health:<name>`): what the CLI shows,
 * and, with several instances on one database, what each of them adopts from the others.
 */
export interface StoredUpstreamHealth {
  health: UpstreamState;
  reason: string | null;
  /** Since when it is in this state (epoch ms). */
  since: number;
  /** When it is probed next (epoch ms), when unhealthy; absent in records of older relays. */
  probeAt?: number | null;
  lastError: { code: string; message: string; at: number } | null;
  /** The instance that wrote it (several instances on one database). */
  by?: string;
  /** The process that wrote it: an instance restarted under its name is another writer. */
  writer?: string;
}

/** The stored record, or undefined when none was stored or it is unreadable. */
export function parseStoredHealth(text: string | undefined): StoredUpstreamHealth | undefined {
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as StoredUpstreamHealth;
    return r.health === 'healthy' || r.health === 'unhealthy' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** An upstream as configured, without its key: what every admin view starts from. */
export interface UpstreamDescription {
  name: string;
  provider: string;
  account: string;
  baseUrl: string | null;
  priority: number;
  costPerOutputSecond: number;
  concurrency: number;
}

/** What the admin sees of an upstream (never its key). */
export interface UpstreamView extends UpstreamDescription {
  submitsPerSecond: number;
  health: UpstreamState;
  /** Why it is unhealthy, readable by the admin; null when healthy. */
  reason: string | null;
  /** Since when it is in its current state (ISO). */
  since: string;
  /** When it is probed next (ISO), when unhealthy. */
  probeAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  /** Jobs of this relay upstream now (its process), and live jobs placed on it (all processes, from the store). */
  inFlight: number;
  submits: number;
  errors: number;
}

export interface PoolUpstream {
  readonly config: UpstreamConfig;
  /** The upstream's provider client (instrumented); polls and cancels of its jobs use it. */
  readonly client: Client;
  readonly slot: SlotUpstream;
}

export interface UpstreamPool {
  readonly upstreams: readonly PoolUpstream[];
  /** The upstream of jobs stored before the pool (no upstream recorded): the first entry. */
  readonly fallback: PoolUpstream;
  /** The upstream a job was placed on; the fallback for none, or for a name no longer configured. */
  of(name: string | null): PoolUpstream;
  /**
   * Upstreams to place a job on, in order (priority, then cost, then the least used): the healthy
   * ones not paused; when none is healthy, every one not paused, as a single upstream always was
   * (holding every job back helps no one when there is nowhere else to go). With `accepts`, only
   * the upstreams that can take the job are considered (a mixed pool: placement.ts).
   */
  placementOrder(now: number, accepts?: (upstream: PoolUpstream) => boolean): PoolUpstream[];
  /**
   * True when an upstream other than `upstream` is healthy (a job it refused can go there); with
   * `accepts`, one that can also take the job (placement.ts).
   */
  hasHealthyBesides(upstream: PoolUpstream, accepts?: (upstream: PoolUpstream) => boolean): boolean;
  /** When the next unhealthy or paused upstream may be tried again (epoch ms), if any. */
  nextChangeAt(): number | undefined;
  /** Holds submits to this upstream back until `untilMs` (a 429's Retry-After). */
  pause(upstream: PoolUpstream, untilMs: number): void;
  /** A call to the upstream succeeded. */
  succeeded(upstream: PoolUpstream, op: string): void;
  /** A call to the upstream failed; answers true when it made the upstream unhealthy. */
  failed(upstream: PoolUpstream, op: string, error: unknown): boolean;
  /** True when the error says the key is refused (nothing was created; the job may go elsewhere). */
  isKeyRefusal(error: unknown): boolean;
  /** Counts a job sent on the upstream. */
  submitted(upstream: PoolUpstream): void;
  /** Jobs this process has upstream on it now (for metrics), set by the tracker. */
  setInFlight(upstream: PoolUpstream, count: number): void;
  views(now: number): UpstreamView[];
  /** Probes upstreams whose cooldown ended; resolves once they answered. */
  probeDue(now: number): Promise<void>;
  /**
   * Several instances on one database: takes the health another instance stored for the upstream
   * named (null: every upstream), once it is read; records this process wrote are skipped.
   */
  adoptShared(name: string | null): Promise<void>;
  /** Stops the probe timers and waits for probes under way. */
  close(): Promise<void>;
}

export interface UpstreamPoolOptions {
  upstreams: readonly UpstreamConfig[];
  metrics: Metrics;
  log: FastifyBaseLogger;
  store: RelayStore;
  now: () => number;
  /** Retries of a failed provider read inside one call (default: the core client's). */
  readRetries?: number | undefined;
  typicalJobMs?: number | undefined;
  /** Called when an upstream becomes healthy again (the tracker then places waiting jobs). */
  onRecovered?: (() => void) | undefined;
  /** This instance's name, recorded with the health it shares (several instances on one database). */
  instance?: (() => string) | undefined;
}

interface Health {
  state: UpstreamState;
  reason: string | null;
  since: number;
  probeAt: number | null;
  failuresInRow: number;
  lastError: { code: string; message: string; at: number } | null;
  pausedUntil: number;
  lastUsedAt: number;
  inFlight: number;
  submits: number;
  errors: number;
  probing: boolean;
}

function codeOf(error: unknown): string {
  return isRetalkError(error) ? error.code : 'internal';
}

function describe(error: unknown): string {
  if (!isRetalkError(error)) return error instanceof Error ? error.message : String(error);
  const status = error.status === undefined ? '' : ` (HTTP ${error.status})`;
  const provider =
    error.providerCode && error.providerCode !== String(error.status) ? ` ${error.providerCode}` : '';
  return `${error.message}${status}${provider}`.slice(0, 300);
}

/**
 * The relay's upstreams at run time: one provider client per entry (clients of one account share
 * its query and submit pacing), each entry's health, and the order jobs are placed in. Whether an
 * account may take one more task is not decided here but in the store (submit-slots.ts), so it holds
 * across relay processes.
 *
 * Health is stored on every change. With several instances on one database (the store has a
 * cluster) it is shared: an instance that marks an upstream unhealthy or healthy notifies the others,
 * which adopt the record (state, reason, since, next probe, last error), so none of them sends a job
 * to an upstream another found failing; at the end of a cooldown one instance, whichever claims the
 * record first, probes for all.
 */
export function createUpstreamPool(o: UpstreamPoolOptions): UpstreamPool {
  if (o.upstreams.length === 0) throw new Error('createUpstreamPool: no upstreams');
  const pacingByAccount = new Map<string, ReturnType<typeof createAccountPacing>>();
  const health = new Map<PoolUpstream, Health>();
  const byName = new Map<string, PoolUpstream>();
  const first = o.upstreams[0] as UpstreamConfig;
  const namesOfAccount = (account: string) =>
    o.upstreams.filter((u) => u.account === account).map((u) => u.name);

  const upstreams = o.upstreams.map((config) => {
    let pacing = pacingByAccount.get(config.account);
    if (!pacing) {
      // Submits are paced by the store's slot decision (across processes); the client keeps the
      // account's published submit rate as a floor and its query rate.
      pacing = createAccountPacing({
        queriesPerSecond: config.queriesPerSecond,
        submitsPerSecond: 1000 / config.submitIntervalMs,
      });
      pacingByAccount.set(config.account, pacing);
    }
    const raw = createClient({
      provider: config.provider,
      apiKey: config.apiKey,
      baseUrl: config.baseUrl,
      filesBaseUrl: config.filesBaseUrl,
      readRetries: o.readRetries,
      typicalJobMs: o.typicalJobMs,
      pacing,
      // Each failed attempt counts toward a storm, not only a call's last one: a read retries for
      // seconds, so counting calls alone let a short storm pass unmarked.
      onRetry: (error) => pool.failed(upstream, 'retry', error),
    });
    const upstream: PoolUpstream = {
      config,
      client: raw,
      slot: {
        name: config.name,
        provider: config.provider,
        account: config.account,
        accountUpstreams: namesOfAccount(config.account),
        unplacedBesides: config.account === first.account ? o.upstreams.map((u) => u.name) : null,
        concurrency: config.concurrency,
        submitIntervalMs: config.submitIntervalMs,
      },
    };
    // The instrumented client reports each call's outcome to the upstream's health.
    const instrumented = instrument(upstream);
    Object.assign(upstream, { client: instrumented });
    health.set(upstream, {
      state: 'healthy',
      reason: null,
      since: o.now(),
      probeAt: null,
      failuresInRow: 0,
      lastError: null,
      pausedUntil: 0,
      lastUsedAt: 0,
      inFlight: 0,
      submits: 0,
      errors: 0,
      probing: false,
    });
    byName.set(config.name, upstream);
    return upstream;
  });
  const fallback = upstreams[0] as PoolUpstream;
  const probeTimers = new Map<PoolUpstream, NodeJS.Timeout>();
  const probes = new Set<Promise<void>>();
  let closed = false;
  const h = (u: PoolUpstream) => health.get(u) as Health;
  const cluster = o.store.cluster;
  // This process, in the records it shares: its own notices are skipped.
  const writer = randomBytes(6).toString('hex');
  // Writes and reads of one upstream's stored health, in the order they were asked for, so an older
  // record never lands (or is adopted) after a newer one.
  const serials = new Map<PoolUpstream, Promise<unknown>>();
  const metaKey = (u: PoolUpstream) => `upstream_health:${u.config.name}`;

  function serial<T>(u: PoolUpstream, fn: () => Promise<T>): Promise<T> {
    const run = (serials.get(u) ?? Promise.resolve()).then(fn);
    const settled = run.catch(() => undefined);
    serials.set(u, settled);
    void settled.then(() => {
      if (serials.get(u) === settled) serials.delete(u);
    });
    return run;
  }

  function instrument(u: PoolUpstream): Client {
    const client = u.client;
    const timed =
      <A extends unknown[], R>(op: string, fn: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        const start = o.now();
        try {
          const result = await fn(...args);
          o.metrics.inc('retalk_upstream_requests_total', { op, outcome: 'ok' });
          pool.succeeded(u, op);
          return result;
        } catch (error) {
          o.metrics.inc('retalk_upstream_requests_total', { op, outcome: 'error' });
          // A read that finds nothing is an answer, not a failure of the upstream.
          if (codeOf(error) === 'not_found' || codeOf(error) === 'aborted') pool.succeeded(u, op);
          else pool.failed(u, op, error);
          throw error;
        } finally {
          o.metrics.observe('retalk_upstream_request_seconds', { op }, (o.now() - start) / 1000);
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

  /** Probed at the end of its cooldown whether or not jobs are waiting, so the admin sees it recover. */
  function scheduleProbe(u: PoolUpstream, delayMs: number): void {
    clearTimeout(probeTimers.get(u));
    probeTimers.delete(u);
    if (closed) return;
    const timer = setTimeout(
      () => {
        probeTimers.delete(u);
        const probing = probe(u);
        probes.add(probing);
        void probing.finally(() => probes.delete(probing));
      },
      Math.max(0, delayMs),
    );
    timer.unref();
    probeTimers.set(u, timer);
  }

  function markUnhealthy(u: PoolUpstream, reason: string): void {
    const s = h(u);
    const now = o.now();
    const was = s.state;
    s.state = 'unhealthy';
    s.reason = reason;
    s.probeAt = now + u.config.cooldownMs;
    scheduleProbe(u, u.config.cooldownMs);
    if (was !== 'unhealthy') {
      s.since = now;
      o.log.warn(
        { upstream: u.config.name, reason },
        'upstream marked unhealthy; jobs not yet sent go elsewhere',
      );
    }
    // A failed probe is shared too: the others learn when the next one is due.
    if (was !== 'unhealthy' || s.probing) void persist(u);
  }

  function markHealthy(u: PoolUpstream): void {
    const s = h(u);
    s.failuresInRow = 0;
    if (s.state === 'healthy') return;
    s.state = 'healthy';
    s.reason = null;
    s.since = o.now();
    s.probeAt = null;
    clearTimeout(probeTimers.get(u));
    probeTimers.delete(u);
    o.log.info({ upstream: u.config.name }, 'upstream healthy again');
    void persist(u);
    o.onRecovered?.();
  }

  function recordOf(u: PoolUpstream): StoredUpstreamHealth {
    const s = h(u);
    return {
      health: s.state,
      reason: s.reason,
      since: s.since,
      probeAt: s.probeAt,
      lastError: s.lastError,
      ...(cluster && o.instance ? { by: o.instance() } : {}),
      writer,
    };
  }

  /**
   * The health as the store keeps it, for `retalk-relay upstreams` (another process) to read and,
   * with several instances, for the others to adopt (they are notified).
   */
  function persist(u: PoolUpstream): Promise<void> {
    const text = JSON.stringify(recordOf(u));
    return serial(u, async () => {
      if (cluster) await cluster.shareUpstreamHealth(u.config.name, text);
      else await o.store.setMeta(metaKey(u), text);
    }).catch((error) =>
      o.log.warn({ upstream: u.config.name, err: String(error) }, 'could not store upstream health'),
    );
  }

  /** Takes the health another instance stored (never one this process wrote). */
  function adopt(u: PoolUpstream, r: StoredUpstreamHealth): void {
    if (r.writer === writer || closed) return;
    const s = h(u);
    const was = s.state;
    if (r.lastError) s.lastError = r.lastError;
    s.since = r.since;
    if (r.health === 'unhealthy') {
      s.state = 'unhealthy';
      s.reason = r.reason;
      s.probeAt = r.probeAt ?? o.now() + u.config.cooldownMs;
      scheduleProbe(u, s.probeAt - o.now());
      if (was !== 'unhealthy') {
        o.log.warn(
          { upstream: u.config.name, reason: r.reason, by: r.by },
          'another instance marked the upstream unhealthy; jobs not yet sent go elsewhere',
        );
      }
      return;
    }
    s.failuresInRow = 0;
    if (was === 'healthy') return;
    s.state = 'healthy';
    s.reason = null;
    s.probeAt = null;
    clearTimeout(probeTimers.get(u));
    probeTimers.delete(u);
    o.log.info({ upstream: u.config.name, by: r.by }, 'upstream healthy again (found by another instance)');
    o.onRecovered?.();
  }

  async function readAndAdopt(u: PoolUpstream): Promise<void> {
    const r = parseStoredHealth(await o.store.getMeta(metaKey(u)));
    if (r) adopt(u, r);
  }

  /**
   * Several instances: claims the probe due on the shared record (moving its next probe a cooldown
   * on), so one instance probes and the others wait for its answer; answers false when the record
   * says another instance recovered the upstream, probes it or will later.
   */
  async function claimProbe(u: PoolUpstream, shared: NonNullable<typeof cluster>): Promise<boolean> {
    const text = await o.store.getMeta(metaKey(u));
    const r = parseStoredHealth(text);
    if (text === undefined || r === undefined) return true;
    const now = o.now();
    if (r.health === 'healthy' || (r.probeAt ?? 0) > now) {
      if (r.writer !== writer) adopt(u, r);
      else if (r.probeAt) scheduleProbe(u, r.probeAt - now);
      return false;
    }
    const claim: StoredUpstreamHealth = {
      ...r,
      probeAt: now + u.config.cooldownMs,
      ...(o.instance ? { by: o.instance() } : {}),
      writer,
    };
    if (await shared.shareUpstreamHealth(u.config.name, JSON.stringify(claim), text)) {
      // Should this probe never answer (the process dies), the others probe after the cooldown.
      h(u).probeAt = claim.probeAt as number;
      return true;
    }
    // Another instance changed the record first: what it says now holds.
    await readAndAdopt(u);
    return false;
  }

  async function probe(u: PoolUpstream): Promise<void> {
    const s = h(u);
    if (s.probing || closed || s.state !== 'unhealthy') return;
    s.probing = true;
    try {
      if (cluster) {
        let mine: boolean;
        try {
          mine = await serial(u, () => claimProbe(u, cluster));
        } catch (error) {
          o.log.warn({ upstream: u.config.name, err: String(error) }, 'could not claim the probe; retrying');
          scheduleProbe(u, u.config.cooldownMs);
          return;
        }
        if (!mine) return;
      }
      if (closed || s.state !== 'unhealthy') return;
      // A task id no provider knows: an answer (found or not) shows the upstream answers and takes
      // the key; an outage or a refused key shows it still cannot take jobs.
      await u.client.get('retalk-health-probe');
    } catch {
      // Recorded by the instrumented client.
    } finally {
      s.probing = false;
    }
  }

  const pool: UpstreamPool = {
    upstreams,
    fallback,
    of: (name) => (name === null ? fallback : (byName.get(name) ?? fallback)),
    placementOrder(now, accepts) {
      const open = upstreams.filter((u) => h(u).pausedUntil <= now && (accepts?.(u) ?? true));
      const healthy = open.filter((u) => h(u).state === 'healthy');
      return (healthy.length > 0 ? healthy : open).sort(
        (a, b) =>
          a.config.priority - b.config.priority ||
          a.config.costPerOutputSecond - b.config.costPerOutputSecond ||
          h(a).lastUsedAt - h(b).lastUsedAt,
      );
    },
    hasHealthyBesides: (upstream, accepts) =>
      upstreams.some((u) => u !== upstream && h(u).state === 'healthy' && (accepts?.(u) ?? true)),
    nextChangeAt() {
      let next: number | undefined;
      const now = o.now();
      for (const u of upstreams) {
        const s = h(u);
        const at = s.state === 'unhealthy' ? s.probeAt : s.pausedUntil > now ? s.pausedUntil : null;
        if (at !== null && (next === undefined || at < next)) next = at;
      }
      return next;
    },
    pause(u, untilMs) {
      const s = h(u);
      s.pausedUntil = Math.max(s.pausedUntil, untilMs);
    },
    succeeded(u) {
      markHealthy(u);
    },
    failed(u, op, error) {
      const s = h(u);
      const code = codeOf(error);
      s.errors++;
      s.lastError = { code, message: describe(error), at: o.now() };
      o.metrics.inc('retalk_upstream_errors_total', { upstream: u.config.name, op, code });
      if (KEY_REFUSED.has(code)) {
        markUnhealthy(u, `the provider refused the key (${code}): ${describe(error)}`);
        return true;
      }
      if (OUTAGE.has(code)) {
        s.failuresInRow++;
        if (s.failuresInRow >= STORM_FAILURES || s.state === 'unhealthy') {
          markUnhealthy(u, `${s.failuresInRow} failed calls in a row, the last ${code}: ${describe(error)}`);
          return true;
        }
        return false;
      }
      // Any other answer (a refused request, a failed task) shows the upstream answers.
      if (code !== 'internal') markHealthy(u);
      return false;
    },
    isKeyRefusal: (error) => KEY_REFUSED.has(codeOf(error)),
    submitted(u) {
      const s = h(u);
      s.submits++;
      s.lastUsedAt = o.now();
      o.metrics.inc('retalk_upstream_submits_total', { upstream: u.config.name });
    },
    setInFlight(u, count) {
      h(u).inFlight = count;
    },
    views(now) {
      return upstreams.map((u) => {
        const s = h(u);
        const iso = (ms: number) => new Date(ms).toISOString();
        return {
          name: u.config.name,
          provider: u.config.provider,
          account: u.config.account,
          baseUrl: u.config.baseUrl ?? null,
          priority: u.config.priority,
          costPerOutputSecond: u.config.costPerOutputSecond,
          concurrency: u.config.concurrency,
          submitsPerSecond: Math.round((1000 / u.config.submitIntervalMs) * 1.1 * 1000) / 1000,
          health: s.state,
          reason: s.reason,
          since: iso(s.since),
          probeAt: s.probeAt === null ? null : iso(Math.max(s.probeAt, now)),
          lastError: s.lastError ? { ...s.lastError, at: iso(s.lastError.at) } : null,
          inFlight: s.inFlight,
          submits: s.submits,
          errors: s.errors,
        };
      });
    },
    async close() {
      closed = true;
      for (const timer of probeTimers.values()) clearTimeout(timer);
      probeTimers.clear();
      await Promise.allSettled([...probes]);
      await Promise.allSettled([...serials.values()]);
    },
    async adoptShared(name) {
      const chosen = name === null ? upstreams : upstreams.filter((u) => u.config.name === name);
      await Promise.all(
        chosen.map((u) =>
          serial(u, () => readAndAdopt(u)).catch((error) =>
            o.log.warn(
              { upstream: u.config.name, err: String(error) },
              'could not read the health another instance shared',
            ),
          ),
        ),
      );
    },
    async probeDue(now) {
      await Promise.all(
        upstreams
          .filter((u) => h(u).state === 'unhealthy' && (h(u).probeAt ?? 0) <= now)
          .map((u) => probe(u)),
      );
    },
  };
  return pool;
}
