import type { ChildRelay } from './child-relay.js';

export interface Probe {
  stop(): Promise<{ samples: number; maxMs: number; p95Ms: number; failures: number }>;
}

/** Reads the relay every `intervalMs` while a fault runs, to show it keeps answering quickly. */
export function probeResponsiveness(
  relay: ChildRelay,
  paths: { path: string; token?: string }[],
  intervalMs = 100,
): Probe {
  const latencies: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const p of paths) {
        try {
          const res = await relay.api('GET', p.path, { token: p.token ?? null, timeoutMs: 5_000 });
          latencies.push(res.ms);
          if (res.status >= 500) failures++;
        } catch {
          failures++;
        }
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        samples: sorted.length,
        maxMs: Math.round(sorted.at(-1) ?? 0),
        p95Ms: Math.round(sorted[Math.floor(sorted.length * 0.95)] ?? 0),
        failures,
      };
    },
  };
}
