// `pnpm bench` in apps/relay, part 3: the relay while it conforms (issue 8). The relay runs as a
// child process (dist/main.js, simulator mode); every child is stopped at the end.
//   (6) status-read p99 (GET /v1/jobs/:id at 50 req/s from its own process) while a 1080p clip is
//       conformed, against the same reads on the idle relay (the named baseline; aim < 2×);
//   (7) peak RSS of the relay's process tree (the relay and its pool's children) while conforming
//       clips of large originals: a long 1080p H.264 MKV and a 1 GB WAV, against the idle tree and
//       the 300 MB aim.
// Sizes: BENCH_VIDEO_SEC (default 120 s of 1080p at about 16 Mbit/s, ~240 MB) and BENCH_WAV_MB
// (default 1024). Making a 1 GB video at bench time takes longer than the bench should, so the
// 1 GB original is the WAV; the video's size is printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCodecs, makeAudio } from '@retalk/simulator/media';
import { FilePathTarget, MkvOutputFormat, Output, VideoSample, VideoSampleSource } from 'mediabunny';
import { runCli } from '../dist/commands.js';
import {
  fmt,
  freePort,
  mib,
  readLoad,
  rssBytes,
  rssSplit,
  start,
  stopChildren,
  verdict,
  waitForHttp,
} from './lib.mjs';

const HERE = import.meta.dirname;
const RELAY_DIR = path.resolve(HERE, '..');
const VIDEO_SEC = Number(process.env.BENCH_VIDEO_SEC ?? 120);
const WAV_MB = Number(process.env.BENCH_WAV_MB ?? 1024);
const RSS_AIM_MB = 300;
const P99_AIM_RATIO = 2;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A 1080p 30 fps H.264 MKV: a moving gradient and a moving patch of noise (an encoder cannot shrink it away). */
async function makeLongVideo(file, seconds) {
  await loadCodecs();
  const width = 1920;
  const height = 1080;
  const fps = 30;
  const output = new Output({ format: new MkvOutputFormat(), target: new FilePathTarget(file) });
  const video = new VideoSampleSource({ codec: 'avc', bitrate: 16_000_000, latencyMode: 'realtime' });
  output.addVideoTrack(video, { frameRate: fps });
  await output.start();
  const pixels = new Uint8Array(width * height * 4);
  for (let i = 0; i < seconds * fps; i++) {
    for (let y = 0; y < height; y += 4) pixels.fill((y + i * 4) & 255, y * width * 4, (y + 4) * width * 4);
    const left = (i * 16) % (width - 480);
    for (let y = 300; y < 780; y++) {
      const row = y * width * 4;
      for (let x = left * 4; x < (left + 480) * 4; x++) pixels[row + x] = (Math.random() * 256) | 0;
    }
    const frame = new VideoSample(pixels, {
      format: 'RGBA',
      codedWidth: width,
      codedHeight: height,
      timestamp: i / fps,
      duration: 1 / fps,
    });
    await video.add(frame);
    frame.close();
  }
  await output.finalize();
}

/** A mono 16-bit 48 kHz WAV of about `mb` MiB (a quiet tone), written in 8 MiB blocks. */
function makeWav(file, mb) {
  const rate = 48_000;
  const dataBytes = Math.floor((mb * 1024 * 1024 - 44) / 2) * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(dataBytes, 40);
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, header);
  const block = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < block.length / 2; i++) block.writeInt16LE(Math.round(3000 * Math.sin(i / 12)), i * 2);
  for (let left = dataBytes; left > 0; left -= block.length)
    fs.writeSync(fd, block, 0, Math.min(left, block.length));
  fs.closeSync(fd);
  return dataBytes / (rate * 2);
}

async function addMember(dataDir) {
  const lines = [];
  await runCli(['members', 'add', 'bench'], {
    env: { RETALK_DATA_DIR: dataDir },
    cwd: RELAY_DIR,
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
  });
  return /rtk_[A-Za-z0-9_-]{43}/.exec(lines.join('\n'))?.[0];
}

/** Pids of a process and every descendant, from /proc. */
function treeOf(pid) {
  const children = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(fs.readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []));
  return out;
}

/**
 * RSS of the relay alone, of its largest child (and that child's own memory, without the shared
 * code pages), and of the whole tree, in bytes.
 */
