// The child process of the conform pool (conform-pool.ts): it receives one task at a time over
// IPC and runs it with core's executor, the same code the CLI runs (`@retalk/core/media/node`).
// Hostile media can only hurt this process, which the pool kills at its limits.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { ClipRange, ProbedMedia, ProviderMediaLimits } from '@retalk/core';
import { conformFile, probeFile } from '@retalk/core/media/node';
import { decodeImage, IMAGE_FORMATS } from './image-decode.js';
import { contentTypeOf, toUploadMedia } from './media-summary.js';

export interface ProbeTask {
  op: 'probe';
  path: string;
  kind: 'video' | 'audio' | 'image';
  maxSamples: number;
}

export interface ConformTask {
  op: 'conform';
  inputPath: string;
  outputPath: string;
  kind: 'video' | 'audio' | 'image';
  provider: 'evolink' | 'dashscope';
  limits?: ProviderMediaLimits | undefined;
  clip?: ClipRange | undefined;
  maxSamples: number;
}

export type WorkerMessage =
  | { type: 'progress'; fraction: number }
  | { type: 'result'; value: unknown }
  | {
      type: 'error';
      code: string;
      message: string;
      field?: string | undefined;
      allowed?: string | (string | number)[] | undefined;
    };

/** Progress messages sent per conform at most, so IPC stays cheap next to the transcode. */
const PROGRESS_STEPS = 100;

function sha256File(filePath: string): Promise<{ sha256: string; sizeBytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    createReadStream(filePath)
      .on('data', (chunk) => {
        hash.update(chunk);
        sizeBytes += chunk.length;
      })
      .on('error', reject)
      .on('end', () => resolve({ sha256: hash.digest('hex'), sizeBytes }));
  });
}

function summary(probe: ProbedMedia) {
  return { probe, media: toUploadMedia(probe), contentType: contentTypeOf(probe) };
}

async function probeTask(task: ProbeTask) {
  if (task.kind === 'image') {
    // Decoded whole, not sniffed (findings L13): a header followed by anything else is refused.
    const image = await decodeImage(task.path);
    if ('message' in image) {
      throw Object.assign(new Error(image.message), { code: 'image_invalid', allowed: [...IMAGE_FORMATS] });
    }
  }
  return summary(await probeFile(task.path, task.kind, { maxSamples: task.maxSamples }));
}

async function runTask(task: ProbeTask | ConformTask): Promise<unknown> {
  if (task.op === 'probe') return probeTask(task);
  let sent = -1;
  // The relay sends only files its plan must change; conformFile plans again from its own probe.
  const result = await conformFile(task.inputPath, task.outputPath, task.kind, {
    provider: task.provider,
    limits: task.limits,
    clip: task.clip,
    maxSamples: task.maxSamples,
    onProgress: (fraction) => {
      const step = Math.floor(fraction * PROGRESS_STEPS);
      if (step <= sent) return;
      sent = step;
      void send({ type: 'progress', fraction });
    },
  });
  return {
    passthrough: result.passthrough,
    changes: result.plan.changes,
    ...summary(result.output),
    ...(await sha256File(task.outputPath)),
  };
}

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, () => resolve());
  });
}

// A child whose relay died (SIGKILL) has no one to answer: it ends with its channel.
process.on('disconnect', () => process.exit(0));

// The pool sends one task at a time and reuses the process for the next one.
process.on('message', (task: ProbeTask | ConformTask) => {
  runTask(task).then(
    async (value) => {
      await send({ type: 'result', value });
    },
    async (error: unknown) => {
      // ConformError carries the refusal (clip_too_long, undecodable, …) in `reason`.
      const e = error as {
        code?: unknown;
        reason?: unknown;
        message?: unknown;
        field?: unknown;
        allowed?: unknown;
      };
      await send({
        type: 'error',
        code: typeof e.reason === 'string' ? e.reason : typeof e.code === 'string' ? e.code : 'undecodable',
        message: typeof e.message === 'string' ? e.message : String(error),
        ...(typeof e.field === 'string' ? { field: e.field } : {}),
        ...(typeof e.allowed === 'string' || Array.isArray(e.allowed)
          ? { allowed: e.allowed as string | (string | number)[] }
          : {}),
      });
    },
  );
});
