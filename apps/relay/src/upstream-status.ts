import type { RelayConfig } from './config.js';
import type { RelayStore } from './store/types.js';
import { parseStoredHealth, type UpstreamDescription, type UpstreamView } from './upstream-pool.js';
import { DEFAULT_UPSTREAM_NAME, providerDefaults } from './upstreams.js';

/** One upstream as `GET /admin/upstreams` and `retalk-relay upstreams` show it (never its key). */
export interface UpstreamStatus extends UpstreamDescription {
  health: 'healthy' | 'unhealthy';
  /** Why it is unhealthy; null when healthy. */
  reason: string | null;
  /** Since when it is in its state (ISO); null when no change was ever recorded. */
  since: string | null;
  /** When it is probed next (ISO), when unhealthy; null when healthy or not recorded. */
  probeAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  /** Live jobs placed on it (all relay processes on the store). */
  liveJobs: number;
  /** Of those, the ones whose submit began and whose provider task has not ended. */
  inFlight: number;
}

/** The upstreams the configuration names: the file's, or the one of RETALK_PROVIDER / RETALK_API_KEY. */
export function describeUpstreams(config: RelayConfig): UpstreamDescription[] {
  if (config.upstreams) {
    return config.upstreams.map((u) => ({
      name: u.name,
      provider: u.provider,
      account: u.account,
      baseUrl: u.baseUrl ?? null,
      priority: u.priority,
      costPerOutputSecond: u.costPerOutputSecond,
      concurrency: u.concurrency,
    }));
  }
  return [
    {
      name: DEFAULT_UPSTREAM_NAME,
      provider: config.simulator ? `${config.provider} (simulator)` : config.provider,
      account: DEFAULT_UPSTREAM_NAME,
      baseUrl: config.simulator ? null : (config.baseUrl ?? null),
      priority: 1,
      costPerOutputSecond: 0,
      concurrency: providerDefaults(config.provider).concurrency,
    },
  ];
}

/**
 * Health, load and last error of each upstream. `live` is the running relay's own view (the
 * admin route); without it (the CLI, another process) health is what the relays last stored.
 */
export async function upstreamStatuses(
  store: RelayStore,
  upstreams: readonly UpstreamDescription[],
  live?: readonly UpstreamView[],
): Promise<UpstreamStatus[]> {
  const loads = await store.upstreamLoads();
  const first = upstreams[0]?.name;
  const known = new Set(upstreams.map((u) => u.name));
  const loadOf = (name: string) => {
    let liveJobs = 0;
    let inFlight = 0;
    for (const l of loads) {
      // Jobs placed on no configured upstream (not yet placed, stored before the pool, or on one
      // since removed) count for the first upstream once their submit began.
      const unplaced = l.upstreamName === null || !known.has(l.upstreamName);
      if (l.upstreamName === name || (unplaced && name === first)) {
        liveJobs += unplaced ? l.inFlight : l.live;
        inFlight += l.inFlight;
      }
    }
    return { liveJobs, inFlight };
  };
  return Promise.all(
    upstreams.map(async (u) => {
      const view = live?.find((v) => v.name === u.name);
      let health: Pick<UpstreamStatus, 'health' | 'reason' | 'since' | 'probeAt' | 'lastError'>;
      if (view) {
        health = {
          health: view.health,
          reason: view.reason,
          since: view.since,
          probeAt: view.probeAt,
          lastError: view.lastError,
        };
      } else {
        const parsed = parseStoredHealth(await store.getMeta(`upstream_health:${u.name}`));
        const iso = (ms: number) => new Date(ms).toISOString();
        health = parsed
          ? {
              health: parsed.health,
              reason: parsed.reason,
              since: iso(parsed.since),
              probeAt: parsed.health === 'unhealthy' && parsed.probeAt ? iso(parsed.probeAt) : null,
              lastError: parsed.lastError ? { ...parsed.lastError, at: iso(parsed.lastError.at) } : null,
            }
          : { health: 'healthy', reason: null, since: null, probeAt: null, lastError: null };
      }
      return { ...u, ...health, ...loadOf(u.name) };
    }),
  );
}
