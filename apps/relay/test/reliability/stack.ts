import fs from 'node:fs';
import { createSimulator, type SimulatorOptions } from '@retalk/simulator';
import { type ChildRelay, type ChildRelayOptions, PROVIDER_KEY, startChildRelay } from './child-relay.js';
import { createFaultProxy, type FaultProxy } from './fault-proxy.js';

export type Simulator = Awaited<ReturnType<typeof createSimulator>>;

export interface Stack {
  sim: Simulator;
  proxy: FaultProxy;
  provider: 'evolink' | 'dashscope';
  /** Starts a relay child on this stack (upstream = the proxy in front of the simulator). */
  relay(extra?: Partial<ChildRelayOptions>): Promise<ChildRelay>;
  /** Inputs on the simulator's own fixture host (allowed as input even though it is loopback). */
  inputs(scenario?: string): { video: { url: string }; audio: { url: string } };
  /** Every relay started, for the leak scan and RSS peaks. */
  relays: ChildRelay[];
  close(): Promise<void>;
}

export async function startStack(
  provider: 'evolink' | 'dashscope',
  simOptions: SimulatorOptions = {},
): Promise<Stack> {
  const sim = await createSimulator({ jobMs: 300, apiKeys: [PROVIDER_KEY], ...simOptions });
  const proxy = await createFaultProxy(sim.url);
  const relays: ChildRelay[] = [];
  return {
    sim,
    proxy,
    provider,
    relays,
    async relay(extra = {}) {
      const r = await startChildRelay({
        provider,
        baseUrl: provider === 'dashscope' ? `${proxy.url}/api/v1` : proxy.url,
        ...extra,
        // The proxy rewrites the simulator's links to itself, so it also serves result downloads:
        // it stands for the provider's CDN (public in production, loopback here), which the relay's
        // URL guard must be told to allow.
        allowedInputHosts: [...(extra.allowedInputHosts ?? [new URL(sim.url).host]), new URL(proxy.url).host],
      });
      relays.push(r);
      return r;
    },
    inputs(scenario) {
      // The relay fetches URL inputs itself and gives the provider its own copy (issue 8, H1), so
      // a `?sim=` on the input URL never reaches the simulator: the scenario is queued for the
      // next create instead.
      if (scenario) sim.nextScenario(scenario);
      return {
        video: { url: sim.fixtureUrl('talking-640x640-25fps-3s.mp4') },
        audio: { url: sim.fixtureUrl('speech-4s.wav') },
      };
    },
    async close() {
      for (const r of relays) await r.kill('SIGKILL');
      await proxy.close();
      await sim.close();
      // Soaks leave hundreds of MB of uploads; a mounted tmpfs is left to its test to unmount.
      for (const dir of new Set(relays.map((r) => r.dataDir))) {
        try {
          fs.rmSync(dir, { recursive: true, force: true });
        } catch {
          // a mount point (the disk-full test) cannot be removed before it is unmounted
        }
      }
    },
  };
}

/** Leaks and peak memory over every relay process a scenario started. */
export function relayTotals(relays: ChildRelay[]): {
  secretsLeaked: number;
  peakRssMb: number;
  requestsServed: number;
} {
  return {
    secretsLeaked: relays.reduce((n, r) => n + r.leaks().length, 0),
    peakRssMb: Math.max(0, ...relays.map((r) => r.peakRssMb())),
    requestsServed: relays.reduce((n, r) => n + r.requestsServed(), 0),
  };
}
