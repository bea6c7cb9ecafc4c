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
