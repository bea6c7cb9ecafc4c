import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Job } from '@retalk/core/relay';
import { Agent, request } from 'undici';
import { afterAll } from 'vitest';
import { dropTestDatabases, storeEnv } from '../pg.js';

/** A provider key distinctive enough that finding it anywhere is a real leak. */
export const PROVIDER_KEY = 'sk-reliability-RETALK-5e1f0c7a93b24d68a1';
export const ADMIN_TOKEN = 'admin-reliability-suite-token-4f2a9c1d7e';
export const FIXTURES = path.resolve(import.meta.dirname, '../../../../packages/simulator/fixtures');
const MAIN = path.resolve(import.meta.dirname, '../../dist/main.js');

export function tempDir(prefix = 'retalk-rel-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function fixture(name: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, name));
}

/** A free loopback port, for a relay whose log level hides the line that names its own. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ChildRelayOptions {
  provider: 'evolink' | 'dashscope';
  /** Upstream API base (the simulator, or a fault proxy in front of it). */
  baseUrl: string;
  /** `host:port` accepted as input URLs even though private (the simulator's fixtures). */
  allowedInputHosts?: string[];
  dataDir?: string;
  port?: number;
  env?: Record<string, string>;
  /** Extra `node` flags (e.g. `--import` of the test DNS resolver). */
  nodeArgs?: string[];
  /** Wraps the command (e.g. `sh -c 'ulimit …; exec "$@"'`). */
  wrap?: (command: string[]) => string[];
  /** Keys besides PROVIDER_KEY to scan logs and responses for (a pool's own upstream keys). */
  secrets?: string[];
}

export interface ApiInit {
  token?: string | null;
  body?: unknown;
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  bytes: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: tests read response fields directly and assert on them.
  json: any;
  ms: number;
}

/** A job as the API returns it: the contract's own type, not a copy. */
export type JobBody = Job;

export const TERMINAL = ['succeeded', 'failed', 'canceled'];

export interface ChildRelay {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  /** Every stdout/stderr line of the process. */
  logs: string[];
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  alive(): boolean;
  api(method: string, urlPath: string, init?: ApiInit): Promise<ApiResponse>;
  addMember(name: string, extra?: { budgetSeconds?: number; maxConcurrentJobs?: number }): Promise<string>;
  upload(kind: 'video' | 'audio' | 'image', fixtureName: string, token: string): Promise<string>;
  waitForJob(
    id: string,
    token: string,
    predicate: (job: JobBody) => boolean,
    timeoutMs?: number,
  ): Promise<JobBody>;
  kill(signal: NodeJS.Signals): Promise<number | string>;
  /** Resident memory samples of the process (kB), every 250 ms. */
  rssSamples: { atMs: number; kb: number }[];
  peakRssMb(): number;
  /** Responses received and log lines printed that contain the provider key. */
  leaks(): string[];
  requestsServed(): number;
}

function readRssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s*kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// Registered while the spec file that imports this module is collected: runs after its tests.
afterAll(dropTestDatabases);

