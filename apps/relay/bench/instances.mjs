// `pnpm bench` (issue 13): job-status reads per second with two relay instances on one PostgreSQL
// database against one instance, the same closed-loop load (32 connections) in both cases: all of
// it on the one instance, then half on each of two. Everything binds 127.0.0.1; the database is a
// throwaway one (`retalk_bench_…`, dropped at the end) on RETALK_BENCH_PG_URL
// (default postgres://postgres@127.0.0.1:5432/postgres); every child is stopped.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runCli } from '../dist/commands.js';
import { fmt, freePort, runLoadGenerator, start, stopChildren, waitForHttp } from './lib.mjs';

const HERE = import.meta.dirname;
const RELAY_DIR = path.resolve(HERE, '..');
const SIM_CLI = path.resolve(RELAY_DIR, '../../packages/simulator/dist/cli.js');
const ADMIN_URL = process.env.RETALK_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const READ_SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 5);
const CONNECTIONS = 32;

function load(url, connections, headers) {
  return runLoadGenerator({ url, mode: 'max', connections, durationMs: READ_SECONDS * 1000, headers });
}

async function admin(sql) {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const name = `retalk_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
const databaseUrl = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
})();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'retalk-bench-instances-'));
const dataDir = path.join(tmp, 'data');

try {
  await admin(`CREATE DATABASE ${name}`);
  const simPort = await freePort();
  start(process.execPath, [SIM_CLI, '--port', String(simPort), '--job-ms', '600000', '--quiet']);
  await waitForHttp(`http://127.0.0.1:${simPort}/`);
  const env = { RETALK_DATA_DIR: dataDir, RETALK_DATABASE_URL: databaseUrl };
  const lines = [];
  await runCli(['members', 'add', 'bench'], {
    env,
    cwd: RELAY_DIR,
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
  });
  const token = /rtk_[A-Za-z0-9_-]{43}/.exec(lines.join('\n'))?.[0];
  if (!token) throw new Error(`no member token: ${lines.join('\n')}`);
  const auth = { authorization: `Bearer ${token}` };

  async function startRelay() {
    const port = await freePort();
    start(process.execPath, [path.join(RELAY_DIR, 'dist/main.js')], {
      ...env,
      RETALK_PROVIDER: 'evolink',
      RETALK_API_KEY: 'sim-key',
      RETALK_BASE_URL: `http://127.0.0.1:${simPort}`,
      RETALK_ALLOWED_INPUT_HOSTS: `127.0.0.1:${simPort}`,
      RETALK_RATE_LIMIT_PER_MINUTE: '1000000',
      RETALK_LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/healthz`, 30_000);
    return url;
  }

  const first = await startRelay();
  // The job a member's popup reads: a read costs the same in any state (the JSON comes from the
  // instance's cache, dropped when any instance writes the job), so the bench does not wait for it.
  const fixture = (f) => `http://127.0.0.1:${simPort}/fixtures/${f}`;
  const created = await fetch(`${first}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      video: { url: `${fixture('talking-640x640-25fps-3s.mp4')}?sim=stuck` },
      audio: { url: fixture('speech-4s.wav') },
    }),
  }).then((r) => r.json());
  if (!created.id) throw new Error(`bench job was not created: ${JSON.stringify(created)}`);
  // Measured once the relay no longer prepares it (a probe child would share the CPU with the reads).
  for (let i = 0; i < 1200; i++) {
    const { status } = await fetch(`${first}/v1/jobs/${created.id}`, { headers: auth }).then((r) => r.json());
    if (status !== 'received' && status !== 'preparing') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const readPath = `/v1/jobs/${created.id}`;

  // Warm-up, then the one-instance run.
  await load(`${first}${readPath}`, 4, auth);
  const one = await load(`${first}${readPath}`, CONNECTIONS, auth);
  const second = await startRelay();
  await load(`${second}${readPath}`, 4, auth);
  const both = await Promise.all([
    load(`${first}${readPath}`, CONNECTIONS / 2, auth),
    load(`${second}${readPath}`, CONNECTIONS / 2, auth),
  ]);
  const twoRps = both[0].rps + both[1].rps;
  const errors = one.errors + one.statusErrors + both.reduce((n, r) => n + r.errors + r.statusErrors, 0);
  console.log(
    `\n(issue 13) job-status reads, PostgreSQL store, ${CONNECTIONS} connections for ${READ_SECONDS} s, ${os.cpus().length} CPU cores shared by the relays, PostgreSQL and the load generators`,
  );
  console.log(`    1 instance:  ${fmt(one.rps, 0)} req/s (p99 ${fmt(one.p99)} ms)`);
  console.log(
    `    2 instances: ${fmt(twoRps, 0)} req/s (${fmt(both[0].rps, 0)} + ${fmt(both[1].rps, 0)}; p99 ${fmt(Math.max(both[0].p99, both[1].p99))} ms)`,
  );
  console.log(
    `    ratio 2 instances / 1: ${fmt(twoRps / one.rps, 2)} (aim: close to 2 where each instance has its own cores; errors ${errors})`,
  );
} finally {
  stopChildren();
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
  fs.rmSync(tmp, { recursive: true, force: true });
}
