// `pnpm bench` in apps/relay, part 2: the relay under the attack of issue 12 (findings M1, H2, M2),
// each figure against the same relay idle just before (the named baseline).
//   (4) open connections and memory while 500 unauthenticated uploads stall, and after;
//   (5) /healthz latency while four 25 MB MP3 bombs and a 100 MB MP4 sample-table bomb are probed.
// `node bench/hostile.mjs stalls` or `… probes` runs one section. The relay runs as a child process
// (dist/main.js) on loopback with short timeouts so the bench ends quickly; every child is stopped.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../dist/commands.js';
import {
  children,
  fmt,
  freePort,
  mib,
  readLoad,
  rssBytes,
  start,
  stopChildren,
  verdict,
  waitForHttp,
} from './lib.mjs';

const HERE = import.meta.dirname;
const RELAY_DIR = path.resolve(HERE, '..');
const SECTIONS = ['stalls', 'probes'];
const only = process.argv[2];
if (only && !SECTIONS.includes(only))
  throw new Error(`unknown section ${only}; use: hostile.mjs [${SECTIONS.join('|')}]`);

const STALLED = Number(process.env.BENCH_STALLED_UPLOADS ?? 500);
const HEADERS_TIMEOUT_MS = 2_000;
const REQUEST_TIMEOUT_MS = 4_000;