/** Runs `node dist/main.js` as a real child process on the given data dir and waits until it answers. */
export async function startChildRelay(o: ChildRelayOptions): Promise<ChildRelay> {
  const dataDir = o.dataDir ?? tempDir();
  // A first start listens on a port the kernel picks and the harness reads it from the relay's
  // "listening at" log line (a port chosen beforehand could be taken by another suite's process
  // before this one binds it); a restart reuses its port, as its signed links name it. A relay
  // whose log level hides that info line gets a port chosen beforehand.
  const quiet = ['warn', 'error', 'fatal', 'silent'].includes(o.env?.RETALK_LOG_LEVEL ?? 'info');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.tmpdir(),
    HOST: '127.0.0.1',
    PORT: String(o.port ?? (quiet ? await freePort() : 0)),
    RETALK_PROVIDER: o.provider,
    RETALK_API_KEY: PROVIDER_KEY,
    RETALK_BASE_URL: o.baseUrl,
    ...(await storeEnv(dataDir)),
    RETALK_ADMIN_TOKEN: ADMIN_TOKEN,
    // Private inputs stay refused; only the simulator's own host is let through.
    RETALK_ALLOW_PRIVATE_URLS: 'false',
    RETALK_ALLOWED_INPUT_HOSTS: (o.allowedInputHosts ?? []).join(',') || '127.0.0.1:9',
    RETALK_POLL_INTERVAL_MS: '100',
    RETALK_LOG_LEVEL: 'info',
    ...o.env,
  };
  if (env.RETALK_UPSTREAMS_FILE !== undefined) {
    // The file names every upstream; the relay refuses it beside the single-upstream variables.
    delete env.RETALK_PROVIDER;
    delete env.RETALK_API_KEY;
    delete env.RETALK_BASE_URL;
  }
  const command = [process.execPath, ...(o.nodeArgs ?? []), MAIN];
  const [bin, ...args] = o.wrap ? o.wrap(command) : command;
  const child: ChildProcess = spawn(bin as string, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const leaks: string[] = [];
  let served = 0;
  const secrets = [PROVIDER_KEY, ...(o.secrets ?? [])];
  const leaked = (text: string) => secrets.some((secret) => text.includes(secret));
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      logs.push(line);
      if (leaked(line)) leaks.push(`log: ${line}`);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exitValue: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitValue = code ?? signal ?? -1;
      resolve(exitValue);
    });
  });
  const pid = child.pid as number;
  const rssSamples: { atMs: number; kb: number }[] = [];
  const t0 = Date.now();
  const sampler = setInterval(() => {
    const kb = readRssKb(pid);
    if (kb !== undefined) rssSamples.push({ atMs: Date.now() - t0, kb });
  }, 250);
  sampler.unref();
  void exited.then(() => clearInterval(sampler));

  // Start-up is slow on a loaded 2-core machine; these are caps, the relay is used as soon as it answers.
  const deadline = Date.now() + 60_000;
  let port = Number(env.PORT) || undefined;
  while (port === undefined) {
    if (exitValue !== undefined) {
      throw new Error(`the relay exited (${exitValue}) at start:\n${logs.slice(-20).join('\n')}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the relay did not start listening within 60 s:\n${logs.slice(-20).join('\n')}`);
    }
    const listening = logs
      .map((line) => /listening at http:\/\/127\.0\.0\.1:(\d+)/i.exec(line))
      .find(Boolean);
    port = listening ? Number(listening[1]) : undefined;
    if (port === undefined) await sleep(20);
  }
  const url = `http://127.0.0.1:${port}`;
  const agent = new Agent({ keepAliveTimeout: 2_000, connections: 64 });
  void exited.then(() => agent.close().catch(() => undefined));

  async function api(method: string, urlPath: string, init: ApiInit = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token && !('authorization' in headers)) headers.authorization = `Bearer ${init.token}`;
    let body: string | Uint8Array | undefined;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] ??= 'application/json';
    } else if (init.rawBody !== undefined) {
      body = init.rawBody;
    }
    const started = performance.now();
    const res = await request(`${url}${urlPath}`, {
      method: method as 'GET',
      headers,
      body: body ?? null,
      dispatcher: agent,
      signal: AbortSignal.timeout(init.timeoutMs ?? 15_000),
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const text = bytes.toString('utf8');
    served++;
    if (leaked(text) || leaked(JSON.stringify(res.headers))) {
      leaks.push(`response ${method} ${urlPath}: ${text.slice(0, 300)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return {
      status: res.statusCode,
      headers: res.headers,
      text,
      bytes,
      json,
      ms: performance.now() - started,
    };
  }

  const relay: ChildRelay = {
    url,
    port,
    pid,
    dataDir,
    logs,
    exited,
    alive: () => exitValue === undefined,
    api,
    async addMember(name, extra = {}) {
      const res = await api('POST', '/admin/members', {
        token: ADMIN_TOKEN,
        body: { name, ...extra },
      });
      if (res.status !== 201) throw new Error(`adding member ${name}: ${res.status} ${res.text}`);
      return res.json.token as string;
    },
    async upload(kind, fixtureName, token) {
      const type = kind === 'video' ? 'video/mp4' : kind === 'audio' ? 'audio/wav' : 'image/png';
      const res = await api('PUT', `/v1/uploads?kind=${kind}&filename=${fixtureName}`, {
        token,
        rawBody: fixture(fixtureName),
        headers: { 'content-type': type },
      });
      if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.text}`);
      return res.json.id as string;
    },
    async waitForJob(id, token, predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < deadline) {
        if (exitValue !== undefined)
          throw new Error(`the relay exited (${exitValue}) while waiting for ${id}`);
        const res = await api('GET', `/v1/jobs/${id}`, { token });
        last = res.json;
        if (res.status === 200 && predicate(res.json as JobBody)) return res.json as JobBody;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(
        `job ${id} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
      );
    },
    async kill(signal) {
      if (exitValue === undefined) child.kill(signal);
      return exited;
    },
    rssSamples,
    peakRssMb: () => Math.round((Math.max(0, ...rssSamples.map((s) => s.kb)) / 1024) * 10) / 10,
    leaks: () => leaks,
    requestsServed: () => served,
  };

  for (;;) {
    if (exitValue !== undefined) {
      throw new Error(`the relay exited (${exitValue}) at start:\n${logs.slice(-20).join('\n')}`);
    }
    try {
      const res = await api('GET', '/healthz', { timeoutMs: 1_000 });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await relay.kill('SIGKILL');
      throw new Error(`the relay did not answer /healthz within 60 s:\n${logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return relay;
}

/** Max events in any window of `windowMs` (a sliding window over sorted timestamps). */
export function maxInWindow(timestamps: number[], windowMs: number): number {
  const t = [...timestamps].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while ((t[i] as number) - (t[j] as number) >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once `ready()` holds, checking every 10 ms; fails after `timeoutMs` naming what it waited for. */
export async function until(what: string, ready: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
