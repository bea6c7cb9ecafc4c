import type { ServerResponse } from 'node:http';
import type { TaskRecord } from './task-engine.js';

/**
 * Applies the next pending `hang` / `reset` / `garbage` fault of a task to a query response.
 * Returns true when the response was taken over by a fault.
 */
export function applyQueryFault(task: TaskRecord, res: ServerResponse): boolean {
  const f = task.faults;
  if (f.hang > 0) {
    f.hang--;
    // Never answer: the client's own timeout (or close()) ends the request.
    return true;
  }
  if (f.reset > 0) {
    f.reset--;
    const body = JSON.stringify({ id: task.id, status: 'processing', padding: 'x'.repeat(256) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.write(body.slice(0, Math.floor(body.length / 2)), () => res.destroy());
    return true;
  }
  if (f.garbage > 0) {
    f.garbage--;
    const text = `{"output":{"task_id":"${task.id}","task_status":`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  }
  return false;
}

/** Pieces a `slow-result` download is sent in, evenly spaced over its time. */
const SLOW_RESULT_PIECES = 50;

/**
 * A `slow-result:<MS>` download: full headers, then the bytes in even pieces over MS milliseconds
 * (a slow CDN). A client that hangs up mid-way (or dies) ends it. Resolves when it is over.
 */
export async function slowResultDownload(
  task: TaskRecord,
  res: ServerResponse,
  bytes: Buffer,
  contentType: string,
): Promise<boolean> {
  const totalMs = task.faults.slowResultMs;
  if (totalMs <= 0) return false;
  res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length });
  const size = Math.ceil(bytes.length / SLOW_RESULT_PIECES);
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const hangUp = () => {
    clearTimeout(timer);
    wake?.();
  };
  res.once('close', hangUp);
  for (let at = 0; at < bytes.length && !res.destroyed; at += size) {
    res.write(bytes.subarray(at, at + size));
    if (at + size >= bytes.length) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, totalMs / SLOW_RESULT_PIECES);
    });
  }
  res.off('close', hangUp);
  if (!res.destroyed) res.end();
  return true;
}

/** A `cut-result` download: full headers, half the bytes, then the connection dies. */
export function cutResultDownload(
  task: TaskRecord,
  res: ServerResponse,
  bytes: Buffer,
  contentType: string,
): boolean {
  if (task.faults.cutResult <= 0) return false;
  task.faults.cutResult--;
  res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length });
  res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.destroy());
  return true;
}