const MP3_BOMBS = 4;
const MP3_BOMB_BYTES = 25_000_000;
const MP4_BOMB_SAMPLES = 25_000_000; // 4 bytes each in stsz: a 100 MB sample table
const HEALTHZ_AIM_MS = 50;
/** An upload not answered by then is given up (the relay is stopped after the section). */
const PROBE_CAP_MS = Number(process.env.BENCH_PROBE_CAP_MS ?? 180_000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Sockets the process holds open (its fds that are sockets: the listener, clients, its own links). */
function socketsOf(pid) {
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** Child processes of a process (its probe and conform children), by pid. */
function childrenOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Samples a process's sockets and RSS every `everyMs` until stopped; keeps the maxima, and the
 * children seen that were not there at the start (each one a fork of the process).
 */
function sampler(pid, everyMs = 50) {
  const peak = { sockets: 0, rss: 0 };
  const before = new Set(childrenOf(pid));
  const started = new Set();
  const timer = setInterval(() => {
    peak.sockets = Math.max(peak.sockets, socketsOf(pid));
    peak.rss = Math.max(peak.rss, rssBytes(pid));
    for (const child of childrenOf(pid)) if (!before.has(child)) started.add(child);
  }, everyMs);
  return {
    peak,
    started,
    stop: () => clearInterval(timer),
  };
}

/** Polls `read` until it returns true, at most `timeoutMs`; answers the time it took, or undefined. */
async function until(read, timeoutMs) {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (read()) return performance.now() - started;
    await sleep(20);
  }
  return undefined;
}

/** Adds a member through the CLI (as an admin would) and answers its token. */
async function addMember(dataDir, name) {
  const lines = [];
  await runCli(['members', 'add', name], {
    env: { RETALK_DATA_DIR: dataDir },
    cwd: RELAY_DIR,
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
  });
  return /rtk_[A-Za-z0-9_-]{43}/.exec(lines.join('\n'))?.[0];
}

async function startRelay(env = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'retalk-bench-hostile-'));
  const port = await freePort();
  const token = await addMember(dataDir, 'bench');
  const relay = start(process.execPath, [path.join(RELAY_DIR, 'dist/main.js')], {
    RETALK_DATA_DIR: dataDir,
    RETALK_LOG_LEVEL: 'warn',
    RETALK_RATE_LIMIT_PER_MINUTE: '1000000',
    HOST: '127.0.0.1',
    PORT: String(port),
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`);
  return {
    relay,
    url,
    port,
    token,
    dataDir,
    close() {
      relay.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The relay idle: sockets and RSS once they hold still (median of 10 samples 50 ms apart). */
async function idle(pid) {
  const sockets = [];
  const rss = [];
  for (let i = 0; i < 10; i++) {
    sockets.push(socketsOf(pid));
    rss.push(rssBytes(pid));
    await sleep(50);
  }
  const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
  return { sockets: median(sockets), rss: median(rss) };
}

const STALLS = {
  body: {
    what: 'headers and 100 bytes of a 300 MB body sent, then silence',
    payload: `PUT /v1/uploads?kind=video&filename=a.mp4 HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 300000000\r\n\r\n${'\0'.repeat(100)}`,
    aimMs: REQUEST_TIMEOUT_MS,
  },
  headers: {
    what: 'half of the request headers sent, then silence',
    payload: 'PUT /v1/uploads?kind=video&filename=a.mp4 HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n',
    aimMs: HEADERS_TIMEOUT_MS,
  },
};

/** Opens `count` connections that send `payload` and stall; resolves once every one is connected. */
async function openStalled(port, payload, count) {
  const sockets = [];
  const lifetimes = [];
  let closedByServer = 0;
  const answers = new Map();
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, () => {
        const socket = net.connect(port, '127.0.0.1');
        sockets.push(socket);
        socket.on('error', () => undefined);
        socket.on('data', (d) => {
          const status = /^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1];
          if (status) answers.set(status, (answers.get(status) ?? 0) + 1);
        });
        let connectedAt = 0;
        socket.on('close', () => {
          closedByServer++;
          lifetimes.push(performance.now() - connectedAt);
        });
        return new Promise((resolve) =>
          socket.once('connect', () => {
            connectedAt = performance.now();
            socket.write(payload);
            resolve();
          }),
        );
      }),
    );
  }
  return { sockets, closed: () => closedByServer, answers, lifetimes };
}

async function stalls() {
  const r = await startRelay({
    RETALK_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    RETALK_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    RETALK_IDLE_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
  });
  const pid = r.relay.pid;
  const results = [];
  try {
    for (const [name, stall] of Object.entries(STALLS)) {
      const base = await idle(pid);
      const watch = sampler(pid);
      const t0 = performance.now();
      const attack = await openStalled(r.port, stall.payload, STALLED);
      const connectedMs = performance.now() - t0;
      const allClosed = await until(() => attack.closed() === STALLED, stall.aimMs + 10_000);
      const backMs = await until(() => socketsOf(pid) <= base.sockets, 10_000);
      const backAt = backMs === undefined || allClosed === undefined ? undefined : performance.now() - t0;
      watch.stop();
      const lifetimes = [...attack.lifetimes].sort((a, b) => a - b);
      for (const s of attack.sockets) s.destroy();
      await sleep(200);
      const after = await idle(pid);
      results.push({
        name,
        stall,
        base,
        peak: watch.peak,
        after,
        connectedMs,
        backAt,
        longest: attack.closed() === STALLED ? lifetimes.at(-1) : undefined,
        median: lifetimes[lifetimes.length >> 1],
        answers: Object.fromEntries(attack.answers),
      });
    }
  } finally {
    r.close();
  }
  console.log(
    `(4) ${STALLED} stalled unauthenticated uploads against one relay (headers timeout ${HEADERS_TIMEOUT_MS / 1000} s, request timeout ${REQUEST_TIMEOUT_MS / 1000} s)`,
  );
  console.log('    baseline: the same relay idle just before each attack; ratios are to it');
  for (const x of results) {
    const ratio = (v, b) => `×${fmt(v / b, 2)}`;
    console.log(`    stalled in the ${x.name} (${x.stall.what}); answers ${JSON.stringify(x.answers)}:`);
    console.log(
      `      open sockets: idle ${x.base.sockets} → peak ${x.peak.sockets} (${ratio(x.peak.sockets, x.base.sockets)}) → after ${x.after.sockets} (${ratio(x.after.sockets, x.base.sockets)})`,
    );
    console.log(
      `      relay RSS: idle ${mib(x.base.rss)} → peak ${mib(x.peak.rss)} (${ratio(x.peak.rss, x.base.rss)}) → after ${mib(x.after.rss)} (${ratio(x.after.rss, x.base.rss)})`,
    );
    // The relay checks for expired connections every quarter of the headers timeout (app.ts), so a
    // stalled connection is closed up to that long after its timeout.
    const checkMs = HEADERS_TIMEOUT_MS / 4;
    const bound = x.stall.aimMs + checkMs;
    console.log(
      `      each connection closed by the relay: median ${fmt(x.median / 1000, 2)} s, longest ${fmt((x.longest ?? Number.NaN) / 1000, 2)} s after it connected (aim: within the ${x.stall.aimMs / 1000} s timeout + the ${checkMs / 1000} s check interval; ratio longest/timeout ${fmt((x.longest ?? Number.NaN) / x.stall.aimMs, 2)}) ${verdict(x.longest !== undefined && x.longest <= bound)}`,
    );
    console.log(
      `      all ${STALLED} connected within ${fmt(x.connectedMs / 1000, 2)} s; the relay was back to its idle socket count ${fmt((x.backAt ?? Number.NaN) / 1000, 2)} s after the first`,
    );
  }
}

/** /healthz from its own process at 50 requests a second, until `stop()`. */
function pingHealthz(url) {
  return readLoad(`${url}/healthz`);
}

/**
 * The relay's own event-loop delay since the previous call: prom-client's `nodejs_eventloop_lag_*`
 * gauges from `/metrics`, read from a `monitorEventLoopDelay` histogram that every scrape resets.
 * Its samples are the intervals of a 10 ms timer, so a loop that never blocks reads about 10 ms;
 * `delay` is what came on top of that.
 */
async function loopLag(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const ms = (name) =>
    Number(new RegExp(`^nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1]) * 1000;
  const interval = { p50: ms('p50'), p99: ms('p99'), max: ms('max') };
  return { interval, delay: { p99: Math.max(0, interval.p99 - 10), max: Math.max(0, interval.max - 10) } };
}

