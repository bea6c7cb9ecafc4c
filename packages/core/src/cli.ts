#!/usr/bin/env node
import { createWriteStream } from 'node:fs';
import { mkdtemp, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Client, createClient } from './client.js';
import type { ClipRange } from './conform/plan.js';
import type { MediaKind } from './conform/probed-media.js';
import { createConformProgress } from './conform-progress.js';
import { InvalidRequestError, isRetalkError, NetworkError, type RetalkErrorCode } from './errors.js';
import { createKeepAliveFetch, uploadFilePath } from './node/index.js';
import { acceptsUpload, PROVIDER_CAPABILITIES } from './providers/capabilities.js';
import { type LipSyncRequest, PROVIDERS, type Provider, type Task } from './task.js';

/** Exit status per outcome, so scripts can branch without parsing text. */
export const EXIT_CODES: Readonly<Record<RetalkErrorCode | 'ok' | 'usage' | 'unexpected', number>> = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  invalid_request: 2,
  auth: 3,
  permission: 3,
  quota: 4,
  rate_limited: 5,
  task_failed: 6,
  timeout: 7,
  network: 8,
  provider_unavailable: 8,
  not_found: 9,
  response_validation: 10,
  not_supported: 11,
  conform: 12,
  aborted: 130,
};

const HELP = `retalk — lip-sync a video to new audio through VideoRetalk

Usage:
  retalk run --provider evolink|dashscope --video <url|path> --audio <url|path> [options]
  retalk demo [--provider dashscope|evolink] [--job-ms N] [--out file.mp4]
  retalk --help

run options:
  --provider <name>     evolink or dashscope (required)
  --video <url|path>    input video; a local path is uploaded through the provider's storage
  --audio <url|path>    new speech; a local path is uploaded the same way
  --start <s> --end <s>  use only this part of the video (seconds; local file)
  --audio-start <s> --audio-end <s>  use only this part of the audio (seconds; local file)
  --ref-image <url|path> image of the face to re-lip when several people are visible
  --no-conform          upload local files as they are (by default each is first made to fit
                        the provider's limits: trimmed, scaled, re-timed, converted to H.264 MP4
                        or WAV, with every change printed)
  --extend              make the output as long as the audio (video extension)
  --threshold <N>       face match strictness, integer 120–200 (default 170)
  --base-url <URL>      API base (DashScope reseller prefix, proxy, or the simulator)
  --out <file>          download the result to this file
  --timeout <seconds>   give up waiting after this many seconds (default: no limit)
  --json                print the final task (or the error) as JSON on stdout

demo: starts the bundled provider simulator in-process and runs a full job on its fixtures
  (a local audio file is uploaded, the job is tracked live, the result downloaded).

Environment:
  RETALK_API_KEY        the provider API key (required for run)

Exit codes: 0 ok · 2 invalid input · 3 auth/permission · 4 quota · 5 rate limited ·
  6 task failed · 7 timeout · 8 network/provider down · 9 not found · 10 bad provider answer ·
  11 not supported · 12 media cannot be made to fit · 130 interrupted · 1 anything else
`;

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

