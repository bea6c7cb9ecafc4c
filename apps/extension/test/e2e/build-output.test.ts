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

  it('tests a build that differs from the shipped one only in the background script, by the hook', () => {
    const [chrome] = SHIPPED as [string];
    expect(files(EXTENSION_BUILD)).toEqual(files(chrome));
    const differing = files(chrome).filter(
      (file) => !readFileSync(join(chrome, file)).equals(readFileSync(join(EXTENSION_BUILD, file))),
    );
    expect(differing).toEqual(['background.js']);
    expect(readFileSync(join(EXTENSION_BUILD, 'background.js'), 'utf8')).toContain('__retalkTestHooks');
  });
});
