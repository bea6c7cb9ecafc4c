import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Job } from '@retalk/core/relay';
import { createSimulator } from '@retalk/simulator';
import pg from 'pg';
import { Agent, fetch as undiciFetch } from 'undici';
import { buildRelay, type Relay } from '../src/app.js';
import { runCli } from '../src/commands.js';
import { loadConfig } from '../src/config.js';
import { createMember } from '../src/members.js';
import { openStore } from '../src/store/open.js';
import type { RelayStore } from '../src/store/types.js';
import { storeEnv, TEST_STORE_IS_POSTGRES } from './pg.js';

/** A provider key distinctive enough that finding it anywhere is a real leak. */
export const PROVIDER_KEY = 'sk-live-RETALK-TEST-KEY-5f0c3a9e71d24b8c';

export const FIXTURES = path.resolve(import.meta.dirname, '../../../packages/simulator/fixtures');

export type Simulator = Awaited<ReturnType<typeof createSimulator>>;

/** Every provider key a test handed the relay; none may appear in a response or a log line. */
export const SECRET_KEYS = new Set<string>([PROVIDER_KEY]);

/** Everything the suite saw (responses and log lines), for the key-leak scan. */
export const seen: { responses: string[]; logLines: string[] } = { responses: [], logLines: [] };

export interface HarnessOptions {
  provider: 'evolink' | 'dashscope';
  jobMs?: number;
  pollIntervalMs?: number;
  env?: Record<string, string>;
  dataDir?: string;
  sim?: Simulator;
  simLimits?: {
    dashscopeSubmitsPerSecond?: number;
    dashscopeConcurrentTasks?: number;
    dashscopeQueriesPerSecond?: number;
  };
  now?: () => number;
  archiveRetryDelaysMs?: number[];
  /** Listen port; a restarted relay reuses its port, as its public URL would stay the same. */
  port?: number;
  /** Retries of a failed provider read inside one client call (default: the core client's). */
  readRetries?: number;
  /** The conform pool's child entry (a stand-in that misbehaves on command); default the real worker. */
  conformWorkerPath?: string;
  /**
   * A pool of upstreams: written to an upstreams file (RETALK_UPSTREAMS_FILE) instead of
   * RETALK_PROVIDER / RETALK_API_KEY; entries without `baseUrl` go to the simulator. Their keys
   * join the leak scan.
   */
  upstreams?: Record<string, unknown>[];
  /** Simulator keys and DashScope accounts (when the harness starts the simulator). */
  simKeys?: { apiKeys: string[]; dashscopeAccounts?: string[][] };
}

export interface Harness {
  sim: Simulator;
  relay: Relay;
  url: string;
  dataDir: string;
  token: string;
  /** Stops the relay (the simulator keeps running when it was passed in). */
  stopRelay(): Promise<void>;
  close(): Promise<void>;
  api(method: string, urlPath: string, init?: ApiInit): Promise<ApiResponse>;
  addMember(
    name: string,
    extra?: { budgetSeconds?: number; period?: 'day' | 'month'; maxConcurrentJobs?: number },
  ): Promise<string>;
  upload(kind: 'video' | 'audio' | 'image', fixture: string, token?: string): Promise<string>;
  waitForJob(
    id: string,
    predicate: (job: JobBody) => boolean,
    timeoutMs?: number,
    token?: string,
  ): Promise<JobBody>;
}

export interface ApiInit {
  token?: string | null;
  body?: unknown;
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read response fields directly and assert on them.
  json: any;
}

/** A job as the API returns it: the contract's own type, not a copy. */
export type JobBody = Job;

/** Whether a process is still running. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `predicate` holds, checking every 20 ms (the test's timeout bounds it). */
export async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, 20));
}

export function tempDir(prefix = 'retalk-relay-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function logSink(): Writable {
  return new Writable({
    write(chunk, _enc, callback) {
      for (const line of String(chunk).split('\n')) if (line) seen.logLines.push(line);
      callback();
    },
  });
}