class UsageError extends Error {}

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function progressLine(task: Task, elapsedMs: number): string {
  const width = 20;
  const filled = Math.round((task.progress / 100) * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const eta =
    task.etaMs !== undefined && task.status !== 'succeeded' ? `  eta ${formatDuration(task.etaMs)}` : '';
  return `[${bar}] ${String(Math.round(task.progress)).padStart(3)}%  ${task.status.padEnd(9)}${eta}  elapsed ${formatDuration(elapsedMs)}`;
}

/** Shows progress: one rewritten line on a terminal, plain lines (on change) otherwise. */
function createProgress(stream: NodeJS.WriteStream) {
  const started = Date.now();
  const tty = stream.isTTY === true;
  let lastPlain = '';
  let lastTask: Task | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  const draw = () => {
    if (lastTask) stream.write(`\r\x1b[2K${progressLine(lastTask, Date.now() - started)}`);
  };
  return {
    update(task: Task) {
      lastTask = task;
      if (tty) {
        draw();
        // Keep the elapsed clock moving between polls.
        ticker ??= setInterval(draw, 1000);
        return;
      }
      const line = `${task.status} ${Math.floor(task.progress / 10) * 10}%`;
      if (line !== lastPlain) {
        lastPlain = line;
        stream.write(`${progressLine(task, Date.now() - started)}\n`);
      }
    },
    done() {
      if (ticker) clearInterval(ticker);
      ticker = undefined;
      if (tty && lastTask) stream.write('\n');
      lastTask = undefined;
    },
  };
}

/** One local input to make fit. */
interface LocalInput {
  key: 'video' | 'audio' | 'refImage';
  path: string;
  kind: MediaKind;
  clip: ClipRange | undefined;
}

/**
 * Makes local inputs fit the provider's limits (see planConform) and returns the path to upload
 * for each: the file itself when nothing needs changing, otherwise a converted copy in `workDir`.
 * Every input is planned before any is converted, so a refusal costs no conversion time.
 */
async function conformInputs(
  inputs: LocalInput[],
  provider: Provider,
  workDir: string,
  io: Io,
  signal: AbortSignal,
): Promise<Map<LocalInput['key'], string>> {
  for (const input of inputs) {
    const info = await stat(resolve(input.path)).catch(() => undefined);
    if (!info?.isFile()) {
      throw new InvalidRequestError(`Cannot read ${input.path}: no such file`, {
        field: input.key,
        allowed: 'a readable local file or a URL',
      });
    }
  }
  // Loaded only now: FFmpeg's libraries are large and most commands never need them.
  const { conformFile, planFile } = await import('./media/node.js');
  const plans = [];
  for (const input of inputs) {
    const { plan } = await planFile(resolve(input.path), input.kind, { provider, clip: input.clip, signal });
    plans.push({ input, plan });
  }
  const paths = new Map<LocalInput['key'], string>();
  for (const { input, plan } of plans) {
    const source = resolve(input.path);
    if (plan.passthrough) {
      io.stderr.write(`${input.path} fits ${provider}'s limits as it is.\n`);
      paths.set(input.key, source);
      continue;
    }
    io.stderr.write(`Conforming ${input.path} to ${provider}'s limits:\n`);
    for (const change of plan.changes) io.stderr.write(`  - ${change}\n`);
    const ext = plan.output.container === 'wav' ? '.wav' : plan.output.container === 'jpeg' ? '.jpg' : '.mp4';
    const out = join(workDir, `${input.key}-${basename(input.path, extname(input.path))}${ext}`);
    const progress = createConformProgress(io.stderr, basename(input.path));
    try {
      const result = await conformFile(source, out, input.kind, {
        provider,
        clip: input.clip,
        signal,
        onProgress: (f) => progress.update(f),
      });
      progress.done();
      const o = result.output;
      const shape = o.video ? `${o.video.width}×${o.video.height} ${o.video.fps} fps ${o.video.codec}, ` : '';
      io.stderr.write(
        `  → ${shape}${o.durationSec?.toFixed(1)} s, ${(result.sizeBytes / 1024).toFixed(0)} KB ${o.container}\n`,
      );
    } finally {
      progress.done();
    }
    paths.set(input.key, out);
  }
  return paths;
}

function isUrl(value: string): boolean {
  return /^(https?|oss):\/\//i.test(value);
}

async function resolveInput(client: Client, value: string, io: Io, signal: AbortSignal): Promise<string> {
  if (isUrl(value)) return value;
  io.stderr.write(`Uploading ${value} to ${client.provider} storage…\n`);
  const uploaded = await uploadFilePath(client, resolve(value), { signal });
  io.stderr.write(`  → ${uploaded.url}${uploaded.expiresAt ? ` (until ${uploaded.expiresAt})` : ''}\n`);
  return uploaded.url;
}

async function download(
  url: string,
  out: string,
  fetchImpl: typeof fetch,
  signal: AbortSignal,
): Promise<number> {
  let response: Response;
  try {
    response = await fetchImpl(url, { signal });
  } catch (cause) {
    throw new NetworkError(`Could not download the result: ${(cause as Error).message}`, { cause });
  }
  if (!response.ok || !response.body) {
    throw new NetworkError(`Could not download the result: HTTP ${response.status} (the link lasts 24 h)`, {
      status: response.status,
    });
  }
  const partial = `${out}.part`;
  let bytes = 0;
  const counted = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  counted.on('data', (chunk: Uint8Array) => {
    bytes += chunk.length;
  });
  try {
    await pipeline(counted, createWriteStream(partial));
    await rename(partial, out);
  } catch (cause) {
    await unlink(partial).catch(() => {});
    throw new NetworkError(`Downloading the result broke off: ${(cause as Error).message}`, { cause });
  }
  return bytes;
}

interface RunArgs {
  provider: Provider;
  apiKey: string;
  video: string;
  audio: string;
  refImage?: string | undefined;
  /** Part of the video to use (local files). */
  videoClip?: ClipRange | undefined;
  /** Part of the audio to use (local files). */
  audioClip?: ClipRange | undefined;
  /** Make local inputs fit the provider's limits before uploading (default true). */
  conform?: boolean | undefined;
  extend: boolean;
  threshold?: number | undefined;
  baseUrl?: string | undefined;
  out?: string | undefined;
  timeoutMs?: number | undefined;
  /** DashScope progress estimate basis, in ms (the demo knows its simulator's job time). */
  typicalJobMs?: number | undefined;
  json: boolean;
}

async function runJob(args: RunArgs, io: Io, signal: AbortSignal): Promise<Task> {
  const keepAlive = createKeepAliveFetch();
  const progress = createProgress(io.stderr);
  let workDir: string | undefined;
  try {
    if (args.conform !== false) {
      const inputs: LocalInput[] = [];
      if (!isUrl(args.video))
        inputs.push({ key: 'video', path: args.video, kind: 'video', clip: args.videoClip });
      if (!isUrl(args.audio))
        inputs.push({ key: 'audio', path: args.audio, kind: 'audio', clip: args.audioClip });
      if (args.refImage !== undefined && !isUrl(args.refImage)) {
        inputs.push({ key: 'refImage', path: args.refImage, kind: 'image', clip: undefined });
      }
      if (inputs.length > 0) {
        workDir = await mkdtemp(join(tmpdir(), 'retalk-conform-'));
        const paths = await conformInputs(inputs, args.provider, workDir, io, signal);
        args = {
          ...args,
          video: paths.get('video') ?? args.video,
          audio: paths.get('audio') ?? args.audio,
          refImage: paths.get('refImage') ?? args.refImage,
        };
      }
    }
    const client = createClient({
      provider: args.provider,
      apiKey: args.apiKey,
      baseUrl: args.baseUrl,
      fetch: keepAlive.fetch,
      typicalJobMs: args.typicalJobMs,
    });
    const request: LipSyncRequest = {
      video: await resolveInput(client, args.video, io, signal),
      audio: await resolveInput(client, args.audio, io, signal),
    };
    if (args.refImage !== undefined) request.refImage = await resolveInput(client, args.refImage, io, signal);
    if (args.extend) request.videoExtension = true;
    if (args.threshold !== undefined) request.faceThreshold = args.threshold;
    io.stderr.write(`Submitting to ${args.provider}…\n`);
    let announced = false;
    const task = await client.run(request, {
      signal,
      timeoutMs: args.timeoutMs,
      onUpdate: (t) => {
        if (!announced) {
          announced = true;
          io.stderr.write(`Task ${t.id}\n`);
        }
        progress.update(t);
      },
    });
    progress.done();
    if (args.out && task.resultUrl) {
      const out = resolve(args.out);
      io.stderr.write(`Downloading the result to ${out}…\n`);
      const bytes = await download(task.resultUrl, out, keepAlive.fetch as typeof fetch, signal);
      io.stderr.write(`Saved ${(bytes / 1024).toFixed(0)} KB to ${out}\n`);
    }
    return task;
  } finally {
    progress.done();
    await keepAlive.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}

function printResult(task: Task, args: { json: boolean; out?: string | undefined }, io: Io) {
  if (args.json) {
    io.stdout.write(`${JSON.stringify(task, null, 2)}\n`);
    return;
  }
  io.stdout.write(`Done: task ${task.id} ${task.status}\n`);
  if (task.resultUrl)
    io.stdout.write(
      `Result: ${task.resultUrl}${task.resultExpiresAt ? ` (until ${task.resultExpiresAt})` : ''}\n`,
    );
  if (task.usage?.videoSeconds !== undefined)
    io.stdout.write(`Billed: ${task.usage.videoSeconds} s of video\n`);
  if (task.usage?.credits !== undefined) io.stdout.write(`Credits: ${task.usage.credits}\n`);
  if (args.out) io.stdout.write(`Saved: ${resolve(args.out)}\n`);
}

function parseProvider(value: string | undefined, fallback?: Provider): Provider {
  const v = value ?? fallback;
  if (v === undefined) throw new UsageError('--provider is required: evolink or dashscope');
  if (!(PROVIDERS as readonly string[]).includes(v))
    throw new UsageError(`--provider must be evolink or dashscope, not "${v}"`);
  return v as Provider;
}

function parseNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`${name} must be a number, not "${value}"`);
  return n;
}