/**
 * Time the relay's main thread (its event loop) spent on a CPU and runnable but waiting for one,
 * in ms so far (Linux /proc schedstat of the thread whose id is the process id).
 */
function mainThreadSched(pid) {
  const [onCpu, waiting] = fs
    .readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')
    .split(' ')
    .map(Number);
  return { onCpuMs: onCpu / 1e6, waitingMs: waiting / 1e6 };
}

/**
 * The upload client (upload-burst.mjs) in its own process at niceness 19: it competes with the
 * relay for the same cores, and an attacker's client would run on their own machine.
 */
async function startUploadClient(spec) {
  const child = spawn(process.execPath, [path.join(HERE, 'upload-burst.mjs'), JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  try {
    os.setPriority(child.pid, 19);
  } catch {
    // not permitted here: the client keeps the bench's priority
  }
  const lines = [];
  let buffered = '';
  const waiters = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buffered += d;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      lines.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
      waiters.shift()?.();
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const nextLine = async () => {
    while (lines.length === 0) {
      const more = new Promise((resolve) => waiters.push(resolve));
      if (
        (await Promise.race([more.then(() => 'line'), exited.then(() => 'exit')])) === 'exit' &&
        !lines.length
      )
        throw new Error('the upload client exited early');
    }
    return lines.shift();
  };
  if ((await nextLine()) !== 'ready') throw new Error('the upload client did not get ready');
  return {
    pid: child.pid,
    /** Sends the uploads to `url`, each with its token; answers their outcomes. */
    async go(url, tokens) {
      child.stdin.write(`${JSON.stringify({ url, tokens })}\n`);
      return JSON.parse(await nextLine());
    },
  };
}

async function probes() {
  // The bombs are built before the relay starts: the client at niceness 19 may take long on a
  // loaded machine, and the relay's warm probe children end after a minute idle (a burst after
  // that forks them; docs/reliability.md (5)). This section measures a relay started just before.
  const uploads = [
    ...Array.from({ length: MP3_BOMBS }, (_, i) => ({
      member: i < 2 ? 0 : 1,
      kind: 'audio',
      contentType: 'audio/mpeg',
      name: `bomb${i + 1}.mp3`,
      bomb: { type: 'mp3', size: MP3_BOMB_BYTES },
    })),
    {
      member: 0,
      kind: 'video',
      contentType: 'video/mp4',
      name: 'bomb.mp4',
      bomb: { type: 'mp4', size: MP4_BOMB_SAMPLES },
    },
  ];
  const client = await startUploadClient({ capMs: PROBE_CAP_MS, uploads });
  const r = await startRelay({ RETALK_MEMBER_STORAGE_MB: '4096' });
  // Uploads in progress are capped per member (4): the bombs come from two members, as a team's would.
  const tokens = [r.token, await addMember(r.dataDir, 'bench2')];
  const pid = r.relay.pid;
  let idleRun;
  let attackRun;
  let answers;
  let idleLag;
  let attackLag;
  let sched;
  let forked;
  const rss = { before: 0, peak: 0 };
  try {
    await loopLag(r.url);
    const idlePing = pingHealthz(r.url);
    await sleep(5_000);
    idleRun = await idlePing.stop();
    idleLag = await loopLag(r.url);
    rss.before = rssBytes(pid);
    const watch = sampler(pid, 100);
    const ping = pingHealthz(r.url);
    const schedBefore = mainThreadSched(pid);
    const started = performance.now();
    answers = await client.go(
      r.url,
      uploads.map((u) => tokens[u.member]),
    );
    const seconds = (performance.now() - started) / 1000;
    const schedAfter = mainThreadSched(pid);
    attackLag = await loopLag(r.url);
    attackRun = { ...(await ping.stop()), seconds };
    watch.stop();
    rss.peak = watch.peak.rss;
    forked = watch.started.size;
    sched = {
      onCpuMs: schedAfter.onCpuMs - schedBefore.onCpuMs,
      waitingMs: schedAfter.waitingMs - schedBefore.waitingMs,
    };
  } finally {
    if (r.relay.exitCode !== null)
      console.log(`the relay exited (${r.relay.exitCode}):\n${r.relay.output().slice(-2000)}`);
    r.close();
  }
  const mp3Bytes = answers.find((a) => a.name.endsWith('.mp3'))?.bytes ?? 0;
  const mp4Bytes = answers.find((a) => a.name.endsWith('.mp4'))?.bytes ?? 0;
  console.log(
    `(5) /healthz (50 req/s from its own process) while ${MP3_BOMBS} MP3 bombs (${fmt(mp3Bytes / 1e6, 0)} MB each) and an MP4 sample-table bomb (${fmt(mp4Bytes / 1e6, 0)} MB, ${MP4_BOMB_SAMPLES / 1e6} M samples) are uploaded and probed at once`,
  );
  console.log(
    `    the uploads come from their own process at niceness 19; load average ${os
      .loadavg()
      .map((l) => fmt(l, 2))
      .join(' ')} at the end (${os.cpus().length} cores)`,
  );
  console.log('    baseline: the same relay idle for 5 s just before');
  for (const a of answers)
    console.log(
      `    ${a.name}: HTTP ${a.status} after ${fmt(a.seconds, 2)} s${a.message ? ` (${String(a.message).slice(0, 100)})` : ''}`,
    );
  const ratio = (v, b) => `×${fmt(v / b, 1)}`;
  console.log(
    `    idle:   ${idleRun.requests} requests, p50 ${fmt(idleRun.p50, 2)} ms, p99 ${fmt(idleRun.p99, 2)} ms, max ${fmt(idleRun.max, 2)} ms; relay event-loop delay p99 ${fmt(idleLag.delay.p99, 1)} ms, max ${fmt(idleLag.delay.max, 1)} ms`,
  );
  console.log(
    `    attack: ${attackRun.requests} requests over ${fmt(attackRun.seconds, 1)} s, p50 ${fmt(attackRun.p50, 2)} ms (${ratio(attackRun.p50, idleRun.p50)}), p99 ${fmt(attackRun.p99, 2)} ms (${ratio(attackRun.p99, idleRun.p99)}), max ${fmt(attackRun.max, 2)} ms (${ratio(attackRun.max, idleRun.max)}), errors ${attackRun.errors + attackRun.statusErrors - attackRun.unanswered}, still unanswered at the end ${attackRun.unanswered} (counted with their wait so far)`,
  );
  console.log(
    `    relay event loop during the attack: delay p99 ${fmt(attackLag.delay.p99, 1)} ms, max ${fmt(attackLag.delay.max, 1)} ms (nodejs_eventloop_lag_p99/max_seconds ${fmt(attackLag.interval.p99, 1)} / ${fmt(attackLag.interval.max, 1)} ms less the 10 ms timer); its thread ran ${fmt(sched.onCpuMs, 0)} ms and waited for a CPU ${fmt(sched.waitingMs, 0)} ms of the ${fmt(attackRun.seconds * 1000, 0)} ms; child processes it started meanwhile ${forked} (seen every 100 ms)`,
  );
  console.log(
    `    /healthz p99 during the probes: ${fmt(attackRun.p99, 1)} ms (aim < ${HEALTHZ_AIM_MS} ms; ratio to the aim ${fmt(attackRun.p99 / HEALTHZ_AIM_MS, 2)}) ${verdict(attackRun.p99 < HEALTHZ_AIM_MS)}; the relay's own loop delay p99 ${fmt(attackLag.delay.p99, 1)} ms (ratio to the aim ${fmt(attackLag.delay.p99 / HEALTHZ_AIM_MS, 2)}); relay RSS ${mib(rss.before)} → peak ${mib(rss.peak)} (${ratio(rss.peak, rss.before)})`,
  );
}

try {
  console.log(
    `\nRetalk relay bench, hostile clients — ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}, loopback\n`,
  );
  if (!only || only === 'stalls') await stalls();
  if (!only || only === 'probes') await probes();
} finally {
  stopChildren();
}
