import { type ChildProcess, fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ProbedMedia, ProviderMediaLimits } from '@retalk/core';
import type { UploadMedia } from '@retalk/core/relay';
import type { ConformTask, ProbeTask, WorkerMessage } from './conform-worker.js';

/** A probe's answer: core's description, the relay's summary of it, and the content type to serve. */
export interface ProbeOutcome {
  probe?: ProbedMedia | undefined;
  media: UploadMedia;
  contentType: string;
}

/** A conform's answer: what changed, the media the provider gets, and that file's size and hash. */
export interface ConformOutcome {
  /** True when nothing had to change: the input file is used as it is and `outputPath` was not written. */
  passthrough: boolean;
  changes: string[];
  media: UploadMedia;
  probe?: ProbedMedia | undefined;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  /** Highest resident memory the child reached, in bytes (0 where /proc is not available). */
  peakRssBytes: number;
}

/** Limits of one kind of task. */
export interface TaskLimits {
  /** Wall-clock limit, in milliseconds; the child is killed past it. */
  timeoutMs: number;
  /** Resident memory limit of the child, in bytes; the child is killed past it. */
  memoryBytes: number;
}

export interface ConformPoolOptions {
  /** Conforms running at once (`RETALK_CONFORM_CONCURRENCY`, default 1). */
  concurrency: number;
  /** Probes running at once, on a lane of their own so an upload never waits behind a transcode. Default 2. */
  probeConcurrency?: number | undefined;
  conformLimits: TaskLimits;
  probeLimits: TaskLimits;
  /** The child's entry module. Default: `conform-worker.js` next to this module. Tests pass their own. */
  workerPath?: string | undefined;
  /** How often the child's memory is read, in milliseconds. Default 100. */
  memoryCheckIntervalMs?: number | undefined;
}

/**
 * Why a task did not produce a result. `code` is stable: core's refusal codes (`clip_too_long`,
 * `undecodable`, `too_many_samples`, …) pass through; the pool adds `conform_timeout`,
 * `conform_out_of_memory`, `conform_crashed` and `canceled`.
 */
export class PoolTaskError extends Error {
  override name = 'PoolTaskError' as const;
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string | undefined,
    readonly allowed?: string | readonly (string | number)[] | undefined,
  ) {
    super(message);
  }
}

export interface ConformRequest {
  inputPath: string;
  outputPath: string;
  kind: 'video' | 'audio' | 'image';
  provider: 'evolink' | 'dashscope';
  /** Limits to meet instead of the provider's (a mixed pool's strictest, pool-media.ts). */
  limits?: ProviderMediaLimits | undefined;
  clip?: { startSec?: number | undefined; endSec?: number | undefined } | undefined;
}

export interface ConformPool {
  /**
   * Probes a stored file in a child process within the probe limits. `urgent` (an upload's probe,
   * with its client waiting) goes ahead of queued background probes (a job's fetched inputs).
   */
  probe(
    filePath: string,
    kind: 'video' | 'audio' | 'image',
    options?: { signal?: AbortSignal | undefined; urgent?: boolean | undefined },
  ): Promise<ProbeOutcome>;
  /** Conforms a stored file in a child process within the conform limits. */
  conform(
    request: ConformRequest,
    options?: { signal?: AbortSignal | undefined; onProgress?: ((fraction: number) => void) | undefined },
  ): Promise<ConformOutcome>;
  stats(): { running: number; waiting: number };
  /**
   * Starts the probe lane's children ahead of need (as many as run at once), so the first uploads
   * neither wait for a process to start nor fork one on the relay's event loop.
   */
  warm(): void;
  /** Kills every child and refuses new tasks. */
  close(): Promise<void>;
}

interface Worker {
  process: ChildProcess;
  heapMb: number;
  tasks: number;
  stderrTail: string;
  idleTimer?: NodeJS.Timeout | undefined;
}

/** An idle child is ended after this long, in milliseconds (its memory goes back to the machine). */
const IDLE_CHILD_MS = 60_000;

/** Tasks one child serves before it is replaced (bounds whatever a long-lived child might accumulate). */
const MAX_TASKS_PER_CHILD = 50;

