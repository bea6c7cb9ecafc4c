import { afterAll, afterEach, expect } from 'vitest';
import { SECRET_KEYS, seen } from './harness.js';
import { dropTestDatabases } from './pg.js';

// No provider key (SECRET_KEYS: the default one and every pool key) may appear in a response or a
// log line. Checked after every test (and after each file's own afterAll, which closes relays and
// logs as it goes) over what appeared since the last check, so a leak fails the test that caused
// it, whatever runs alone or in which order.
const checked = { responses: 0, logLines: 0 };

function expectNoKeyLeak(): void {
  const fresh = [...seen.responses.slice(checked.responses), ...seen.logLines.slice(checked.logLines)];
  checked.responses = seen.responses.length;
  checked.logLines = seen.logLines.length;
  expect(
    fresh.filter((s) => [...SECRET_KEYS].some((key) => s.includes(key))),
    'the provider key appeared in a response or a log line',
  ).toEqual([]);
}

afterEach(expectNoKeyLeak);
afterAll(expectNoKeyLeak);

// Registered first, so it runs last: the file's relays are closed by then.
afterAll(dropTestDatabases);
