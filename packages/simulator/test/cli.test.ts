import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli-run.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

describe('retalk-sim CLI', () => {
  it('starts the simulator and prints both base URLs and the key', async () => {
    const { io, out } = capture();
    const sim = await runCli(['--port', '0', '--job-ms', '500', '--quiet'], io);
    if (typeof sim === 'number') throw new Error(`exited with ${sim}`);
    try {
      const text = out.join('');
      expect(text).toContain(`EvoLink base URL:    ${sim.url}`);
      expect(text).toContain(`DashScope base URL:  ${sim.url}/api/v1`);
      expect(text).toContain('API key:             sim-key');
      expect(text).toContain('One task takes 500 ms');
      const res = await fetch(`${sim.url}/`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    } finally {
      await sim.close();
    }
  });

  it('logs one line per request unless --quiet', async () => {
    const { io, out } = capture();
    const sim = await runCli(['--port', '0'], io);
    if (typeof sim === 'number') throw new Error(`exited with ${sim}`);
    try {
      await (
        await fetch(`${sim.url}/v1/tasks/x`, { headers: { authorization: 'Bearer sim-key' } })
      ).arrayBuffer();
      await new Promise((r) => setTimeout(r, 20));
      expect(out.join('')).toMatch(/GET \/v1\/tasks\/x 400 \d+ms/);
      expect(out.join('')).not.toContain('Bearer');
    } finally {
      await sim.close();
    }
  });

  it('exits with 2 and the usage on a bad argument', async () => {
    for (const args of [['--port', 'abc'], ['--job-ms', '-1'], ['--result', 'copy'], ['--bogus']]) {
      const { io, err } = capture();
      expect(await runCli(args, io)).toBe(2);
      expect(err.join('')).toContain('Usage: retalk-sim');
    }
    const { io, out } = capture();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(out.join('')).toContain('--job-ms N');
  });
});
