// `pnpm bench` in apps/relay: the three measurements of issue 3, against nginx on this machine.
// `node bench/run.mjs upload` runs only (3), the upload, with more rounds (the machine is shared, so
// one pair of runs says little; each round prints on its own and the spread is reported).
// Everything binds 127.0.0.1; every phase is bounded in time and size; every child is stopped.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createSimulator } from '@retalk/simulator';
import { request } from 'undici';
import { buildRelay, createMember } from '../dist/app.js';
import { runCli } from '../dist/commands.js';
import { loadConfig } from '../dist/config.js';
import {
  cpuSeconds,
  fmt,
  freePort,
  mib,
  rssBytes,
  runLoadGenerator,
  start,
  stopChildren,
  verdict,
  waitForHttp,
} from './lib.mjs';

const HERE = import.meta.dirname;
const RELAY_DIR = path.resolve(HERE, '..');
const SIM_CLI = path.resolve(RELAY_DIR, '../../packages/simulator/dist/cli.js');
const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
const READ_SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 5);
const UPLOAD_BYTES = Number(process.env.BENCH_UPLOAD_BYTES ?? 1024 ** 3);
const ONLY_UPLOAD = process.argv[2] === 'upload';
if (process.argv[2] && !ONLY_UPLOAD)
  throw new Error(`unknown section ${process.argv[2]}; use: run.mjs [upload]`);
const UPLOAD_ROUNDS = Number(process.env.BENCH_UPLOAD_ROUNDS ?? (ONLY_UPLOAD ? 5 : 3));

function nginxConfig(dir, { port, uploadPort, stubPort, simPort }) {
  const t = (name) => path.join(dir, name);
  return `
worker_processes 1;
user root;
daemon off;
pid ${t('nginx.pid')};
error_log ${t('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${t('client_body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  upstream sim { server 127.0.0.1:${simPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer sim-key";
    }
  }
  server {
    listen 127.0.0.1:${uploadPort};
    client_max_body_size 4g;
    location /upload {
      # The whole body goes to a new file in client_body_temp_path (no fsync), deleted after the answer.
      client_body_in_file_only clean;
      client_body_buffer_size 128k;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Body-File $request_body_file;
      proxy_pass http://127.0.0.1:${stubPort};
    }
  }
  server {
    listen 127.0.0.1:${stubPort};
    location / { return 201 "stored\\n"; }
  }
}
`;
}

function zeroBody(total) {
  const chunk = Buffer.alloc(1024 * 1024);
  let sent = 0;
  return Readable.from(
    (function* () {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        yield n === chunk.length ? chunk : chunk.subarray(0, n);
      }
    })(),
  );
}

async function timedUpload(url, headers, serverPids) {
  const started = performance.now();
  const clientCpu = process.cpuUsage();
  const serverCpu = serverPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const res = await request(url, {
    method: 'PUT',
    headers: { ...headers, 'content-length': String(UPLOAD_BYTES) },
    body: zeroBody(UPLOAD_BYTES),
    bodyTimeout: 0,
    headersTimeout: 0,
  });
  const text = await res.body.text();
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientCpu);
  const gib = UPLOAD_BYTES / 1024 ** 3;
  return {
    status: res.statusCode,
    seconds,
    mibPerSecond: UPLOAD_BYTES / 1024 ** 2 / seconds,
    text,
    serverCpuPerGiB: (serverPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - serverCpu) / gib,
    clientCpuPerGiB: (client.user + client.system) / 1e6 / gib,
  };
}