/** `--start`/`--end` (or `--audio-start`/`--audio-end`) as a clip; they need a local file to cut. */
function parseClip(
  prefix: '' | 'audio-',
  start: string | undefined,
  end: string | undefined,
  input: string,
  noConform: boolean,
): ClipRange | undefined {
  if (start === undefined && end === undefined) return undefined;
  const flags = `--${prefix}start/--${prefix}end`;
  if (noConform) throw new UsageError(`${flags} cut the file before upload, which --no-conform turns off`);
  if (isUrl(input)) {
    throw new UsageError(`${flags} need a local file to cut; download ${input} first and pass its path`);
  }
  const clip: ClipRange = {};
  const startSec = parseNumber(`--${prefix}start`, start);
  const endSec = parseNumber(`--${prefix}end`, end);
  if (startSec !== undefined) clip.startSec = startSec;
  if (endSec !== undefined) clip.endSec = endSec;
  return clip;
}

async function commandRun(argv: string[], io: Io, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      provider: { type: 'string' },
      video: { type: 'string' },
      audio: { type: 'string' },
      'ref-image': { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      'audio-start': { type: 'string' },
      'audio-end': { type: 'string' },
      'no-conform': { type: 'boolean', default: false },
      extend: { type: 'boolean', default: false },
      threshold: { type: 'string' },
      'base-url': { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT_CODES.ok;
  }
  const provider = parseProvider(values.provider);
  if (!values.video) throw new UsageError('--video is required (a URL or a local file)');
  if (!values.audio) throw new UsageError('--audio is required (a URL or a local file)');
  const apiKey = process.env.RETALK_API_KEY;
  if (!apiKey) throw new UsageError('RETALK_API_KEY is not set: export your provider API key first');
  const timeoutSec = parseNumber('--timeout', values.timeout);
  const videoClip = parseClip('', values.start, values.end, values.video, values['no-conform']);
  const audioClip = parseClip(
    'audio-',
    values['audio-start'],
    values['audio-end'],
    values.audio,
    values['no-conform'],
  );
  const args: RunArgs = {
    provider,
    apiKey,
    video: values.video,
    audio: values.audio,
    refImage: values['ref-image'],
    videoClip,
    audioClip,
    conform: !values['no-conform'],
    extend: values.extend,
    threshold: parseNumber('--threshold', values.threshold),
    baseUrl: values['base-url'],
    out: values.out,
    timeoutMs: timeoutSec === undefined ? undefined : timeoutSec * 1000,
    json: values.json,
  };
  const task = await runJob(args, io, signal);
  printResult(task, args, io);
  return EXIT_CODES.ok;
}

interface SimulatorModule {
  createSimulator(options: { jobMs?: number; resultMode?: 'mux' | 'echo' }): Promise<{
    url: string;
    dashscopeUrl: string;
    fixtureUrl(name: string): string;
    close(): Promise<void>;
  }>;
  SIMULATOR_API_KEY: string;
}

async function commandDemo(argv: string[], io: Io, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      provider: { type: 'string' },
      'job-ms': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout.write(HELP);
    return EXIT_CODES.ok;
  }
  const provider = parseProvider(values.provider, 'dashscope');
  const jobMs = parseNumber('--job-ms', values['job-ms']) ?? 6000;
  // A variable specifier keeps the simulator an optional, dev-only dependency.
  const specifier = '@retalk/simulator';
  let sim: SimulatorModule;
  try {
    sim = (await import(specifier)) as SimulatorModule;
  } catch (cause) {
    throw new UsageError(
      `The demo needs @retalk/simulator (a dev dependency), which could not be loaded: ${(cause as Error).message}. ` +
        'Run "pnpm install && pnpm build" in the repository first.',
    );
  }
  // The real result: the demo video with the demo voice on it, as long as the provider makes it.
  const server = await sim.createSimulator({ jobMs, resultMode: 'mux' });
  const fixtures = join(dirname(fileURLToPath(import.meta.resolve(`${specifier}/package.json`))), 'fixtures');
  io.stderr.write(`Simulator (${provider}) on ${server.url}, jobs take ~${(jobMs / 1000).toFixed(1)} s\n`);
  try {
    const out = values.out ?? join(tmpdir(), `retalk-demo-${Date.now()}.mp4`);
    const args: RunArgs = {
      provider,
      apiKey: sim.SIMULATOR_API_KEY,
      // One origin serves both protocols; each adapter adds its own path.
      baseUrl: server.url,
      video: server.fixtureUrl('talking-640x640-25fps-3s.mp4'),
      // A local file shows the upload path where the provider's storage takes audio (not EvoLink's).
      audio: acceptsUpload(PROVIDER_CAPABILITIES[provider].upload, 'audio/wav')
        ? join(fixtures, 'speech-4s.wav')
        : server.fixtureUrl('speech-4s.wav'),
      extend: true,
      typicalJobMs: jobMs,
      out,
      json: values.json,
    };
    const task = await runJob(args, io, signal);
    printResult(task, args, io);
    return EXIT_CODES.ok;
  } finally {
    await server.close();
  }
}

