import { afterAll, afterEach, expect } from 'vitest';
import { PROVIDER_KEY, seen } from './harness.js';
import { dropTestDatabases } from './pg.js';

// The provider key must never appear in a response or a log line. Checked after every test (and
// after each file's own afterAll, which closes relays and logs as it goes) over what appeared
// since the last check, so a leak fails the test that caused it, whatever runs alone or in which
// order.
const checked = { responses: 0, logLines: 0 };

function expectNoKeyLeak(): void {
  const fresh = [...seen.responses.slice(checked.responses), ...seen.logLines.slice(checked.logLines)];
  checked.responses = seen.responses.length;
  checked.logLines = seen.logLines.length;
  expect(
    fresh.filter((s) => s.includes(PROVIDER_KEY)),
    'the provider key appeared in a response or a log line',
  ).toEqual([]);
}

afterEach(expectNoKeyLeak);
afterAll(expectNoKeyLeak);

// Registered first, so it runs last: the file's relays are closed by then.
afterAll(dropTestDatabases);
