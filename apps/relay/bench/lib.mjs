// Helpers shared by the relay's bench scripts (run.mjs, hostile.mjs): children that are always
// stopped, free ports, readiness waits, and /proc readings of a process.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const children = [];

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  children.push(child);
  child.output = () => output;
  return child;
}

export async function waitForHttp(url, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
}

export function rssBytes(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * A process's resident memory split into its own (anonymous: heaps, frames, codec buffers) and
 * file-backed pages (mostly shared code: node itself and node-av's 170 MB FFmpeg binary), in bytes.
 */
export function rssSplit(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

export const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
export const mib = (b) => `${fmt(b / 1024 ** 2)} MiB`;
export const verdict = (ok) => (ok ? 'PASS' : 'MISS');

/** Kills every child still running (call in a finally). */
export function stopChildren() {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}

/**
 * GETs `url` at `rate` requests a second from its own process (load.mjs) until `stop()` (at most
 * 10 min); `stop()` answers load.mjs's figures (requests, p50, p99, max, errors, …).
 */
export function readLoad(url, { rate = 50, headers } = {}) {
  const options = {
    url,
    mode: 'rate',
    rate,
    connections: 4,
    durationMs: 600_000,
    untilStdinEnd: true,
    headers,
  };
  const child = spawn(
    process.execPath,
    [new URL('./load.mjs', import.meta.url).pathname, JSON.stringify(options)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const done = new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load.mjs exited ${code}`)),
    ),
  );
  return {
    stop() {
      child.stdin.end();
      return done;
    },
  };
}

/**
 * Runs the HTTP load generator (load.mjs) in its own process with `options` (url, mode, rate,
 * connections, durationMs, headers) and answers what it measured.
 */
export function runLoadGenerator(options) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(import.meta.dirname, 'load.mjs'), JSON.stringify(options)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`)),
    );
  });
}
