import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXTENSION_BUILD, EXTENSION_ROOT } from './support/harness.js';

const SHIPPED = ['chrome-mv3', 'firefox-mv2'].map((name) => join(EXTENSION_ROOT, '.output', name));
/** What only a test build may hold: the hook's global and its build flag. */
const TEST_ONLY = ['__retalkTestHooks', 'RETALK_E2E_HOOKS'];

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

describe('the built extension (finding 25)', () => {
  it('ships no test hook in the Chromium or the Firefox build', () => {
    for (const dir of SHIPPED) {
      const found = files(dir).flatMap((file) => {
        const text = readFileSync(join(dir, file), 'latin1');
        return TEST_ONLY.filter((name) => text.includes(name)).map((name) => `${file}: ${name}`);
      });
      expect(found, dir).toEqual([]);
    }
  });

  it('tests builds that differ from the shipped ones only in the background script, by the hook', () => {
    const twins = [EXTENSION_BUILD, join(EXTENSION_ROOT, '.output/firefox-mv2-e2e')];
    for (const [index, shipped] of SHIPPED.entries()) {
      const tested = twins[index]!;
      expect(files(tested), tested).toEqual(files(shipped));
      const differing = files(shipped).filter(
        (file) => !readFileSync(join(shipped, file)).equals(readFileSync(join(tested, file))),
      );
      expect(differing, tested).toEqual(['background.js']);
      expect(readFileSync(join(tested, 'background.js'), 'utf8')).toContain('__retalkTestHooks');
    }
  });
});
