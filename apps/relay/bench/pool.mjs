// `pnpm bench` in apps/relay, issue 13: jobs finished per minute with a pool of 3 DashScope accounts
// against 1, at accelerated simulated time. DashScope runs one task per account and takes one
// submit per second from it; here every duration is 100× shorter (a 120 s task takes 1.2 s, the
// pace is 100 submits/s; the relay polls every 50 ms, its floor), so the ratio is what a team would see
// with real accounts, in seconds instead of minutes. Everything binds 127.0.0.1; one relay and one
// simulator per run, both closed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSimulator } from '@retalk/simulator';
import { buildRelay } from '../dist/app.js';
import { loadConfig } from '../dist/config.js';
import { createMember } from '../dist/members.js';
import { fmt } from './lib.mjs';

const SPEEDUP = 100;
const TASK_MS = Number(process.env.BENCH_POOL_TASK_MS ?? 120_000) / SPEEDUP;
const JOBS = Number(process.env.BENCH_POOL_JOBS ?? 30);
const FIXTURES = path.resolve(import.meta.dirname, '../../../packages/simulator/fixtures');

async function run(accounts) {
  const keys = Array.from({ length: accounts }, (_, i) => `bench-pool-key-${i + 1}`);
  const sim = await createSimulator({
    jobMs: TASK_MS,
    apiKeys: keys,
    resultMode: 'echo',
    dashscopeProcessingStates: false,
    limits: { dashscopeSubmitsPerSecond: SPEEDUP, dashscopeQueriesPerSecond: 20 * SPEEDUP },
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'retalk-bench-pool-'));
  const file = path.join(dataDir, 'upstreams.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      upstreams: keys.map((key, i) => ({
        name: `account-${i + 1}`,
        provider: 'dashscope',
        key,
        baseUrl: sim.dashscopeUrl,
        submitsPerSecond: SPEEDUP,
        queriesPerSecond: 20 * SPEEDUP,
      })),
    }),
  );
  const config = loadConfig(
    {
      RETALK_UPSTREAMS_FILE: file,
      RETALK_DATA_DIR: dataDir,
      // The shortest poll the relay allows (2 s at 100× would be 20 ms).
      RETALK_POLL_INTERVAL_MS: '50',
      RETALK_RATE_LIMIT_PER_MINUTE: '1000000',
      RETALK_LOG_LEVEL: 'warn',
    },
    process.cwd(),
  );
  const relay = await buildRelay({
    config,
    upstream: { apiKey: 'unused-without-a-file' },
    allowedInputHosts: [new URL(sim.url).host],
  });
  try {
    await relay.app.listen({ host: '127.0.0.1', port: 0 });
    await relay.start();
    const url = relay.context.publicUrl();
    const { token } = await createMember(
      relay.context.store,
      { name: 'team', maxConcurrentJobs: JOBS },
      Date.now(),
    );
    const auth = { authorization: `Bearer ${token}` };
    const upload = async (kind, name, type) => {
      const res = await fetch(`${url}/v1/uploads?kind=${kind}&filename=${name}`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': type },
        body: fs.readFileSync(path.join(FIXTURES, name)),
      });
      if (res.status !== 201) throw new Error(`upload ${name}: ${res.status} ${await res.text()}`);
      return (await res.json()).id;
    };
    const video = await upload('video', 'talking-640x640-25fps-3s.mp4', 'video/mp4');
    const audio = await upload('audio', 'speech-4s.wav', 'audio/wav');
    const started = performance.now();
    const ids = [];
    for (let i = 0; i < JOBS; i++) {
      const res = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ video: { uploadId: video }, audio: { uploadId: audio } }),
      });
      if (res.status !== 201) throw new Error(`job: ${res.status} ${await res.text()}`);
      ids.push((await res.json()).id);
    }
    const deadline = started + 600_000;
    for (;;) {
      const counts = await relay.context.store.countJobsByStatus();
      if ((counts.succeeded ?? 0) === JOBS) break;
      const failed = (counts.failed ?? 0) + (counts.canceled ?? 0);
      if (failed > 0) throw new Error(`${failed} jobs failed: ${JSON.stringify(counts)}`);
      if (performance.now() > deadline) throw new Error(`not done in 10 min: ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    const peaks = Object.values(sim.stats().peakTasksPerAccount);
    return { perMinute: (JOBS / seconds) * 60, seconds, peak: Math.max(...peaks) };
  } finally {
    await relay.close();
    await sim.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(
  `\nRetalk relay bench, pool of upstreams — ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}`,
);
console.log(
  `  ${JOBS} jobs of one member, DashScope simulator at ${SPEEDUP}× time (a ${fmt((TASK_MS * SPEEDUP) / 1000, 0)} s task takes ${fmt(TASK_MS / 1000, 2)} s; one task and ${SPEEDUP} submits/s per account)`,
);
const one = await run(1);
console.log(
  `  1 account : ${fmt(one.perMinute, 1)} jobs/min wall (${fmt(one.perMinute / SPEEDUP, 2)} jobs/min of real time), ${fmt(one.seconds, 1)} s, at most ${one.peak} task per account`,
);
const three = await run(3);
console.log(
  `  3 accounts: ${fmt(three.perMinute, 1)} jobs/min wall (${fmt(three.perMinute / SPEEDUP, 2)} jobs/min of real time), ${fmt(three.seconds, 1)} s, at most ${three.peak} task per account`,
);
const ratio = three.perMinute / one.perMinute;
console.log(`  ratio 3 accounts / 1 account: ${fmt(ratio, 2)}× (aim: close to 3×)`);
if (one.peak > 1 || three.peak > 1) {
  console.log('  FAIL: an account held more than one task at once');
  process.exitCode = 1;
}
