import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { serveRelay } from '../src/serve.js';
import { type Harness, seen, startRelay, tempDir } from './harness.js';

/** Starts the relay in simulator mode as `retalk-relay serve` does; returns what it printed. */
async function serveSimulator(
  dataDir: string,
): Promise<{ printed: string[]; demoToken: string | undefined }> {
  const printed: string[] = [];
  const running = await serveRelay(loadConfig({ RETALK_DATA_DIR: dataDir, PORT: '0' }, process.cwd()), {
    print: (line) => printed.push(line),
    logStream: new Writable({ write: (_c, _e, cb) => cb() }),
  });
  await running.close();
  return { printed, demoToken: running.demoToken };
}

describe('the simulator demo member (findings M6, L12)', () => {
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
  });

  it('prints its token only when it is created, and keeps it in demo-token.txt for the owner only', async () => {
    const dataDir = tempDir();
    const first = await serveSimulator(dataDir);
    const second = await serveSimulator(dataDir);
    const file = path.join(dataDir, 'demo-token.txt');
    expect(first.demoToken).toMatch(/^rtk_/);
    expect(first.printed.join('\n')).toContain(first.demoToken);
    expect(second.printed.join('\n')).not.toMatch(/rtk_/);
    expect(second.printed.join('\n')).toContain(file);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(first.demoToken);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('is revoked, with a log line, when the same data directory is started against a real provider', async () => {
    const dataDir = tempDir();
    const { demoToken } = await serveSimulator(dataDir);
    h = await startRelay({ provider: 'evolink', dataDir });
    const me = await h.api('GET', '/v1/me', { token: demoToken as string });
    expect(me.status).toBe(401);
    expect(me.json.error.message).toContain('revoked');
    expect(
      seen.logLines.some((l) => l.includes("simulator's demo member (unlimited budget) was revoked")),
    ).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'demo-token.txt'))).toBe(false);
    // Members the admin created keep working.
    expect((await h.api('GET', '/v1/me')).status).toBe(200);
  });
});