interface Waiter {
  go: () => void;
  /** A client waits on an open request for it (an upload's probe): served before background work. */
  urgent: boolean;
}

interface Lane {
  limit: number;
  running: number;
  waiting: Waiter[];
}

/**
 * Largest sample count a probe parses: 120 s at 60 fps of video is 7 200 samples, and 120 s of
 * audio in the smallest frames is under 12 000 (H2, M2); originals may be up to ten times longer
 * (a clip of a longer talk), so anything past this is a crafted table, refused before parsing.
 */
export const MAX_PROBE_SAMPLES = 200_000;

/** Niceness of probe and conform children (the relay stays at its own, usually 0). */
const CHILD_NICENESS = 10;

const KILL_MESSAGES = {
  conform_timeout: (kind: string, ms: number) =>
    `Preparing the ${kind} took longer than ${Math.round(ms / 1000)} s, so it was stopped. Use a shorter clip or a smaller file.`,
  conform_out_of_memory: (kind: string, bytes: number) =>
    `Preparing the ${kind} needed more than ${Math.round(bytes / 1048576)} MB of memory, so it was stopped. Use a smaller file or a shorter clip.`,
};

/** Creates the bounded pool of child processes that probe and conform media off the relay's event loop. */
export function createConformPool(options: ConformPoolOptions): ConformPool {
  const workerPath = options.workerPath ?? defaultWorkerPath();
  const lanes = {
    probe: { limit: options.probeConcurrency ?? 2, running: 0, waiting: [] } as Lane,
    conform: { limit: options.concurrency, running: 0, waiting: [] } as Lane,
  };
  const children = new Set<ChildProcess>();
  const idleChildren: Record<'probe' | 'conform', Worker[]> = { probe: [], conform: [] };
  const checkMs = options.memoryCheckIntervalMs ?? 100;
  let closed = false;

  async function acquire(lane: Lane, signal: AbortSignal | undefined, urgent: boolean): Promise<void> {
    if (lane.running < lane.limit) {
      lane.running++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        urgent,
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          lane.running++;
          resolve();
        },
      };
      const onAbort = () => {
        const index = lane.waiting.indexOf(waiter);
        if (index >= 0) lane.waiting.splice(index, 1);
        reject(new PoolTaskError('canceled', 'The work was canceled.'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      lane.waiting.push(waiter);
    });
  }

  function release(lane: Lane): void {
    lane.running--;
    const index = Math.max(
      0,
      lane.waiting.findIndex((w) => w.urgent),
    );
    const [next] = lane.waiting.splice(index, 1);
    next?.go();
  }

  async function run<T>(
    laneName: 'probe' | 'conform',
    task: ProbeTask | ConformTask,
    limits: TaskLimits,
    signal: AbortSignal | undefined,
    onProgress: ((fraction: number) => void) | undefined,
    urgent = false,
  ): Promise<{ value: T; peakRssBytes: number }> {
    if (closed) throw new PoolTaskError('canceled', 'The relay is stopping.');
    if (signal?.aborted) throw new PoolTaskError('canceled', 'The work was canceled.');
    const lane = lanes[laneName];
    await acquire(lane, signal, urgent);
    try {
      return await runChild<T>(laneName, task, limits, signal, onProgress);
    } finally {
      release(lane);
    }
  }

  /** A warm child of the lane, or a new one. Children serve one task at a time and are reused. */
  function takeChild(laneName: 'probe' | 'conform', heapMb: number): Worker {
    const idle = idleChildren[laneName];
    while (idle.length > 0) {
      const worker = idle.pop() as Worker;
      clearTimeout(worker.idleTimer);
      if (worker.process.exitCode === null && worker.process.signalCode === null && worker.heapMb === heapMb)
        return worker;
      worker.process.kill('SIGKILL');
    }
    return startChild(laneName, heapMb);
  }

  function startChild(laneName: 'probe' | 'conform', heapMb: number): Worker {
    const idle = idleChildren[laneName];
    // The V8 heap gets its own ceiling; native memory (codecs) is watched through /proc.
    const child = fork(workerPath, [], {
      execArgv: [`--max-old-space-size=${heapMb}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    // Below the relay's own priority: on a small machine the event loop (status reads, SSE,
    // uploads) wins the cores and a transcode or a hostile probe takes what is left.
    if (child.pid !== undefined) {
      try {
        os.setPriority(child.pid, CHILD_NICENESS);
      } catch {
        // Not permitted here (some containers): the child runs at the relay's priority.
      }
    }
    const worker: Worker = { process: child, heapMb, tasks: 0, stderrTail: '' };
    children.add(child);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      worker.stderrTail = (worker.stderrTail + text).slice(-2048);
    });
    child.on('error', () => undefined);
    child.on('exit', () => {
      children.delete(child);
      const index = idle.indexOf(worker);
      if (index >= 0) idle.splice(index, 1);
    });
    // An idle child never keeps the relay's process alive.
    child.unref();
    child.channel?.unref();
    return worker;
  }

  /** Keeps a child for the lane's next task; it is ended after IDLE_CHILD_MS unused. */
  function park(laneName: 'probe' | 'conform', worker: Worker): void {
    worker.idleTimer = setTimeout(() => worker.process.kill('SIGKILL'), IDLE_CHILD_MS);
    worker.idleTimer.unref();
    idleChildren[laneName].push(worker);
  }

  function retireIdle(laneName: 'probe' | 'conform', worker: Worker): void {
    const idle = idleChildren[laneName];
    const index = idle.indexOf(worker);
    if (index < 0) return;
    idle.splice(index, 1);
    clearTimeout(worker.idleTimer);
    worker.process.kill('SIGKILL');
  }

  function runChild<T>(
    laneName: 'probe' | 'conform',
    task: ProbeTask | ConformTask,
    limits: TaskLimits,
    signal: AbortSignal | undefined,
    onProgress: ((fraction: number) => void) | undefined,
  ): Promise<{ value: T; peakRssBytes: number }> {
    const worker = takeChild(laneName, heapMbOf(limits));
    const child = worker.process;
    child.channel?.ref();
    return new Promise((resolve, reject) => {
      let settled = false;
      let killedFor: PoolTaskError | undefined;
      let peakRssBytes = 0;
      let lastRssBytes = 0;

      const cleanup = () => {
        settled = true;
        clearTimeout(timer);
        clearInterval(watch);
        signal?.removeEventListener('abort', onAbort);
        child.off('message', onMessage);
        child.off('close', onClose);
        child.channel?.unref();
      };
      const kill = (reason: PoolTaskError) => {
        killedFor ??= reason;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(
        () =>
          kill(
            new PoolTaskError('conform_timeout', KILL_MESSAGES.conform_timeout(task.kind, limits.timeoutMs)),
          ),
        limits.timeoutMs,
      );
      const watch = setInterval(() => {
        if (child.pid === undefined) return;
        readRssBytes(child.pid).then(
          (rss) => {
            if (rss === undefined || settled) return;
            lastRssBytes = rss;
            peakRssBytes = Math.max(peakRssBytes, rss);
            if (rss > limits.memoryBytes) {
              kill(
                new PoolTaskError(
                  'conform_out_of_memory',
                  KILL_MESSAGES.conform_out_of_memory(task.kind, limits.memoryBytes),
                ),
              );
            }
          },
          () => undefined,
        );
      }, checkMs);
      const onAbort = () => kill(new PoolTaskError('canceled', 'The work was canceled.'));
      signal?.addEventListener('abort', onAbort, { once: true });

      const done = (outcome: () => void) => {
        cleanup();
        worker.tasks++;
        // The child goes back to the idle list before the lane is released, so a task waiting for
        // the lane takes it instead of forking a new one: a fork copies the relay's page tables on
        // its event loop (25–50 ms measured under load), once per queued upload before this.
        const idle = idleChildren[laneName];
        if (
          closed ||
          worker.tasks >= MAX_TASKS_PER_CHILD ||
          lastRssBytes > limits.memoryBytes / 2 ||
          idle.length >= lanes[laneName].limit
        ) {
          child.kill('SIGKILL');
        } else {
          park(laneName, worker);
          // A child that grew large since its last reading is retired once that is known, if no
          // task took it meanwhile (a task that did is watched against the full limit anyway).
          readRssBytes(child.pid ?? -1)
            .catch(() => undefined)
            .then((rss) => {
              if ((rss ?? 0) > limits.memoryBytes / 2) retireIdle(laneName, worker);
            });
        }
        outcome();
      };
      const onMessage = (message: WorkerMessage) => {
        if (settled || killedFor) return;
        if (message.type === 'progress') onProgress?.(Math.min(1, Math.max(0, message.fraction)));
        else if (message.type === 'result') done(() => resolve({ value: message.value as T, peakRssBytes }));
        else if (message.type === 'error') {
          const error = new PoolTaskError(message.code, message.message, message.field, message.allowed);
          done(() => reject(error));
        }
      };
      // 'close' comes after the IPC channel drained, so a message sent just before exiting is never lost.
      const onClose = (code: number | null, exitSignal: NodeJS.Signals | null) => {
        if (settled) return;
        cleanup();
        if (killedFor) return reject(killedFor);
        if (/heap out of memory|Allocation failed/i.test(worker.stderrTail)) {
          return reject(
            new PoolTaskError(
              'conform_out_of_memory',
              KILL_MESSAGES.conform_out_of_memory(task.kind, limits.memoryBytes),
            ),
          );
        }
        reject(
          new PoolTaskError(
            'conform_crashed',
            `Preparing the ${task.kind} stopped unexpectedly (${exitSignal ?? `exit ${code}`}). Try again; if it keeps failing, convert the file to MP4 or WAV first.`,
          ),
        );
      };
      child.on('message', onMessage);
      child.on('close', onClose);
      child.send(task);
    });
  }

  return {
    async probe(filePath, kind, opts = {}) {
      const task: ProbeTask = { op: 'probe', path: filePath, kind, maxSamples: MAX_PROBE_SAMPLES };
      const { value } = await run<ProbeOutcome>(
        'probe',
        task,
        options.probeLimits,
        opts.signal,
        undefined,
        opts.urgent ?? false,
      );
      return value;
    },
    async conform(request, opts = {}) {
      const task: ConformTask = { op: 'conform', ...request, maxSamples: MAX_PROBE_SAMPLES };
      const { value, peakRssBytes } = await run<Omit<ConformOutcome, 'peakRssBytes'>>(
        'conform',
        task,
        options.conformLimits,
        opts.signal,
        opts.onProgress,
      );
      return { ...value, peakRssBytes };
    },
    warm() {
      // As many children as the probe lane runs at once: a burst of uploads then forks none.
      const lane = lanes.probe;
      while (!closed && idleChildren.probe.length + lane.running < lane.limit) {
        park('probe', startChild('probe', heapMbOf(options.probeLimits)));
      }
    },
    stats: () => ({
      running: lanes.probe.running + lanes.conform.running,
      waiting: lanes.probe.waiting.length + lanes.conform.waiting.length,
    }),
    async close() {
      closed = true;
      const exits = [...children].map(
        (child) => new Promise<void>((resolve) => child.once('exit', () => resolve())),
      );
      for (const child of children) child.kill('SIGKILL');
      await Promise.all(exits);
    },
  };
}

/** The V8 heap ceiling of a child: half its memory limit (native codec memory takes the rest). */
function heapMbOf(limits: TaskLimits): number {
  return Math.max(64, Math.floor(limits.memoryBytes / 1048576 / 2));
}

/** The built worker next to this module; from the sources (tests run them), the built one in dist/. */
function defaultWorkerPath(): string {
  const here = import.meta.dirname;
  return import.meta.filename.endsWith('.ts')
    ? path.join(here, '../dist/conform-worker.js')
    : path.join(here, 'conform-worker.js');
}

/** Resident set size of a process, in bytes, from /proc (Linux); undefined elsewhere or once it exited. */
async function readRssBytes(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}
