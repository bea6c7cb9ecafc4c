import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RetalkError } from '../src/errors.js';

/** The simulator package's media fixtures (see packages/simulator/fixtures/README.md). */
export const FIXTURES = join(
  dirname(createRequire(import.meta.url).resolve('@retalk/simulator/package.json')),
  'fixtures',
);
/** Inside every provider limit. */
export const VIDEO = 'talking-640x640-25fps-3s.mp4';
export const AUDIO = 'speech-4s.wav';

/** The error a promise rejects with; fails the test when it resolves. */
export async function caught(p: Promise<unknown>): Promise<RetalkError> {
  try {
    await p;
  } catch (e) {
    return e as RetalkError;
  }
  throw new Error('expected a rejection');
}