function treeRss(pid) {
  const out = { tree: 0, child: 0, childAnon: 0, relay: 0 };
  for (const p of treeOf(pid)) {
    try {
      const rss = rssBytes(p);
      out.tree += rss;
      if (p === pid) out.relay = rss;
      else if (rss > out.child) {
        out.child = rss;
        out.childAnon = rssSplit(p).anon;
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function api(base, token, method, urlPath, body) {
  const res = await fetch(`${base}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}

async function upload(base, token, kind, file, type) {
  const res = await fetch(`${base}/v1/uploads?kind=${kind}&filename=${path.basename(file)}`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': type,
      'content-length': String(fs.statSync(file).size),
    },
    body: fs.createReadStream(file),
    duplex: 'half',
  });
  const json = await res.json();
  if (res.status !== 201) throw new Error(`upload of ${file}: ${res.status} ${JSON.stringify(json)}`);
  return json.id;
}

/** Creates a job and follows it while it is received/preparing, sampling the relay tree's RSS. */
async function conformJob(relay, base, token, body) {
  const created = await api(base, token, 'POST', '/v1/jobs', body);
  if (created.status !== 201) throw new Error(`job: ${created.status} ${JSON.stringify(created.json)}`);
  const id = created.json.id;
  const peak = { tree: 0, child: 0, childAnon: 0, relay: 0 };
  const started = performance.now();
  let job = created.json;
  while (job.status === 'received' || (job.status === 'preparing' && job.progress < 100)) {
    const now = treeRss(relay.pid);
    if (now.child > peak.child) peak.childAnon = now.childAnon;
    for (const k of ['tree', 'child', 'relay']) peak[k] = Math.max(peak[k], now[k]);
    await sleep(100);
    job = (await api(base, token, 'GET', `/v1/jobs/${id}`)).json;
  }
  return { id, job, peak, seconds: (performance.now() - started) / 1000 };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retalk-bench-conform-'));
try {
  const videoFile = path.join(dir, 'talk-1080p.mkv');
  const wavFile = path.join(dir, 'talk-long.wav');
  let t = performance.now();
  await makeLongVideo(videoFile, VIDEO_SEC);
  const videoBytes = fs.statSync(videoFile).size;
  console.error(
    `  made ${VIDEO_SEC} s of 1080p H.264 (${mib(videoBytes)}) in ${fmt((performance.now() - t) / 1000)} s`,
  );
  t = performance.now();
  const wavSec = makeWav(wavFile, WAV_MB);
  const smallWavFile = path.join(dir, 'talk-short.wav');
  const smallWavSec = makeWav(smallWavFile, 32);
  const wavBytes = fs.statSync(wavFile).size;
  console.error(
    `  made a ${fmt(wavSec / 60)} min WAV (${mib(wavBytes)}) in ${fmt((performance.now() - t) / 1000)} s`,
  );
  const voice = await makeAudio({ container: 'm4a', codec: 'aac', durationSec: 30 });

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'retalk-bench-conform-relay-'));
  const port = await freePort();
  const token = await addMember(dataDir);
  const relay = start(process.execPath, [path.join(RELAY_DIR, 'dist/main.js')], {
    RETALK_DATA_DIR: dataDir,
    RETALK_LOG_LEVEL: 'warn',
    RETALK_RATE_LIMIT_PER_MINUTE: '1000000',
    RETALK_MAX_UPLOAD_MB: String(Math.max(2048, WAV_MB + 64)),
    RETALK_MEMBER_STORAGE_MB: String(4 * Math.max(2048, WAV_MB + 64)),
    RETALK_SIM_RESULT_MODE: 'echo',
    HOST: '127.0.0.1',
    PORT: String(port),
  });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/healthz`);
  const videoId = await upload(base, token, 'video', videoFile, 'video/x-matroska');
  const voiceId = await upload(base, token, 'audio', voice, 'audio/mp4');
  const wavId = await upload(base, token, 'audio', wavFile, 'audio/wav');
  const smallWavId = await upload(base, token, 'audio', smallWavFile, 'audio/wav');
  // A job to read: the small fixture, which needs no conform, run to its end first.
  const fixture = path.resolve(RELAY_DIR, '../../packages/simulator/fixtures/talking-640x640-25fps-3s.mp4');
  const smallId = await upload(base, token, 'video', fixture, 'video/mp4');
  const idleJob = await conformJob(relay, base, token, {
    video: { uploadId: smallId },
    audio: { uploadId: voiceId },
  });
  await sleep(2_000);
  const idleRss = treeRss(relay.pid);

  // (6) status reads, idle then while a 30 s 1080p clip is conformed (trim → re-encode H.264).
  const readUrl = `${base}/v1/jobs/${idleJob.id}`;
  let reader = readLoad(readUrl, { headers: { authorization: `Bearer ${token}` } });
  await sleep(10_000);
  const idleReads = await reader.stop();
  reader = readLoad(readUrl, { headers: { authorization: `Bearer ${token}` } });
  const videoRun = await conformJob(relay, base, token, {
    video: { uploadId: videoId, startSec: 30, endSec: 60 },
    audio: { uploadId: voiceId },
  });
  const busyReads = await reader.stop();

  // (7) a 60 s clip from the middle of the 1 GB WAV, and the same clip of a 32 MiB WAV (flatness).
  const clipOf = (id, sec) => ({
    video: { uploadId: smallId },
    audio: { uploadId: id, startSec: Math.floor(sec / 2) - 30, endSec: Math.floor(sec / 2) + 30 },
    videoExtension: true,
  });
  const smallWavRun = await conformJob(relay, base, token, clipOf(smallWavId, smallWavSec));
  const wavRun = await conformJob(relay, base, token, clipOf(wavId, wavSec));

  const ratio = (a, b) => `${fmt(a / b, 2)}×`;
  console.log(
    '(6) status reads (GET /v1/jobs/:id, 50 req/s from its own process), baseline: the same reads on the idle relay',
  );
  console.log(
    `    idle:        ${idleReads.requests} requests, p50 ${fmt(idleReads.p50, 2)} ms, p99 ${fmt(idleReads.p99, 2)} ms`,
  );
  console.log(
    `    conforming:  ${busyReads.requests} requests over the ${fmt(videoRun.seconds)} s conform of a 30 s 1080p clip (${videoRun.job.status}, ${videoRun.job.conform?.video?.changes.join('; ')}), p50 ${fmt(busyReads.p50, 2)} ms (${ratio(busyReads.p50, idleReads.p50)}), p99 ${fmt(busyReads.p99, 2)} ms (${ratio(busyReads.p99, idleReads.p99)} idle; aim < ${P99_AIM_RATIO}×) ${verdict(busyReads.p99 / idleReads.p99 < P99_AIM_RATIO)}, errors ${busyReads.errors + busyReads.statusErrors}`,
  );
  console.log(
    `    conform time: ${fmt(videoRun.seconds)} s for 30 s of output (${ratio(videoRun.seconds, 30)} the clip's own length)`,
  );
  console.log(
    '(7) peak RSS while conforming; baselines: the idle relay, the same clip of a small original, the 300 MB aim',
  );
  console.log(
    `    idle: relay ${mib(idleRss.relay)}, tree ${mib(idleRss.tree)} (warm probe children included)`,
  );
  const smallWavBytes = fs.statSync(smallWavFile).size;
  const runs = [
    [`30 s clip of a ${VIDEO_SEC} s 1080p H.264 MKV`, videoRun, videoBytes],
    [`60 s clip of a ${fmt(smallWavSec / 60)} min WAV`, smallWavRun, smallWavBytes],
    [`60 s clip of a ${fmt(wavSec / 60)} min WAV`, wavRun, wavBytes],
  ];
  for (const [what, run, bytes] of runs) {
    console.log(
      `    ${what} (original ${mib(bytes)}, ${run.job.status}): conform child ${mib(run.peak.child)} (${ratio(run.peak.child / 1048576, RSS_AIM_MB)} of the aim) ${verdict(run.peak.child < RSS_AIM_MB * 1048576)}, of which its own ${mib(run.peak.childAnon)} (the rest is shared code: node and node-av's FFmpeg); relay ${mib(run.peak.relay)} (${ratio(run.peak.relay, idleRss.relay)} idle); tree ${mib(run.peak.tree)} (${ratio(run.peak.tree, idleRss.tree)} idle)`,
    );
  }
  console.log(
    `    flat: with a ${fmt(wavBytes / smallWavBytes, 0)}× larger original, the conform child peaks at ${ratio(wavRun.peak.child, smallWavRun.peak.child)} (60 s clip of a WAV, 1 GB vs 32 MiB)`,
  );
  relay.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
} finally {
  stopChildren();
  fs.rmSync(dir, { recursive: true, force: true });
}
