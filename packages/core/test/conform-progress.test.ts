import { describe, expect, it } from 'vitest';
import { createConformProgress } from '../src/conform-progress.js';

function stream(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, isTTY, write: (text: string) => chunks.push(text) };
}

describe('createConformProgress', () => {
  it('rewrites one line on a terminal, once per percent, and ends it once', () => {
    const out = stream(true);
    const progress = createConformProgress(out, 'talk.webm');
    for (const f of [0, 0.001, 0.5, 0.504, 1]) progress.update(f);
    progress.done();
    progress.done();
    expect(out.chunks).toEqual([
      '\r\x1b[2K  converting talk.webm [....................]   0%',
      '\r\x1b[2K  converting talk.webm [##########..........]  50%',
      '\r\x1b[2K  converting talk.webm [####################] 100%',
      '\n',
    ]);
  });

  it('prints plain lines, one per quarter, when the output is not a terminal', () => {
    const out = stream(false);
    const progress = createConformProgress(out, 'voice.m4a');
    for (let i = 0; i <= 20; i++) progress.update(i / 20);
    progress.update(1);
    progress.done();
    expect(out.chunks.map((c) => c.trim().split('] ')[1]?.trim())).toEqual([
      '0%',
      '25%',
      '50%',
      '75%',
      '100%',
    ]);
    expect(out.chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true);
  });
});