function reportError(error: unknown, json: boolean, io: Io): number {
  if (error instanceof UsageError) {
    io.stderr.write(`retalk: ${error.message}\nRun "retalk --help" for usage.\n`);
    return EXIT_CODES.usage;
  }
  if (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
  ) {
    io.stderr.write(`retalk: ${(error as Error).message}\nRun "retalk --help" for usage.\n`);
    return EXIT_CODES.usage;
  }
  if (isRetalkError(error)) {
    const data = 'toJSON' in error && typeof error.toJSON === 'function' ? error.toJSON() : error;
    if (json) io.stdout.write(`${JSON.stringify({ error: data }, null, 2)}\n`);
    io.stderr.write(`\nretalk: ${error.message}\n`);
    return EXIT_CODES[error.code];
  }
  io.stderr.write(
    `\nretalk: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return EXIT_CODES.unexpected;
}

/** Runs the CLI with `argv` (without `node` and the script) and returns the exit status. */
export async function main(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [command, ...rest] = argv;
  const controller = new AbortController();
  // First Ctrl-C aborts cleanly (timers cleared, partial download removed); a second one quits.
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT_CODES.aborted);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      io.stdout.write(HELP);
      return command === undefined ? EXIT_CODES.usage : EXIT_CODES.ok;
    }
    if (command === 'run') return await commandRun(rest, io, controller.signal);
    if (command === 'demo') return await commandDemo(rest, io, controller.signal);
    throw new UsageError(`unknown command "${command}"`);
  } catch (error) {
    return reportError(error, rest.includes('--json'), io);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

process.exitCode = await main(process.argv.slice(2));
