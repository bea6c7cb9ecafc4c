// `pnpm bench` for @retalk/core: the size of the browser entries (root and `/relay`) and the upstream
// cost of polling.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { createClient, DASHSCOPE_POLL_SCHEDULE, EVOLINK_POLL_SCHEDULE, pollDelayMs } from '../dist/index.js';

const TARGET_BYTES = 15 * 1024;
const JOB_MS = 60_000;

const entry = (path) => new URL(`../dist/${path}`, import.meta.url).pathname;

async function bundleSize({ entryPoint, contents, external = [] }) {
  const result = await build({
    ...(contents
      ? { stdin: { contents, resolveDir: new URL('..', import.meta.url).pathname } }
      : { entryPoints: [entryPoint] }),
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    external,
    metafile: true,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  // Modules that kept at least one byte after tree shaking.
  const [output] = Object.values(result.metafile.outputs);
  const inputs = Object.entries(output.inputs)
    .filter(([, info]) => info.bytesInOutput > 0)
    .map(([path]) => path);
  const zod = inputs.some((p) => p.includes('/zod/v4/classic/'))
    ? 'full zod'
    : inputs.some((p) => p.includes('/zod/v4/mini/'))
      ? 'zod/mini'
      : 'no zod';
  return { min: code.byteLength, gzip: gzipSync(code, { level: 9 }).byteLength, zod };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const row = (label, { min, gzip, zod }, note = '') =>
  console.log(
    `  ${label.padEnd(44)} ${kb(min).padStart(9)} min  ${kb(gzip).padStart(8)} gzip  (${zod})${note}`,
  );
const ofTarget = ({ gzip }) => `  = ${(gzip / TARGET_BYTES).toFixed(2)} × the 15 KB target`;

console.log('@retalk/core browser bundles (esbuild, minified, gzip -9):');
const root = await bundleSize({ entryPoint: entry('index.js'), external: ['zod'] });
row('@retalk/core (root), zod external', root, ofTarget(root));
row('@retalk/core (root), zod bundled', await bundleSize({ entryPoint: entry('index.js') }));
const relay = await bundleSize({ entryPoint: entry('relay/index.js'), external: ['zod', 'zod/mini'] });
row('@retalk/core/relay, zod external', relay);
row('@retalk/core/relay, zod/mini bundled', await bundleSize({ entryPoint: entry('relay/index.js') }));
// What a page that only talks to a relay pays: the popup's case.
row(
  'createRelayClient alone, zod/mini bundled',
  await bundleSize({ contents: `export { createRelayClient } from './dist/relay/index.js';` }),
);
row(
  'checkMedia + estimateOutputSeconds, bundled',
  await bundleSize({ contents: `export { checkMedia, estimateOutputSeconds } from './dist/index.js';` }),
);

// Upstream queries of one 60 s job with default polling, measured against the simulator on a
// virtual clock: every client sleep jumps the simulator's clock by the same amount, so a 60 s job
// takes well under a second of real time while both sides see 60 s pass.
let simulatorModule;
try {
  simulatorModule = await import('@retalk/simulator');
} catch {
  simulatorModule = undefined;
}

/** Queries a client makes for a job of `jobMs` when poll number i waits `delayOf(i)` ms (no jitter). */
function queriesFor(jobMs, delayOf) {
  let t = 0;
  let n = 0;
  while (t < jobMs) {
    t += delayOf(n);
    n++;
  }
  return n;
}

const SCHEDULES = { dashscope: DASHSCOPE_POLL_SCHEDULE, evolink: EVOLINK_POLL_SCHEDULE };

function scheduleQueries(provider, jobMs) {
  // `run` reuses the submit answer, then polls on the schedule until the job is over.
  return queriesFor(jobMs, (attempt) => pollDelayMs(attempt, SCHEDULES[provider]));
}

// The official guidance each default is chosen against (audit §4.1, docs/providers.md "Polling").
// The first baseline of a provider is the one its cap follows.
const BASELINES = {
  dashscope: [
    ['the Qwen platform page for videoretalk: every 15 s', () => 15_000],
    [
      'the DashScope Python SDK wait(): 1 s, doubling every 3 polls, up to 5 s',
      (i) => Math.min(5_000, 1_000 * 2 ** Math.floor(i / 3)),
    ],
  ],
  evolink: [["EvoLink's own MCP client for video: every 8 s", () => 8_000]],
};

if (!simulatorModule) {
  console.log(
    `\nQueries for a ${JOB_MS / 1000} s job: simulator not built; computed from each provider's poll schedule (no jitter):`,
  );
  for (const provider of Object.keys(SCHEDULES)) {
    console.log(`  ${provider.padEnd(10)} ${scheduleQueries(provider, JOB_MS)} queries`);
  }
} else {
  const { createSimulator, SIMULATOR_API_KEY } = simulatorModule;
  console.log(
    `\nUpstream queries for one ${JOB_MS / 1000} s job with default polling (simulator, virtual clock):`,
  );
  for (const provider of ['dashscope', 'evolink']) {
    // Only queries are counted here: the result's content does not matter ('echo' costs nothing).
    const sim = await createSimulator({ jobMs: JOB_MS, resultMode: 'echo' });
    let offset = 0;
    const clock = {
      now: () => Date.now() + offset,
      async sleep(ms, signal) {
        if (signal?.aborted) throw signal.reason;
        offset += ms;
        sim.advanceTime(ms);
        // A few real milliseconds per step let the simulator finish its own I/O (input fetches).
        await new Promise((r) => setTimeout(r, 10));
      },
    };
    try {
      const client = createClient({
        provider,
        apiKey: SIMULATOR_API_KEY,
        baseUrl: provider === 'dashscope' ? sim.dashscopeUrl : sim.url,
        clock,
      });
      const started = clock.now();
      const task = await client.run({
        video: sim.fixtureUrl('talking-640x640-25fps-3s.mp4'),
        audio: sim.fixtureUrl('speech-4s.wav'),
      });
      const queries = sim.stats().tasks[task.id]?.queries ?? Number.NaN;
      console.log(
        `  ${provider.padEnd(10)} ${String(queries).padStart(3)} queries, terminal state seen after ${((clock.now() - started) / 1000).toFixed(1)} s (${task.status})`,
      );
      for (const [name, delayOf] of BASELINES[provider]) {
        const baseline = queriesFor(JOB_MS, delayOf);
        console.log(
          `  ${''.padEnd(10)} = ${(queries / baseline).toFixed(2)} × ${name} (${baseline} queries)`,
        );
      }
    } finally {
      await sim.close();
    }
  }
  console.log(
    `  (the schedules alone, no jitter and no estimated_time floor: dashscope ${scheduleQueries('dashscope', JOB_MS)}, evolink ${scheduleQueries('evolink', JOB_MS)} queries)`,
  );
}