async function readsAndUpload(results) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'retalk-bench-'));
  const [simPort, relayPort, nginxPort, uploadPort, stubPort] = await Promise.all(
    [1, 2, 3, 4, 5].map(freePort),
  );
  start(process.execPath, [SIM_CLI, '--port', String(simPort), '--job-ms', '600000', '--quiet']);
  await waitForHttp(`http://127.0.0.1:${simPort}/`);

  const dataDir = path.join(tmp, 'relay-data');
  const lines = [];
  await runCli(['members', 'add', 'bench'], {
    env: { RETALK_DATA_DIR: dataDir },
    cwd: RELAY_DIR,
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
  });
  const token = /rtk_[A-Za-z0-9_-]{43}/.exec(lines.join('\n'))?.[0];
  // Node flags for the relay process only, to compare runtime settings, e.g.
  // BENCH_RELAY_NODE_FLAGS=--single-threaded-gc (the relay as shipped runs with none).
  const relayFlags = (process.env.BENCH_RELAY_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const relay = start(process.execPath, [...relayFlags, path.join(RELAY_DIR, 'dist/main.js')], {
    RETALK_PROVIDER: 'evolink',
    RETALK_API_KEY: 'sim-key',
    RETALK_BASE_URL: `http://127.0.0.1:${simPort}`,
    RETALK_DATA_DIR: dataDir,
    RETALK_ALLOWED_INPUT_HOSTS: `127.0.0.1:${simPort}`,
    RETALK_RATE_LIMIT_PER_MINUTE: '1000000',
    RETALK_MAX_UPLOAD_MB: '4096',
    RETALK_LOG_LEVEL: process.env.BENCH_RELAY_LOG_LEVEL ?? 'warn',
    HOST: '127.0.0.1',
    PORT: String(relayPort),
  });
  const relayUrl = `http://127.0.0.1:${relayPort}`;
  await waitForHttp(`${relayUrl}/healthz`);
  const auth = { authorization: `Bearer ${token}` };

  const fixture = (name) => `http://127.0.0.1:${simPort}/fixtures/${name}`;
  const created = ONLY_UPLOAD
    ? undefined
    : await fetch(`${relayUrl}/v1/jobs`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          video: { url: `${fixture('talking-640x640-25fps-3s.mp4')}?sim=stuck` },
          audio: { url: fixture('speech-4s.wav') },
        }),
      }).then((r) => r.json());
  let job = created ?? { upstreamId: 'none' };
  for (let i = 0; i < 100 && !job.upstreamId; i++) {
    await new Promise((r) => setTimeout(r, 100));
    job = await fetch(`${relayUrl}/v1/jobs/${created.id}`, { headers: auth }).then((r) => r.json());
  }
  if (!job.upstreamId) throw new Error(`bench job was not submitted: ${JSON.stringify(job)}`);

  const nginxDir = path.join(tmp, 'nginx');
  fs.mkdirSync(nginxDir);
  fs.writeFileSync(
    path.join(nginxDir, 'nginx.conf'),
    nginxConfig(nginxDir, { port: nginxPort, uploadPort, stubPort, simPort }),
  );
  const nginx = start(NGINX, ['-p', nginxDir, '-c', path.join(nginxDir, 'nginx.conf')]);
  await waitForHttp(`http://127.0.0.1:${stubPort}/`);

  // (1) Job-status reads: the relay answers from its store; nginx proxies each read to the provider (simulator).
  const targets = {
    relay: { url: `${relayUrl}/v1/jobs/${created?.id}`, headers: auth },
    nginx: { url: `http://127.0.0.1:${nginxPort}/v1/tasks/${job.upstreamId}`, headers: {} },
  };
  for (const [name, t] of ONLY_UPLOAD ? [] : Object.entries(targets)) {
    await runLoadGenerator({ ...t, mode: 'max', connections: 8, durationMs: 1000 }); // warm-up
    results.reads[name] = {
      fixed: await runLoadGenerator({
        ...t,
        mode: 'rate',
        rate: 500,
        connections: 64,
        durationMs: READ_SECONDS * 1000,
      }),
      max: await runLoadGenerator({ ...t, mode: 'max', connections: 32, durationMs: READ_SECONDS * 1000 }),
    };
  }

  // (3) A 1 GiB upload: relay RSS growth and throughput against nginx writing the body to disk.
  // Same client, same body, same filesystem; neither side fsyncs. Each round is a pair measured under
  // the same load on the shared machine, and the pair's order alternates. One pair is run first and
  // not counted: the first GiB written into the page cache after a while lands on guest memory the
  // hypervisor has reclaimed and costs up to 3× the CPU to copy, whichever server meets it.
  const nginxWorkers = () =>
    execFileSync('pgrep', ['-P', String(nginx.pid)], { encoding: 'utf8' })
      .trim()
      .split(/\s+/)
      .map(Number);
  const relayUpload = () =>
    timedUpload(
      `${relayUrl}/v1/uploads?kind=video&filename=big.mp4`,
      { ...auth, 'content-type': 'video/mp4' },
      [relay.pid],
    );
  const nginxUpload = () =>
    timedUpload(`http://127.0.0.1:${uploadPort}/upload`, { 'content-type': 'video/mp4' }, nginxWorkers());
  // RSS growth counts from before the relay's first upload (the warm-up included).
  const baseline = rssBytes(relay.pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(relay.pid));
  }, 20);
  await nginxUpload();
  await relayUpload();
  const rounds = [];
  for (let round = 0; round < UPLOAD_ROUNDS; round++) {
    let relayRun;
    let nginxRun;
    if (round % 2 === 0) {
      relayRun = await relayUpload();
      nginxRun = await nginxUpload();
    } else {
      nginxRun = await nginxUpload();
      relayRun = await relayUpload();
    }
    rounds.push({ relay: relayRun, nginx: nginxRun, ratio: relayRun.mibPerSecond / nginxRun.mibPerSecond });
    console.error(
      `  upload round ${round + 1}/${UPLOAD_ROUNDS}: relay ${fmt(relayRun.mibPerSecond, 0)} MiB/s (HTTP ${relayRun.status}, ${fmt(relayRun.serverCpuPerGiB, 2)} CPU-s/GiB), nginx ${fmt(nginxRun.mibPerSecond, 0)} MiB/s (HTTP ${nginxRun.status}, ${fmt(nginxRun.serverCpuPerGiB, 2)} CPU-s/GiB), ratio ${fmt(relayRun.mibPerSecond / nginxRun.mibPerSecond, 2)}`,
    );
  }
  clearInterval(sampler);
  results.upload = { rounds, baseline, peak, growth: peak - baseline };

  nginx.kill('SIGQUIT');
  relay.kill('SIGTERM');
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function queriesPerJob(results) {
  // (2) In one process: the simulator counts upstream queries per task.
  const JOB_MS = 3000;
  const POLL_MS = 250;
  // Only queries are counted here: the result's content does not matter ('echo' costs nothing).
  const sim = await createSimulator({ jobMs: JOB_MS, resultMode: 'echo' });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'retalk-bench-q-'));
  const config = loadConfig(
    {
      RETALK_PROVIDER: 'evolink',
      RETALK_API_KEY: 'sim-key',
      RETALK_BASE_URL: sim.url,
      RETALK_DATA_DIR: dataDir,
      RETALK_POLL_INTERVAL_MS: String(POLL_MS),
      RETALK_RATE_LIMIT_PER_MINUTE: '1000000',
      RETALK_LOG_LEVEL: 'warn',
    },
    RELAY_DIR,
  );
  const relay = await buildRelay({
    config,
    upstream: { apiKey: 'sim-key', baseUrl: sim.url },
    allowedInputHosts: [new URL(sim.url).host],
  });
  await relay.app.listen({ host: '127.0.0.1', port: 0 });
  await relay.start();
  const url = relay.context.publicUrl();
  const { token } = await createMember(relay.context.store, { name: 'q' }, Date.now());
  const auth = { authorization: `Bearer ${token}` };
  for (const watchers of [1, 100]) {
    const job = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        video: { url: sim.fixtureUrl('talking-640x640-25fps-3s.mp4') },
        audio: { url: sim.fixtureUrl('speech-4s.wav') },
      }),
    }).then((r) => r.json());
    const stop = new AbortController();
    const sse = Math.floor(watchers / 2);
    const streams = Array.from({ length: sse }, async () => {
      try {
        const res = await fetch(`${url}/v1/events`, { headers: auth, signal: stop.signal });
        for await (const _ of res.body) {
          // keep reading
        }
      } catch {
        // aborted
      }
    });
    let final;
    await Promise.all(
      Array.from({ length: watchers - sse }, async () => {
        for (;;) {
          const j = await fetch(`${url}/v1/jobs/${job.id}`, { headers: auth }).then((r) => r.json());
          if (['succeeded', 'failed', 'canceled'].includes(j.status)) {
            final = j;
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      }),
    );
    stop.abort();
    await Promise.allSettled(streams);
    results.queries[watchers] = {
      status: final.status,
      queries: sim.stats().tasks[final.upstreamId]?.queries ?? Number.NaN,
    };
  }
  await relay.close();
  await sim.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

const results = { reads: {}, queries: {}, upload: undefined };
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
try {
  execFileSync(NGINX, ['-v'], { stdio: 'ignore' });
  if (!ONLY_UPLOAD) await queriesPerJob(results);
  await readsAndUpload(results);
} finally {
  stopChildren();
}

const median = (values) => {
  const v = [...values].sort((x, y) => x - y);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const spread = (values, digits = 0) =>
  `median ${fmt(median(values), digits)} (min ${fmt(Math.min(...values), digits)}, max ${fmt(Math.max(...values), digits)})`;

console.log(
  `\nRetalk relay bench — ${os.cpus().length} × ${cpu}, node ${process.version}, loopback${
    process.env.BENCH_RELAY_NODE_FLAGS ? `, relay started with ${process.env.BENCH_RELAY_NODE_FLAGS}` : ''
  }\n`,
);
if (!ONLY_UPLOAD) {
  const r = results.reads;
  const ratioFixed = r.relay.fixed.rps / r.nginx.fixed.rps;
  const ratioMax = r.relay.max.rps / r.nginx.max.rps;
  console.log('(1) job-status reads: relay (from its store) vs nginx proxy_pass to the simulator');
  for (const [name, v] of Object.entries(r)) {
    console.log(
      `    ${name.padEnd(6)} fixed 500/s: ${fmt(v.fixed.rps, 0)} req/s, p50 ${fmt(v.fixed.p50, 2)} ms, p99 ${fmt(v.fixed.p99, 2)} ms, errors ${v.fixed.errors + v.fixed.statusErrors}` +
        ` | max (32 conns): ${fmt(v.max.rps, 0)} req/s, p99 ${fmt(v.max.p99, 2)} ms, errors ${v.max.errors + v.max.statusErrors}`,
    );
  }
  console.log(
    `    ratio relay/nginx at 500/s: ${fmt(ratioFixed, 2)}, at max: ${fmt(ratioMax, 2)} (target ≥ 1.0)`,
  );
  console.log(
    `    relay p99 at 500/s: ${fmt(r.relay.fixed.p99, 2)} ms (target < 10 ms) ${verdict(r.relay.fixed.p99 < 10)}; ratio at max ${verdict(ratioMax >= 1)}`,
  );
  console.log('(2) upstream queries per job (3 s job, 250 ms poll interval)');
  console.log(
    `    1 watcher: ${results.queries[1].queries}, 100 watchers: ${results.queries[100].queries} (target: equal) ${verdict(Math.abs(results.queries[1].queries - results.queries[100].queries) <= 1)}`,
  );
}
const u = results.upload;
const relayRate = u.rounds.map((x) => x.relay.mibPerSecond);
const nginxRate = u.rounds.map((x) => x.nginx.mibPerSecond);
const ratios = u.rounds.map((x) => x.ratio);
const last = u.rounds.at(-1);
console.log(
  `(3) ${mib(UPLOAD_BYTES)} upload, ${UPLOAD_ROUNDS} rounds of one relay and one nginx upload, order alternating, after one uncounted pair (same client, body of zeros)`,
);
console.log(
  '    both read the whole body over loopback HTTP/1.1 and write all of it to a new file on the same filesystem, no fsync;',
);
console.log(
  '    nginx (client_body_in_file_only clean) only copies it and deletes the file after answering; the relay also computes',
);
console.log(
  '    sha256, sniffs and probes it, renames it into place, then rejects it (422: zeros are no video) and deletes it after answering.',
);
console.log(
  `    relay: ${spread(relayRate)} MiB/s, ${spread(
    u.rounds.map((x) => x.relay.serverCpuPerGiB),
    2,
  )} CPU-s/GiB (HTTP ${last.relay.status})`,
);
console.log(
  `    nginx: ${spread(nginxRate)} MiB/s, ${spread(
    u.rounds.map((x) => x.nginx.serverCpuPerGiB),
    2,
  )} CPU-s/GiB (HTTP ${last.nginx.status})`,
);
console.log(
  `    client: ${spread(
    u.rounds.flatMap((x) => [x.relay.clientCpuPerGiB, x.nginx.clientCpuPerGiB]),
    2,
  )} CPU-s/GiB (the same for both; it is not the bottleneck)`,
);
console.log(
  `    relay RSS ${mib(u.baseline)} → peak ${mib(u.peak)}, growth ${mib(u.growth)} (target < 64 MiB) ${verdict(u.growth < 64 * 1024 ** 2)}`,
);
console.log(
  `    throughput ratio relay/nginx per round: ${spread(ratios, 2)}; best vs best ${fmt(Math.max(...relayRate) / Math.max(...nginxRate), 2)} (target ≥ 0.5 on the median) ${verdict(median(ratios) >= 0.5)}`,
);
if (last.relay.status !== 422) console.log(`    note: relay answered ${last.relay.text.slice(0, 200)}`);
