// `pnpm bench` for the conform executor: time to conform a 1080p VP9 WebM clip (trim, VP9 → H.264,
// WebM → MP4, sound dropped), per second of output. Baseline: the clip's own length (1.00× means
// converting takes as long as playing the clip).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AudioSample,
  AudioSampleSource,
  FilePathTarget,
  Output,
  VideoSample,
  VideoSampleSource,
  WebMOutputFormat,
} from 'mediabunny';
import { H264_ENCODER_OPTIONS, useNodeCodecs } from '../dist/media/node.js';

const WIDTH = 1920;
const HEIGHT = 1080;
const FPS = 30;
const SOURCE_SEC = 12;
const CLIP = { startSec: 2, endSec: 10 };
/** The issue's aim for a conforming process (x264's defaults peaked at 630 MB here). */
const RSS_AIM_MB = 300;

async function makeSource(path) {
  const output = new Output({ format: new WebMOutputFormat(), target: new FilePathTarget(path) });
  const video = new VideoSampleSource({ codec: 'vp9', bitrate: 4_000_000, latencyMode: 'realtime' });
  const audio = new AudioSampleSource({ codec: 'opus', bitrate: 96_000 });
  output.addVideoTrack(video, { frameRate: FPS });
  output.addAudioTrack(audio);
  await output.start();
  const pixels = new Uint8Array(WIDTH * HEIGHT * 4);
  for (let i = 0; i < SOURCE_SEC * FPS; i++) {
    // A moving gradient: something for the encoder to work on, unlike a flat frame.
    for (let y = 0; y < HEIGHT; y += 1) {
      const v = (y + i * 4) & 255;
      pixels.fill(v, y * WIDTH * 4, (y + 1) * WIDTH * 4);
    }
    // …and a moving 320×320 patch of noise, which no encoder can shrink to nothing.
    const left = (i * 16) % (WIDTH - 320);
    for (let y = 380; y < 700; y++) {
      for (let x = left * 4; x < (left + 320) * 4; x++) pixels[y * WIDTH * 4 + x] = (Math.random() * 256) | 0;
    }
    const frame = new VideoSample(pixels, {
      format: 'RGBA',
      codedWidth: WIDTH,
      codedHeight: HEIGHT,
      timestamp: i / FPS,
      duration: 1 / FPS,
    });
    await video.add(frame);
    frame.close();
  }
  const rate = 48_000;
  const data = new Float32Array(rate * SOURCE_SEC).map((_, i) => 0.2 * Math.sin(i / 20));
  const sample = new AudioSample({
    data,
    format: 'f32',
    numberOfChannels: 1,
    sampleRate: rate,
    timestamp: 0,
  });
  await audio.add(sample);
  sample.close();
  await output.finalize();
}

/** Conforms in a child process, so its time and peak memory are the conform's alone. */
function conformInChild(source, out) {
  const script = `
    import { conformFile } from ${JSON.stringify(new URL('../dist/media/node.js', import.meta.url).href)};
    const started = performance.now();
    const result = await conformFile(${JSON.stringify(source)}, ${JSON.stringify(out)}, 'video',
      { provider: 'dashscope', clip: ${JSON.stringify(CLIP)} });
    const usage = process.resourceUsage();
    console.log(JSON.stringify({ result, wallSec: (performance.now() - started) / 1000,
      cpuSec: (usage.userCPUTime + usage.systemCPUTime) / 1e6, maxRssMb: usage.maxRSS / 1024 }));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { maxBuffer: 1 << 20 },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout))),
    );
  });
}

await useNodeCodecs();
const dir = await mkdtemp(join(tmpdir(), 'retalk-bench-conform-'));
try {
  const source = join(dir, 'talk-1080p.webm');
  await makeSource(source);
  const clipSec = CLIP.endSec - CLIP.startSec;
  const { result, wallSec, cpuSec, maxRssMb } = await conformInChild(source, join(dir, 'talk.mp4'));
  const v = result.output.video;
  const perSec = wallSec / clipSec;
  console.log(
    `Conform (mediabunny + @mediabunny/server, libx264 ${Object.entries(H264_ENCODER_OPTIONS)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}, ${availableParallelism()} cores):`,
  );
  console.log(
    `  source: ${WIDTH}×${HEIGHT} ${FPS} fps VP9 WebM with Opus, ${SOURCE_SEC} s; clip ${clipSec} s`,
  );
  console.log(`  changes: ${result.plan.changes.join('; ')}`);
  console.log(
    `  output: ${v.width}×${v.height} ${v.fps} fps ${v.codec}, ${result.output.durationSec.toFixed(2)} s, ${(result.sizeBytes / 1024).toFixed(0)} KB`,
  );
  console.log(
    `  conform time: ${wallSec.toFixed(2)} s wall = ${perSec.toFixed(2)} s per output second = ${perSec.toFixed(2)} × the clip's own length (baseline 1.00×)`,
  );
  console.log(
    `  CPU time: ${cpuSec.toFixed(2)} s = ${(cpuSec / clipSec).toFixed(2)} CPU-s per output second`,
  );
  console.log(
    `  peak RSS of the conforming process: ${maxRssMb.toFixed(0)} MB = ${(maxRssMb / RSS_AIM_MB).toFixed(2)} × the ${RSS_AIM_MB} MB aim`,
  );
  console.log(`  machine load average while measuring: ${loadavgText()}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

function loadavgText() {
  return loadavg()
    .map((n) => n.toFixed(1))
    .join(' / ');
}
