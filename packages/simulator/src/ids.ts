import { randomBytes, randomUUID } from 'node:crypto';

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function randomAlnum(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += LOWER_ALNUM[b % LOWER_ALNUM.length];
  return out;
}

/** EvoLink task id: `task-unified-<unix seconds>-<8 lowercase alphanumerics>`. */
export function evolinkTaskId(nowMs: number): string {
  return `task-unified-${Math.floor(nowMs / 1000)}-${randomAlnum(8)}`;
}

export const EVOLINK_TASK_ID_PREFIX = 'task-unified-';

export function uuid(): string {
  return randomUUID();
}

export function evolinkFileId(): string {
  return `file_${randomAlnum(12)}`;
}