export { storeEnv };

/** Opens the store of `dataDir` beside (or instead of) its relay, runs `fn`, and closes it. */
export async function withStoreOf<T>(dataDir: string, fn: (store: RelayStore) => Promise<T>): Promise<T> {
  const store = await openStore(loadConfig(await storeEnv(dataDir), process.cwd()));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Every byte the store of `dataDir` keeps, as text (the SQLite files, or PostgreSQL's rows). */
export async function storedText(dataDir: string): Promise<string> {
  const env = await storeEnv(dataDir);
  if (env.RETALK_DATABASE_URL === undefined) {
    const files = fs.readdirSync(dataDir).filter((f) => f.includes('.db'));
    if (files.length === 0) throw new Error(`no SQLite files in ${dataDir}`);
    return files.map((f) => fs.readFileSync(path.join(dataDir, f)).toString('latin1')).join('');
  }
  const client = new pg.Client({ connectionString: env.RETALK_DATABASE_URL });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'",
    );
    if (tables.rows.length === 0) throw new Error('no tables in the test database');
    let out = '';
    for (const { name } of tables.rows) {
      const rows = await client.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${name}" t`);
      for (const r of rows.rows) out += r.row;
    }
    return out;
  } finally {
    await client.end();
  }
}

export async function startRelay(options: HarnessOptions): Promise<Harness> {
  const ownSim = !options.sim;
  const sim =
    options.sim ??
    (await createSimulator({
      jobMs: options.jobMs ?? 300,
      apiKeys: options.simKeys?.apiKeys ?? [PROVIDER_KEY],
      ...(options.simKeys?.dashscopeAccounts ? { dashscopeAccounts: options.simKeys.dashscopeAccounts } : {}),
      ...(options.simLimits ? { limits: options.simLimits } : {}),
    }));
  const dataDir = options.dataDir ?? tempDir();
  // RETALK_TEST_STORE=postgres: each data dir gets its own throwaway database, kept across a
  // restart on that data dir as SQLite's file would be.
  const databaseUrl = (await storeEnv(dataDir)).RETALK_DATABASE_URL;
  let upstreamEnv: Record<string, string> = {
    RETALK_PROVIDER: options.provider,
    RETALK_API_KEY: PROVIDER_KEY,
    RETALK_BASE_URL: options.provider === 'dashscope' ? sim.dashscopeUrl : sim.url,
  };
  if (options.upstreams) {
    for (const u of options.upstreams) if (typeof u.key === 'string') SECRET_KEYS.add(u.key);
    const file = path.join(dataDir, 'upstreams.json');
    // Entries without a base URL go to this simulator, on the API of their own provider (a pool may
    // mix DashScope accounts and EvoLink keys).
    const entries = options.upstreams.map((u) => ({
      baseUrl: (u.provider ?? options.provider) === 'dashscope' ? sim.dashscopeUrl : sim.url,
      ...u,
    }));
    fs.writeFileSync(file, JSON.stringify({ upstreams: entries }, null, 2));
    upstreamEnv = { RETALK_UPSTREAMS_FILE: file };
  }
  const config = loadConfig(
    {
      ...upstreamEnv,
      RETALK_DATA_DIR: dataDir,
      RETALK_POLL_INTERVAL_MS: String(options.pollIntervalMs ?? 50),
      RETALK_LOG_LEVEL: 'info',
      ...(databaseUrl ? { RETALK_DATABASE_URL: databaseUrl } : {}),
      ...options.env,
    },
    process.cwd(),
  );
  const relay = await buildRelay({
    config,
    upstream: { apiKey: PROVIDER_KEY, baseUrl: config.baseUrl, readRetries: options.readRetries },
    logStream: logSink(),
    allowedInputHosts: [new URL(sim.url).host],
    archiveRetryDelaysMs: options.archiveRetryDelaysMs ?? [20, 50, 100],
    submitIntervalMs: options.provider === 'dashscope' ? 1_050 : 20,
    heartbeatMs: 200,
    ...(options.conformWorkerPath ? { conformWorkerPath: options.conformWorkerPath } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  if (TEST_STORE_IS_POSTGRES && relay.context.store.dialect !== 'postgres') {
    throw new Error('RETALK_TEST_STORE=postgres, yet the relay opened another store');
  }
  await relay.app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  await relay.start();
  const url = relay.context.publicUrl();
  const existing = await relay.context.store.getMemberByName('alice');
  const token = existing
    ? ''
    : (await createMember(relay.context.store, { name: 'alice' }, Date.now())).token;

  // Own connection pool per relay: a restarted relay on the same port must not inherit sockets
  // the previous one closed.
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  async function api(method: string, urlPath: string, init: ApiInit = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...init.headers };
    const auth = init.token === undefined ? token : init.token;
    if (auth !== null && auth !== '' && !('authorization' in headers))
      headers.authorization = `Bearer ${auth}`;
    let body: string | Uint8Array | undefined;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] ??= 'application/json';
    } else if (init.rawBody !== undefined) {
      body = init.rawBody;
    }
    const response = await undiciFetch(`${url}${urlPath}`, {
      method,
      headers,
      body: body ?? null,
      redirect: 'manual',
      dispatcher: agent,
    });
    const text = await response.text();
    const headerText = [...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
    seen.responses.push(`${response.status}\n${headerText}\n\n${text}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  const harness: Harness = {
    sim,
    relay,
    url,
    dataDir,
    token,
    async stopRelay() {
      await relay.close();
      await agent.close();
    },
    async close() {
      await relay.close().catch(() => undefined);
      await agent.close().catch(() => undefined);
      if (ownSim) await sim.close();
    },
    api,
    async addMember(name, extra = {}) {
      return (await createMember(relay.context.store, { name, ...extra }, Date.now())).token;
    },
    async upload(kind, fixture, as) {
      const bytes = fs.readFileSync(path.join(FIXTURES, fixture));
      const type = kind === 'video' ? 'video/mp4' : kind === 'audio' ? 'audio/wav' : 'image/png';
      const res = await api('PUT', `/v1/uploads?kind=${kind}&filename=${fixture}`, {
        rawBody: bytes,
        headers: { 'content-type': type },
        ...(as !== undefined ? { token: as } : {}),
      });
      if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.text}`);
      return res.json.id as string;
    },
    // A bound, not a wait: jobs now pass through a conform child process (FFmpeg's libraries load
    // in about a second on an idle machine, several on a loaded 2-core one).
    async waitForJob(id, predicate, timeoutMs = 30_000, as) {
      const deadline = Date.now() + timeoutMs;
      let last: JobBody | undefined;
      while (Date.now() < deadline) {
        const res = await api('GET', `/v1/jobs/${id}`, as !== undefined ? { token: as } : {});
        last = res.json as JobBody;
        if (res.status === 200 && predicate(last)) return last;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`job ${id} did not reach the expected state; last: ${JSON.stringify(last)}`);
    },
  };
  return harness;
}

/** `retalk-relay upstreams` run as another process would, on a relay's store and upstreams file. */
export async function upstreamsCli(dataDir: string): Promise<{ code: number; printed: string }> {
  const out: string[] = [];
  const code = await runCli(['upstreams'], {
    env: { ...(await storeEnv(dataDir)), RETALK_UPSTREAMS_FILE: `${dataDir}/upstreams.json` },
    cwd: process.cwd(),
    out: (line: string) => out.push(line),
    err: (line: string) => out.push(line),
  });
  return { code, printed: out.join('\n') };
}

/**
 * Prometheus text without the `relay_instance` label, which every series carries on PostgreSQL (the
 * store several instances may share), so one expectation reads the same on both stores.
 */
export function withoutInstanceLabel(metrics: string): string {
  return metrics
    .replace(/relay_instance="[^"]*",?/g, '')
    .replace(/,\}/g, '}')
    .replace(/\{\}/g, '');
}
